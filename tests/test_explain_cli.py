"""``gbinfer explain``: the values it writes equal ``Model.predict_contribs`` / ``predict_interactions``
bit for bit and xgboost's (lightgbm's) own ``pred_contribs`` on models trained here, in every output
format and layout; the summary plot is a PNG of the promised size; refusals are one line, exit code 2."""

import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import gbinfer
from gbinfer import explain, plot
from gbinfer.data import DataMatrix
from test_cli import EXAMPLES, MODEL, NAMES, refused, run, write_csv
from test_shap import _close

xgb = pytest.importorskip("xgboost")
pytest.importorskip("matplotlib")

DATA = EXAMPLES / "data.csv"


@pytest.fixture(scope="module")
def example():
    X = np.genfromtxt(DATA, delimiter=",", skip_header=1, dtype=np.float32, filling_values=np.nan)
    return X, gbinfer.load(MODEL)


@pytest.fixture(scope="module")
def fresh(tmp_path_factory):
    """A small binary model and a 3-class one trained here, saved as XGBoost JSON, and their rows as .npy."""
    d = tmp_path_factory.mktemp("explain")
    rng = np.random.default_rng(5)
    X = rng.normal(size=(120, 5)).astype(np.float32)
    X[rng.random(X.shape) < 0.1] = np.nan
    Z = np.nan_to_num(X)
    binary = xgb.train({"objective": "binary:logistic", "max_depth": 4, "nthread": 1, "seed": 0},
                       xgb.DMatrix(X, Z[:, 0] + Z[:, 1] * Z[:, 2] > 0), 6)
    multi = xgb.train({"objective": "multi:softprob", "num_class": 3, "max_depth": 3, "nthread": 1, "seed": 0},
                      xgb.DMatrix(X, np.digitize(Z[:, 0] - Z[:, 3], [-0.5, 0.5])), 4)
    binary.save_model(d / "binary.json")
    multi.save_model(d / "multi.json")
    np.save(d / "X.npy", X)
    return d, X, binary, multi


def png_size(path):
    """(width, height) from a PNG's IHDR chunk, after checking the signature."""
    head = Path(path).read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n" and head[12:16] == b"IHDR"
    return struct.unpack(">II", head[16:24])


def expected_size(shown, panels):
    w, h = plot.figure_inches(shown, panels)
    return round(w * plot.DPI), round(h * plot.DPI)


def read_csv(path):
    with open(path) as fh:
        header = fh.readline().rstrip("\n").split(",")
    return header, np.loadtxt(path, delimiter=",", skiprows=1, dtype=np.float64, ndmin=2)


# --- the values ------------------------------------------------------------------------------------

def test_example_npy_csv_and_stdout_equal_predict_contribs(tmp_path, example, capsys):
    X, m = example
    phi = m.predict_contribs(DataMatrix(X))
    assert run(["explain", MODEL, DATA, "-o", tmp_path / "s.npy"], capsys)[0] == 0
    got = np.load(tmp_path / "s.npy")
    assert got.dtype == phi.dtype == np.float32 and np.array_equal(got, phi)
    assert run(["explain", MODEL, DATA, "-o", tmp_path / "s.csv"], capsys)[0] == 0
    header, values = read_csv(tmp_path / "s.csv")
    assert header == NAMES + ["bias"]
    assert np.array_equal(values.astype(np.float32), phi)  # %.9g reads back to the same float32
    code, out, _ = run(["explain", MODEL, DATA], capsys)  # no -o: the same CSV on standard output
    assert code == 0 and out == (tmp_path / "s.csv").read_text()


def test_fresh_model_against_xgboost(fresh, capsys):
    d, X, binary, _ = fresh
    m = gbinfer.load(d / "binary.json")
    dm = xgb.DMatrix(X)
    out = d / "b.csv"
    assert run(["explain", d / "binary.json", d / "X.npy", "-o", out], capsys)[0] == 0
    header, values = read_csv(out)
    assert header == [f"f{i}" for i in range(5)] + ["bias"]
    assert np.array_equal(values.astype(np.float32), m.predict_contribs(X))
    _close(values, binary.predict(dm, pred_contribs=True), "explain contribs")

    assert run(["explain", d / "binary.json", d / "X.npy", "-o", d / "a.npy", "--approximate",
                "--iteration-range", "0", "4"], capsys)[0] == 0
    approx = np.load(d / "a.npy")
    assert np.array_equal(approx, m.predict_contribs(X, approximate=True, iteration_range=(0, 4)))
    _close(approx, binary.predict(dm, pred_contribs=True, approx_contribs=True, iteration_range=(0, 4)),
           "explain approx_contribs")

    assert run(["explain", d / "binary.json", d / "X.npy", "-o", d / "i.npy", "--interactions"], capsys)[0] == 0
    inter = np.load(d / "i.npy")
    assert np.array_equal(inter, m.predict_interactions(X))
    _close(inter, binary.predict(dm, pred_interactions=True), "explain interactions")


def test_multi_output_layout(fresh, capsys):
    d, X, _, multi = fresh
    m = gbinfer.load(d / "multi.json")
    phi = m.predict_contribs(X)
    assert phi.shape == (120, 3, 6)
    assert run(["explain", d / "multi.json", d / "X.npy", "-o", d / "m.csv"], capsys)[0] == 0
    header, values = read_csv(d / "m.csv")
    assert header[:7] == ["f0[0]", "f1[0]", "f2[0]", "f3[0]", "f4[0]", "bias[0]", "f0[1]"] and len(header) == 18
    assert np.array_equal(values.astype(np.float32), phi.reshape(120, -1))
    _close(values.reshape(120, 3, 6), multi.predict(xgb.DMatrix(X), pred_contribs=True), "explain multiclass")
    assert run(["explain", d / "multi.json", d / "X.npy", "-o", d / "m.parquet", "--interactions"], capsys)[0] == 0
    import pyarrow.parquet as pq

    table = pq.read_table(d / "m.parquet")
    assert table.column_names == explain.columns([f"f{i}" for i in range(5)], 3, True)
    assert table.column_names[:2] == ["f0:f0[0]", "f0:f1[0]"] and table.column_names[-1] == "bias:bias[2]"
    got = np.column_stack([table.column(c).to_numpy() for c in table.column_names])
    assert np.array_equal(got, m.predict_interactions(X).reshape(120, -1))


def test_lightgbm_float64_csv_round_trips_exactly(tmp_path, capsys):
    lgb = pytest.importorskip("lightgbm")
    rng = np.random.default_rng(3)
    X = rng.normal(size=(150, 4)).astype(np.float32).astype(np.float64)
    booster = lgb.train({"objective": "regression", "verbose": -1, "num_leaves": 7, "num_threads": 1, "seed": 1},
                        lgb.Dataset(X, X[:, 0] * 2 + X[:, 1] ** 2), 8)
    booster.save_model(tmp_path / "lgb.txt")
    np.save(tmp_path / "X.npy", X)
    assert run(["explain", tmp_path / "lgb.txt", tmp_path / "X.npy", "-o", tmp_path / "s.csv"], capsys)[0] == 0
    _, values = read_csv(tmp_path / "s.csv")
    phi = gbinfer.load(tmp_path / "lgb.txt").predict_contribs(DataMatrix(X))
    assert phi.dtype == np.float64 and np.array_equal(values, phi)  # %.17g: every bit back
    assert np.array_equal(values, booster.predict(X, pred_contrib=True))
    refused(["explain", tmp_path / "lgb.txt", tmp_path / "X.npy", "--approximate"], capsys, "approximate")


def test_subprocess(tmp_path, example):
    X, m = example
    done = subprocess.run([sys.executable, "-m", "gbinfer", "explain", MODEL, DATA, "-o", tmp_path / "s.npy",
                           "--plot", tmp_path / "s.png"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert np.array_equal(np.load(tmp_path / "s.npy"), m.predict_contribs(DataMatrix(X)))
    assert png_size(tmp_path / "s.png") == expected_size(20, 1)


# --- the plot ---------------------------------------------------------------------------------------

def test_plot_sizes_and_panels(fresh, capsys):
    from matplotlib.image import imread

    d, X, _, _ = fresh
    out = d / "p.png"
    assert run(["explain", d / "multi.json", d / "X.npy", "--plot", out, "--max-display", "3"], capsys) == (0, "", "")
    assert png_size(out) == expected_size(3, 3)  # a panel per output, only the plot written
    assert imread(out).shape[:2] == expected_size(3, 3)[::-1]  # and it decodes
    assert run(["explain", d / "multi.json", d / "X.npy", "--plot", out, "--plot-output", "2",
                "--plot-rows", "40", "-o", d / "p.npy"], capsys)[0] == 0
    assert png_size(out) == expected_size(5, 1)
    assert np.load(d / "p.npy").shape == (120, 3, 6)  # the sample is the plot's alone
    for suffix, magic in ((".svg", b"<?xml"), (".pdf", b"%PDF-")):
        assert run(["explain", d / "binary.json", d / "X.npy", "--plot", d / f"p{suffix}"], capsys)[0] == 0
        assert (d / f"p{suffix}").read_bytes().startswith(magic)


def test_plot_of_categorical_and_missing_values(tmp_path, capsys):
    pd = pytest.importorskip("pandas")
    rng = np.random.default_rng(9)
    frame = pd.DataFrame({"x": rng.normal(size=200).astype(np.float32),
                          "colour": pd.Categorical(rng.choice(["red", "green", "blue"], 200))})
    frame.loc[rng.random(200) < 0.1, "x"] = np.nan
    y = (frame["colour"] == "red") ^ (frame["x"].fillna(0) > 0)
    bst = xgb.train({"objective": "binary:logistic", "max_depth": 3, "nthread": 1, "tree_method": "hist"},
                    xgb.DMatrix(frame, y, enable_categorical=True), 5)
    bst.save_model(tmp_path / "cat.json")
    frame.to_csv(tmp_path / "rows.csv", index=False)
    out = tmp_path / "cat.png"
    assert run(["explain", tmp_path / "cat.json", tmp_path / "rows.csv", "-o", tmp_path / "c.npy", "--plot", out],
               capsys)[0] == 0
    m = gbinfer.load(tmp_path / "cat.json")
    assert np.array_equal(np.load(tmp_path / "c.npy"), m.predict_contribs(frame))
    assert png_size(out) == expected_size(2, 1)
    # the category column arrives as strings: flagged categorical, not coloured as an order
    summary = explain.Summary(m, 50)
    as_read = DataMatrix({"x": frame["x"].to_numpy(), "colour": frame["colour"].astype(str).to_numpy(dtype=object)})
    summary.add(m.predict_contribs(as_read), as_read)
    assert summary.categorical.tolist() == [False, True]


def test_point_colours():
    from matplotlib.colors import LinearSegmentedColormap, to_rgba

    cmap = LinearSegmentedColormap.from_list("t", [plot.LOW, plot.HIGH])
    x = np.array([np.nan, *np.linspace(-1.0, 1.0, 99), 50.0])  # an outlier does not stretch the scale
    colours = plot.point_colours(x, False, cmap)
    assert tuple(colours[0]) == to_rgba(plot.MISSING)
    assert tuple(colours[1]) == cmap(0.0) and tuple(colours[-1]) == cmap(1.0) == tuple(colours[-2])
    cat = plot.point_colours(np.array([1.0, np.nan, 0.0]), True, cmap)
    assert [tuple(c) for c in cat] == [to_rgba(plot.CATEGORY), to_rgba(plot.MISSING), to_rgba(plot.CATEGORY)]
    assert np.all(plot.point_colours(np.full(4, 2.0), False, cmap) == cmap(0.5))


def test_summary_samples_uniformly_whatever_the_chunks(example):
    X, m = example
    phi = m.predict_contribs(X)
    whole, parts = explain.Summary(m, 50), explain.Summary(m, 50)
    whole.add(phi, DataMatrix(X))
    for a, b in ((0, 70), (70, 71), (71, 200)):
        parts.add(phi[a:b], DataMatrix(X[a:b]))
    assert whole.rows == parts.rows == 200 and len(whole.shap) == 50
    assert np.array_equal(whole.shap, parts.shap) and np.array_equal(whole.values, parts.values, equal_nan=True)
    kept, every = whole.values[:, None], X[None]
    same = np.all((kept == every) | (np.isnan(kept) & np.isnan(every)), axis=2)  # (sampled, rows)
    assert np.all(same.sum(axis=1) == 1)
    assert np.array_equal(whole.shap[:, 0], phi[same.argmax(axis=1), :20])  # each row with its own SHAP values
    assert np.allclose(parts.importance[0], np.abs(phi[:, :20].astype(np.float64)).mean(axis=0), rtol=1e-12)


# --- refusals ---------------------------------------------------------------------------------------

def test_refusals(tmp_path, fresh, capsys, monkeypatch):
    d, _, _, _ = fresh
    model, rows, out = d / "binary.json", d / "X.npy", tmp_path / "o.npy"
    refused(["explain", model, rows, "-o", out, "--plot", tmp_path / "p.jpg"], capsys,
            "--plot", "p.jpg", "unknown plot format '.jpg'", ".png")
    refused(["explain", model, rows, "-o", out, "--max-display", "5"], capsys, "--max-display applies to the plot")
    refused(["explain", model, rows, "--plot", tmp_path / "p.png", "--max-display", "0"], capsys,
            "--max-display 0: expected a count of at least 1")
    refused(["explain", model, rows, "--plot", tmp_path / "p.png", "--plot-output", "1"], capsys,
            "--plot-output 1: the model has a single output, 0")
    refused(["explain", model, rows, "-o", tmp_path / "o.txt"], capsys, "unknown output format '.txt'")
    refused(["explain", model, tmp_path / "absent.npy", "-o", out], capsys, "absent.npy")
    refused(["explain", model, rows, "--iteration-range", "0", "99"], capsys, "iteration_range")
    empty = write_csv(tmp_path / "empty.csv", np.empty((0, 20), np.float32), NAMES)
    refused(["explain", MODEL, empty, "--plot", tmp_path / "p.png"], capsys, "empty.csv has no rows")
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # as if it were not installed
    refused(["explain", model, rows, "-o", out, "--plot", tmp_path / "p.png"], capsys,
            "needs the 'matplotlib' package: pip install 'gbinfer[plot]'")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["empty.csv"]  # nothing written, nothing left behind
