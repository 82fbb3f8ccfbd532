"""The ``gbinfer`` command on the bundled example: every input and output format, and inspect."""

from pathlib import Path

import numpy as np
import pytest

from gbinfer.cli import main

EXAMPLES = Path(__file__).parent.parent / "examples"


@pytest.fixture(scope="module")
def example():
    import gbinfer

    model = gbinfer.load(EXAMPLES / "model.ubj")
    X = np.genfromtxt(EXAMPLES / "data.csv", delimiter=",", skip_header=1, dtype=np.float32, filling_values=np.nan)
    return model, X, np.load(EXAMPLES / "expected.npy")


def test_bundled_example_matches_xgboost(example):
    model, X, expected = example
    assert np.array_equal(model.predict(X), expected)


def test_predict_csv_with_header_to_csv(tmp_path, example):
    out = tmp_path / "p.csv"
    assert main(["predict", str(EXAMPLES / "model.ubj"), str(EXAMPLES / "data.csv"), "-o", str(out)]) == 0
    assert np.array_equal(np.loadtxt(out, dtype=np.float32), example[2])


def test_predict_csv_without_header_npy_and_libsvm(tmp_path, example):
    model, X, expected = example
    plain = tmp_path / "plain.csv"
    plain.write_text("\n".join(",".join("" if np.isnan(v) else repr(float(v)) for v in row) for row in X))
    npy = tmp_path / "x.npy"
    np.save(npy, X)
    svm = tmp_path / "x.libsvm"
    svm.write_text("\n".join("0 " + " ".join(f"{j}:{v!r}" for j, v in enumerate(row.tolist()) if v == v)
                             for row in X))
    svm1 = tmp_path / "x1.svm"
    svm1.write_text("\n".join("0 " + " ".join(f"{j + 1}:{v!r}" for j, v in enumerate(row.tolist()) if v == v)
                              for row in X))
    for data, extra in ((plain, []), (npy, []), (svm, []), (svm1, ["--one-based"])):
        out = tmp_path / f"{data.stem}.npy"
        assert main(["predict", str(EXAMPLES / "model.ubj"), str(data), "-o", str(out), *extra]) == 0
        assert np.array_equal(np.load(out), expected), data


def test_margin_leaf_and_range(tmp_path, example):
    model, X, _ = example
    npy = tmp_path / "x.npy"
    np.save(npy, X)
    out = tmp_path / "m.npy"
    main(["predict", str(EXAMPLES / "model.ubj"), str(npy), "-o", str(out), "--margin", "--iteration-range", "0", "10"])
    assert np.array_equal(np.load(out), model.predict(X, output_margin=True, iteration_range=(0, 10)))
    main(["predict", str(EXAMPLES / "model.ubj"), str(npy), "-o", str(out), "--leaf"])
    assert np.array_equal(np.load(out), model.predict_leaf(X))


def test_inspect_and_warmup(capsys):
    assert main(["inspect", str(EXAMPLES / "model.ubj")]) == 0
    text = capsys.readouterr().out
    for expected in ("xgboost 3.2.0", "binary:logistic", "trees:       100", "depth:", "features:    20", "f0:q"):
        assert expected in text
    assert main(["warmup", str(EXAMPLES / "model.ubj")]) == 0


def test_errors_are_reported_not_raised(tmp_path, capsys):
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    assert main(["inspect", str(bad)]) == 2
    assert "bad.json" in capsys.readouterr().err
    wrong = tmp_path / "wrong.npy"
    np.save(wrong, np.zeros((2, 3), np.float32))
    assert main(["predict", str(EXAMPLES / "model.ubj"), str(wrong)]) == 2
    assert "3 columns" in capsys.readouterr().err
    assert main(["predict", str(EXAMPLES / "model.ubj"), str(tmp_path / "x.parquet")]) == 2
