"""The README's promise, enforced: every public entry point refuses a wrong argument type or value with
a subclass of ``GbinferError`` (``DataError`` for arguments and data, ``ModelFormatError`` for model
bytes, ``SaveError`` for a write that fails), never a raw ``TypeError`` / ``ValueError`` / ``OSError``.

One table row a refusal: ``(entry point, case, call, expected class)``. ``call`` takes the ``ctx``
fixture (a trained model, a linear one, rows, files). A new public entry point gets rows here; the
last test checks that every name the package exports is in the table (``Model.warmup()`` takes no
argument, so has nothing to refuse). Calling with a keyword a function does not take is Python's own
``TypeError``, as everywhere, and not listed.
"""

import os
import types

import numpy as np
import pytest

import gbinfer
import gbinfer.apr
import gbinfer.cli
from gbinfer.compat import xgboost_json
from gbinfer.errors import DataError, GbinferError, ModelFormatError, SaveError, UnsupportedModelError

xgb = pytest.importorskip("xgboost")

# a schema golden written before covers were stored: it predicts, but cannot explain
_NO_COVERS = os.path.join(os.path.dirname(__file__), "..", "fixtures", "schema", "v1", "gbtree_binary.xgbrs")


@pytest.fixture(scope="module")
def ctx(tmp_path_factory):
    d = tmp_path_factory.mktemp("public_errors")
    rng = np.random.default_rng(21)
    X = rng.normal(size=(40, 4)).astype(np.float32)
    bst = xgb.train({"objective": "binary:logistic", "max_depth": 3, "nthread": 1}, xgb.DMatrix(X, X[:, 0] > 0), 3)
    linear = xgb.train({"booster": "gblinear", "nthread": 1}, xgb.DMatrix(X, X[:, 1]), 2)
    c = types.SimpleNamespace(dir=d, X=X, model=gbinfer.load(bytes(bst.save_raw("ubj"))),
                              linear=gbinfer.load(bytes(linear.save_raw("ubj"))))
    c.json = d / "m.json"
    bst.save_model(c.json)
    c.npy = d / "X.npy"
    np.save(c.npy, X)
    c.apr = d / "m.apr"
    gbinfer.apr.save(c.model, c.apr)
    c.apr_bytes = c.apr.read_bytes()
    c.garbage = d / "garbage.json"
    c.garbage.write_bytes(b"\x00not a model\xff" * 8)
    c.empty = d / "empty.json"
    c.empty.write_bytes(b"")
    c.subdir = d / "sub.json"
    c.subdir.mkdir()
    c.missing = d / "absent" / "m.json"
    c.fifo = d / "pipe.xgbrs"  # stands for a device: a save must not replace the node
    os.mkfifo(c.fifo)
    return c


def _rows(entry, cases):
    return [pytest.param(entry, call, kind, id=f"{entry}: {case}") for case, call, kind in cases]


D, M, S = DataError, ModelFormatError, SaveError

CASES = [
    *_rows("gbinfer.load", [
        ("int", lambda c: gbinfer.load(12), D),
        ("None", lambda c: gbinfer.load(None), D),
        ("list", lambda c: gbinfer.load([b"{}"]), D),
        ("dict", lambda c: gbinfer.load({"learner": {}}), D),
        ("ndarray", lambda c: gbinfer.load(np.zeros(3)), D),
        ("object", lambda c: gbinfer.load(object()), D),
        ("xgboost DMatrix", lambda c: gbinfer.load(xgb.DMatrix(c.X)), D),
        ("unfitted estimator", lambda c: gbinfer.load(xgb.XGBRegressor()), D),
        ("untrained Booster", lambda c: gbinfer.load(xgb.Booster()), D),
        ("format unknown", lambda c: gbinfer.load(c.json, format="onnx"), D),
        ("format int", lambda c: gbinfer.load(c.json, format=3), D),
        ("missing file", lambda c: gbinfer.load(c.missing), M),
        ("directory", lambda c: gbinfer.load(c.subdir), M),
        ("empty file", lambda c: gbinfer.load(c.empty), M),
        ("garbage file", lambda c: gbinfer.load(c.garbage), M),
        ("empty bytes", lambda c: gbinfer.load(b""), M),
        ("garbage bytes", lambda c: gbinfer.load(b"\x00\x01garbage"), M),
        ("JSON of something else", lambda c: gbinfer.load(b'{"a": [1, 2]}'), M),
        ("text as a path", lambda c: gbinfer.load('{"learner": {}}'), M),
        ("apr bytes as xgbrs", lambda c: gbinfer.load(c.apr_bytes, format="xgbrs"), M),
    ]),
    *_rows("gbinfer.save", [
        ("model None", lambda c: gbinfer.save(None, c.dir / "a.xgbrs"), D),
        ("model is a path", lambda c: gbinfer.save(str(c.json), c.dir / "a.xgbrs"), D),
        ("model is a Booster", lambda c: gbinfer.save(xgb.Booster(), c.dir / "a.xgbrs"), D),
        ("path int", lambda c: gbinfer.save(c.model, 7), D),
        ("path None", lambda c: gbinfer.save(c.model, None), D),
        ("path bytes", lambda c: gbinfer.save(c.model, b"a.xgbrs"), D),
        ("path empty", lambda c: gbinfer.save(c.model, "", format="json"), D),
        ("format unknown", lambda c: gbinfer.save(c.model, c.dir / "a.xgbrs", format="onnx"), D),
        ("format int", lambda c: gbinfer.save(c.model, c.dir / "a.xgbrs", format=1), D),
        ("no known suffix", lambda c: gbinfer.save(c.model, c.dir / "a.model"), UnsupportedModelError),
        ("option of another format", lambda c: gbinfer.save(c.model, c.dir / "a.xgbrs", compression="zstd"), D),
        ("unknown option", lambda c: gbinfer.save(c.model, c.dir / "a.apr", level=3), D),
        ("metadata int", lambda c: gbinfer.save(c.model, c.dir / "a.json", metadata=5), D),
        ("metadata list", lambda c: gbinfer.save(c.model, c.dir / "a.json", metadata=[("name", "x")]), D),
        ("metadata unknown key", lambda c: gbinfer.save(c.model, c.dir / "a.json", metadata={"owner": "x"}), D),
        ("metadata name int", lambda c: gbinfer.save(c.model, c.dir / "a.xgbrs", metadata={"name": 5}), D),
        ("metadata not JSON", lambda c: gbinfer.save(c.model, c.dir / "a.xgbrs",
                                                     metadata={"custom": {"f": object()}}), D),
        ("apr compression", lambda c: gbinfer.save(c.model, c.dir / "a.apr", compression="gzip"), D),
        ("onto a directory", lambda c: gbinfer.save(c.model, c.subdir), S),
        ("missing directory", lambda c: gbinfer.save(c.model, c.missing), S),
        ("onto a FIFO", lambda c: gbinfer.save(c.model, c.fifo), S),
    ]),
    *_rows("gbinfer.DataMatrix", [
        ("None", lambda c: gbinfer.DataMatrix(None), D),
        ("object", lambda c: gbinfer.DataMatrix(object()), D),
        ("str", lambda c: gbinfer.DataMatrix("1,2,3"), D),
        ("1-D", lambda c: gbinfer.DataMatrix(np.zeros(4)), D),
        ("3-D", lambda c: gbinfer.DataMatrix(np.zeros((2, 2, 2))), D),
        ("strings", lambda c: gbinfer.DataMatrix(np.array([["a", "b"]])), D),
        ("complex", lambda c: gbinfer.DataMatrix(np.zeros((2, 2), complex)), D),
        ("feature_names count", lambda c: gbinfer.DataMatrix(c.X, feature_names=["a"]), D),
        ("feature_names int", lambda c: gbinfer.DataMatrix(c.X, feature_names=5), D),
        ("feature_names str", lambda c: gbinfer.DataMatrix(c.X, feature_names="abcd"), D),
        ("feature_types int", lambda c: gbinfer.DataMatrix(c.X, feature_types=5), D),
        ("ragged rows", lambda c: gbinfer.DataMatrix([[1.0, 2.0], [3.0]]), D),
        ("missing str", lambda c: gbinfer.DataMatrix(c.X, missing="abc"), D),
        ("sparse, missing str", lambda c: gbinfer.DataMatrix(__import__("scipy.sparse").sparse.csr_matrix(c.X),
                                                             missing="abc"), D),
    ]),
    *_rows("Model.predict", [
        ("data None", lambda c: c.model.predict(None), D),
        ("data str", lambda c: c.model.predict("X.npy"), D),
        ("data 1-D", lambda c: c.model.predict(c.X[0]), D),
        ("data columns", lambda c: c.model.predict(c.X[:, :3]), D),
        ("data strings", lambda c: c.model.predict(c.X.astype(str)), D),
        ("nthread str", lambda c: c.model.predict(c.X, nthread="2"), D),
        ("nthread float", lambda c: c.model.predict(c.X, nthread=2.0), D),
        ("nthread bool", lambda c: c.model.predict(c.X, nthread=True), D),
        ("iteration_range one value", lambda c: c.model.predict(c.X, iteration_range=(0,)), D),
        ("iteration_range int", lambda c: c.model.predict(c.X, iteration_range=2), D),
        ("iteration_range str", lambda c: c.model.predict(c.X, iteration_range="02"), D),
        ("iteration_range floats", lambda c: c.model.predict(c.X, iteration_range=(0.0, 2.0)), D),
        ("iteration_range past the end", lambda c: c.model.predict(c.X, iteration_range=(0, 9)), D),
        ("iteration_range reversed", lambda c: c.model.predict(c.X, iteration_range=(2, 1)), D),
        ("iteration_range linear", lambda c: c.linear.predict(c.X, iteration_range=(0,)), D),
        ("base_margin str", lambda c: c.model.predict(c.X, base_margin="0.5"), D),
        ("base_margin count", lambda c: c.model.predict(c.X, base_margin=np.zeros(3)), D),
        ("base_margin as a row", lambda c: c.model.predict(c.X, base_margin=np.zeros((1, 40))), D),
        ("base_margin objects", lambda c: c.model.predict(c.X, base_margin=np.array([None] * 40)), D),
        ("base_margin linear", lambda c: c.linear.predict(c.X, base_margin="0"), D),
        ("output_margin str", lambda c: c.model.predict(c.X, output_margin="yes"), D),
        ("output_margin None", lambda c: c.model.predict(c.X, output_margin=None), D),
        ("pred_contribs str", lambda c: c.model.predict(c.X, pred_contribs="yes"), D),
        ("pred_leaf and pred_contribs", lambda c: c.model.predict(c.X, pred_leaf=True, pred_contribs=True), D),
        ("output_margin and pred_interactions",
         lambda c: c.model.predict(c.X, output_margin=True, pred_interactions=True), D),
        ("approx_contribs None", lambda c: c.model.predict(c.X, pred_contribs=True, approx_contribs=None), D),
    ]),
    *[row for name in ("predict_contribs", "predict_interactions") for row in _rows(f"Model.{name}", [
        ("data None", lambda c, name=name: getattr(c.model, name)(None), D),
        ("data columns", lambda c, name=name: getattr(c.model, name)(c.X[:, :2]), D),
        ("nthread str", lambda c, name=name: getattr(c.model, name)(c.X, nthread="2"), D),
        ("approximate str", lambda c, name=name: getattr(c.model, name)(c.X, approximate="no"), D),
        ("iteration_range str", lambda c, name=name: getattr(c.model, name)(c.X, iteration_range="ab"), D),
        ("iteration_range past the end", lambda c, name=name: getattr(c.model, name)(c.X, iteration_range=(0, 9)),
         D),
        ("iteration_range linear", lambda c, name=name: getattr(c.linear, name)(c.X, iteration_range=(0, 2)), D),
        ("base_margin count", lambda c, name=name: getattr(c.model, name)(c.X, base_margin=np.zeros(3)), D),
        ("a model saved without covers", lambda c, name=name: getattr(gbinfer.load(_NO_COVERS), name)(c.X[:, :6]),
         UnsupportedModelError),
    ])],
    *_rows("Model.predict_leaf", [
        ("linear model", lambda c: c.linear.predict_leaf(c.X), D),
        ("data None", lambda c: c.model.predict_leaf(None), D),
        ("data columns", lambda c: c.model.predict_leaf(c.X[:, :2]), D),
        ("nthread str", lambda c: c.model.predict_leaf(c.X, nthread="2"), D),
        ("iteration_range one value", lambda c: c.model.predict_leaf(c.X, iteration_range=(0,)), D),
        ("iteration_range str", lambda c: c.model.predict_leaf(c.X, iteration_range="ab"), D),
        ("iteration_range past the end", lambda c: c.model.predict_leaf(c.X, iteration_range=(0, 9)), D),
    ]),
    *_rows("gbinfer.apr.load", [
        ("int", lambda c: gbinfer.apr.load(5), D),
        ("None", lambda c: gbinfer.apr.load(None), D),
        ("missing file", lambda c: gbinfer.apr.load(c.missing), M),
        ("garbage file", lambda c: gbinfer.apr.load(c.garbage), M),
        ("empty bytes", lambda c: gbinfer.apr.load(b""), M),
        ("truncated", lambda c: gbinfer.apr.load(c.apr_bytes[:-9]), M),
        ("trusted_key garbage", lambda c: gbinfer.apr.load(c.apr_bytes, trusted_key=b"short"), D),
        ("trusted_key int", lambda c: gbinfer.apr.load(c.apr_bytes, trusted_key=5), D),
        ("password for a plain file", lambda c: gbinfer.apr.load(c.apr_bytes, password="pw"), M),
        ("recipient_key int", lambda c: gbinfer.apr.load(c.apr_bytes, recipient_key=5), D),
    ]),
    *_rows("gbinfer.apr.save", [
        ("model None", lambda c: gbinfer.apr.save(None, c.dir / "a.apr"), D),
        ("path int", lambda c: gbinfer.apr.save(c.model, 5), D),
        ("compression unknown", lambda c: gbinfer.apr.save(c.model, c.dir / "a.apr", compression="gzip"), D),
        ("compression list", lambda c: gbinfer.apr.save(c.model, c.dir / "a.apr", compression=["zstd"]), D),
        ("quality_score", lambda c: gbinfer.apr.save(c.model, c.dir / "a.apr", quality_score=256), D),
        ("quality_score str", lambda c: gbinfer.apr.save(c.model, c.dir / "a.apr", quality_score="9"), D),
        ("metadata int", lambda c: gbinfer.apr.save(c.model, c.dir / "a.apr", metadata=5), D),
        ("metadata key int", lambda c: gbinfer.apr.save(c.model, c.dir / "a.apr", metadata={1: 2}), D),
        ("password and recipient", lambda c: gbinfer.apr.save(c.model, c.dir / "a.apr", password="p",
                                                              recipient=b"\x01" * 32), D),
        ("password int", lambda c: gbinfer.apr.save(c.model, c.dir / "a.apr", password=5), D),
        ("signing_key garbage", lambda c: gbinfer.apr.save(c.model, c.dir / "a.apr", signing_key=b"short"), D),
        ("onto a directory", lambda c: gbinfer.apr.save(c.model, c.subdir), S),
        ("missing directory", lambda c: gbinfer.apr.save(c.model, c.missing), S),
    ]),
    *_rows("gbinfer.apr.dumps", [
        ("model str", lambda c: gbinfer.apr.dumps("model"), D),
        ("compression int", lambda c: gbinfer.apr.dumps(c.model, compression=3), D),
    ]),
    *_rows("gbinfer.apr.inspect", [
        ("int", lambda c: gbinfer.apr.inspect(5), D),
        ("None", lambda c: gbinfer.apr.inspect(None), D),
        ("missing file", lambda c: gbinfer.apr.inspect(c.missing), M),
        ("directory", lambda c: gbinfer.apr.inspect(c.subdir), M),
        ("garbage bytes", lambda c: gbinfer.apr.inspect(b"garbage" * 10), M),
        ("empty bytes", lambda c: gbinfer.apr.inspect(b""), M),
    ]),
    *_rows("gbinfer.apr.verify", [
        ("path int", lambda c: gbinfer.apr.verify(5, b"\x01" * 32), D),
        ("trusted_key None", lambda c: gbinfer.apr.verify(c.apr_bytes, None), D),
        ("unsigned file", lambda c: gbinfer.apr.verify(c.apr_bytes, b"\x01" * 32), GbinferError),
    ]),
    *_rows("gbinfer.apr.keygen", [
        ("prefix int", lambda c: gbinfer.apr.keygen(5), D),
        ("prefix None", lambda c: gbinfer.apr.keygen(None), D),
        ("missing directory", lambda c: gbinfer.apr.keygen(c.dir / "absent" / "k"), S),
    ]),
    *_rows("xgboost_json.load", [
        ("int", lambda c: xgboost_json.load(5), D),
        ("None", lambda c: xgboost_json.load(None), D),
        ("bytes", lambda c: xgboost_json.load(c.json.read_bytes()), D),
        ("missing file", lambda c: xgboost_json.load(c.missing), M),
        ("directory", lambda c: xgboost_json.load(c.subdir), M),
        ("garbage file", lambda c: xgboost_json.load(c.garbage), M),
    ]),
    *_rows("xgboost_json.loads", [
        ("str", lambda c: xgboost_json.loads(c.json.read_text()), D),
        ("int", lambda c: xgboost_json.loads(5), D),
        ("None", lambda c: xgboost_json.loads(None), D),
        ("source int", lambda c: xgboost_json.loads(c.json.read_bytes(), source=5), D),
        ("empty bytes", lambda c: xgboost_json.loads(b""), M),
        ("garbage bytes", lambda c: xgboost_json.loads(b"{garbage"), M),
        ("JSON list", lambda c: xgboost_json.loads(b"[1, 2]"), M),
    ]),
]


@pytest.mark.parametrize("entry,call,kind", CASES)
def test_every_refusal_is_a_gbinfer_error(ctx, entry, call, kind):
    with pytest.raises(GbinferError) as info:
        call(ctx)
    assert isinstance(info.value, kind), f"{entry} raised {type(info.value).__name__}, expected {kind.__name__}"
    assert str(info.value).strip()
    assert not [p.name for p in ctx.dir.rglob("*.tmp")]  # no save leaves its temporary file


CLI_CASES = [
    ("no command", []),
    ("unknown command", ["frobnicate"]),
    ("predict without files", ["predict"]),
    ("predict, missing model", ["predict", "{dir}/absent.json", "{npy}"]),
    ("predict, garbage model", ["predict", "{garbage}", "{npy}"]),
    ("predict, missing data", ["predict", "{json}", "{dir}/absent.npy"]),
    ("predict, data of unknown kind", ["predict", "{json}", "{json}"]),
    ("predict, nthread str", ["predict", "{json}", "{npy}", "--nthread", "two"]),
    ("predict, iteration range one value", ["predict", "{json}", "{npy}", "--iteration-range", "0"]),
    ("predict, iteration range past the end", ["predict", "{json}", "{npy}", "--iteration-range", "0", "99"]),
    ("predict, missing str", ["predict", "{json}", "{npy}", "--missing", "abc"]),
    ("inspect, missing model", ["inspect", "{dir}/absent.json"]),
    ("inspect, directory", ["inspect", "{subdir}"]),
    ("warmup, garbage model", ["warmup", "{garbage}"]),
    ("convert, onto a directory", ["convert", "{json}", "{subdir}", "--format", "json"]),
    ("convert, into a missing directory", ["convert", "{json}", "{dir}/absent/m.xgbrs"]),
    ("convert, unknown suffix", ["convert", "{json}", "{dir}/m.model"]),
]


@pytest.mark.parametrize("argv", [a for _, a in CLI_CASES], ids=[n for n, _ in CLI_CASES])
def test_cli_refusals_exit_non_zero_without_a_traceback(ctx, capsys, argv):
    paths = {"dir": ctx.dir, "npy": ctx.npy, "json": ctx.json, "garbage": ctx.garbage, "subdir": ctx.subdir}
    try:
        code = gbinfer.cli.main([a.format(**paths) for a in argv])
    except SystemExit as exc:  # argparse's own refusals
        code = exc.code
    err = capsys.readouterr().err
    assert code not in (0, None)
    assert "Traceback" not in err and err.strip()


def test_the_table_covers_every_public_entry_point():
    """A function or class the package exports without rows in the table fails here."""
    covered = {p.values[0] for p in CASES}
    exported = {f"gbinfer.{name}" for name in gbinfer.__all__
                if callable(getattr(gbinfer, name)) and not issubclass_safe(getattr(gbinfer, name), BaseException)}
    exported = {"Model.predict", "Model.predict_leaf", "Model.predict_contribs", "Model.predict_interactions"} | (
        exported - {"gbinfer.Model"})  # Model.warmup() takes none
    exported |= {f"gbinfer.apr.{name}" for name in gbinfer.apr.__all__ if callable(getattr(gbinfer.apr, name))}
    exported |= {"xgboost_json.load", "xgboost_json.loads"}
    assert sorted(exported - covered) == []


def issubclass_safe(obj, cls) -> bool:
    return isinstance(obj, type) and issubclass(obj, cls)
