"""The fuzz suite: every mutated model file ends in a typed gbinfer error or in margins equal,
bit for bit, to the independent reference walk of the same file (see ``worker.verdict``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import gbinfer
from gbinfer.compat import ubjson
from gbinfer.errors import ModelFormatError

from . import harness, mutators, reference, reference_apr, reference_catboost, reference_lightgbm

from . import reference_cbschema  # CatBoost models in gbinfer's own formats

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def worker():
    w = harness.Worker()
    yield w
    w.close()


@pytest.mark.parametrize("fmt", harness.FORMATS)
def test_mutated_files_give_a_typed_error_or_the_reference_margins(fmt, fuzz_trials, fuzz_seed, worker, tmp_path):
    report = harness.run(fmt, fuzz_trials, base_seed=fuzz_seed, findings_dir=tmp_path, worker=worker)
    assert report.trials == fuzz_trials
    shown = "\n".join(f"{kind}: {detail.splitlines()[-1] if detail else ''} [{saved}]"
                      for kind, detail, saved in report.findings[:10])
    assert not report.findings, f"{report.line()}\n{shown}"
    if fuzz_trials >= 100:  # the mutations keep enough files loadable for the comparison to mean something
        assert report.outcomes["exact"] >= fuzz_trials // 20, report.line()


_CATBOOST = ("catboost_cbm", "catboost_json")


def test_the_reference_reproduces_xgboost_on_every_seed():
    for fmt in (f for f in harness.FORMATS if f != "lightgbm" and f not in _CATBOOST):
        compared = 0
        for name, data in harness.seeds(fmt).items():
            if fmt == "apr":  # an archive around a golden .xgbrs
                data = reference_apr.read(data, reference_apr.public_key() if reference_apr.is_signed(data) else None)
                name = "v1/" + name.split("/")[-1]
            npz = ROOT / "fixtures" / ("schema" if fmt in ("xgbrs", "native_json", "apr") else "xgboost") / (
                name.rsplit(".", 1)[0] + ".npz")
            if not npz.exists():  # tests/data models and the wrapped ones: checked against gbinfer below
                continue
            expected = np.load(npz)
            ref = reference.read(data)
            if isinstance(ref, reference_cbschema.CbModel):  # a CatBoost model saved in gbinfer's formats
                rows = _catboost_rows(expected)
                got = reference_cbschema.margins(ref, rows, any(k.startswith("cat_") for k in expected.files))
                want = np.asarray(expected["margin"], dtype=np.float64).reshape(got.shape)
                assert np.array_equal(got.view(np.uint64), want.view(np.uint64)), f"{fmt} {name}"
                leaves = reference_cbschema.leaves(ref, rows, any(k.startswith("cat_") for k in expected.files))
                assert np.array_equal(leaves, expected["leaf"]), f"{fmt} {name}"
            elif isinstance(ref, reference_lightgbm.LgbModel):  # a LightGBM forest saved in gbinfer's formats
                got = reference_lightgbm.margins(ref, reference_lightgbm.prepare(expected["X"].tolist()))
                want = np.asarray(expected["margin"], dtype=np.float64).reshape(got.shape)
                assert np.array_equal(got.view(np.uint64), want.view(np.uint64)), f"{fmt} {name}"
            else:
                got = reference.margins(ref, expected["X"].astype(np.float64).tolist())
                want = np.asarray(expected["margin"], dtype=np.float32).reshape(got.shape)
                assert np.array_equal(got.view(np.uint32), want.view(np.uint32)), f"{fmt} {name}"
            compared += 1
        assert compared >= 2, fmt


def _catboost_rows(expected) -> list:
    """A CatBoost golden file's rows with its categorical columns' values in place."""
    rows = expected["X"].astype(np.float64).tolist()
    for key in (k for k in expected.files if k.startswith("cat_")):
        for row, value in zip(rows, expected[key].tolist()):
            row[int(key[4:])] = value
    return rows


def test_the_lightgbm_reference_reproduces_lightgbm_on_every_seed():
    for name, data in harness.seeds("lightgbm").items():
        with np.load(ROOT / "fixtures" / "lightgbm" / (name.rsplit(".", 1)[0] + ".npz")) as expected:
            model = reference_lightgbm.read(data)
            got = reference_lightgbm.margins(model, reference_lightgbm.prepare(expected["X"].tolist()))
            want = expected["raw"].reshape(got.shape)
            assert np.array_equal(got.view(np.uint64), want.view(np.uint64)), name
            leaves = reference_lightgbm.leaves(model, reference_lightgbm.prepare(expected["X"].tolist()))
            assert np.array_equal(leaves, expected["leaf"].reshape(leaves.shape)), name


def test_the_lightgbm_reference_reads_sparse_rows_as_lightgbm_does():
    sp = pytest.importorskip("scipy.sparse")
    lgb = pytest.importorskip("lightgbm")
    path = ROOT / "fixtures" / "lightgbm" / "4.7.0" / "missing_zero.txt"
    with np.load(path.with_suffix(".npz")) as f:
        X = f["X"].copy()
    X[::3, 0] = 1e-36  # a stored tiny value is kept as it is, an absent one is 0.0
    X[1::3, 1] = 0.0
    csr = sp.csr_matrix(np.nan_to_num(X, nan=0.0))
    want = lgb.Booster(model_file=str(path)).predict(csr, raw_score=True)
    rows = [[csr[r, c] for c in range(csr.shape[1])] for r in range(csr.shape[0])]
    got = reference_lightgbm.margins(reference_lightgbm.read(path.read_bytes()), rows)[:, 0]
    assert np.array_equal(got.view(np.uint64), want.view(np.uint64))


def test_the_reference_agrees_with_gbinfer_on_every_seed():
    rng = np.random.default_rng(0)
    for fmt in (f for f in harness.FORMATS if f not in ("lightgbm", "apr") + _CATBOOST):  # apr: .xgbrs inside
        for name, data in harness.seeds(fmt).items():
            ref = reference.read(data)
            if isinstance(ref, reference_cbschema.CbModel):  # its own inputs: categories it can hash
                rows, data_in = reference_cbschema.inputs(ref, rng)
                got = np.asarray(gbinfer.load(data).predict(data_in, output_margin=True), dtype=np.float64)
                want = reference_cbschema.margins(ref, rows, data_in.dtype == object)
                assert np.array_equal(got.reshape(-1).view(np.uint64), want.reshape(-1).view(np.uint64)), name
                continue
            X = rng.normal(0, 2, (40, ref.num_features)).astype(np.float32)
            X[rng.random(X.shape) < 0.1] = np.nan
            got = np.asarray(gbinfer.load(data).predict(X, output_margin=True)).reshape(-1)
            if isinstance(ref, reference_lightgbm.LgbModel):
                want = reference_lightgbm.margins(ref, reference_lightgbm.prepare(X.astype(np.float64).tolist()))
                assert np.array_equal(got.view(np.uint64), want.reshape(-1).view(np.uint64)), f"{fmt} {name}"
                continue
            want = reference.margins(ref, X.astype(np.float64).tolist()).reshape(-1)
            assert np.array_equal(got.view(np.uint32), want.view(np.uint32)), f"{fmt} {name}"


def test_the_catboost_reference_reproduces_catboost_on_every_seed():
    """Raw values and leaf indexes, bit for bit, against what catboost computed for the seeds
    (``generate_catboost_seeds.py``) and for the committed CatBoost fixtures' rows whose
    categories the reference hashes (up to 16 bytes)."""
    import gzip

    checked = set()
    seeds = {**harness.seeds("catboost_cbm"), **harness.seeds("catboost_json")}
    fixtures = {f"{p.parent.name}/{p.name}": p.read_bytes() for p in sorted((ROOT / "fixtures" / "catboost").glob(
        "*/*")) if p.suffix in (".cbm", ".json") and p.stem != "manifest"}
    for name, data in {**seeds, **fixtures}.items():
        where = "catboost_fuzz" if name.startswith(("gzip/", "catboost_fuzz/")) else "catboost/" + name.split("/")[0]
        npz = ROOT / "fixtures" / where / (name.split("/")[-1].rsplit(".", 1)[0] + ".npz")
        try:
            model = reference_catboost.read(data)
        except reference.Invalid:  # non-symmetric trees with CTRs: not walked by the reference
            assert name in fixtures and ("depthwise" in name or "lossguide" in name), name
            continue
        with np.load(npz) as f:
            cats = {int(k[4:]): [str(v) for v in f[k].tolist()] for k in f if k.startswith("cat_")}
            keep = [i for i in range(len(f["X"])) if all(len(v[i].encode()) <= 16 for v in cats.values())]
            rows = [reference_catboost.rows_from(f["X"], cats)[i] for i in keep]
            raw = f["raw"].reshape(len(f["X"]), -1)[keep]
            leaf = f["leaf"].reshape(len(f["X"]), -1)[keep]
        got = reference_catboost.margins(model, rows)
        assert np.array_equal(got.view(np.uint64), raw.view(np.uint64)), name
        assert np.array_equal(reference_catboost.leaves(model, rows), leaf), name
        checked.add(name)
    assert set(seeds) <= checked and len(checked) >= len(seeds) + 30
    assert gzip.decompress(seeds["gzip/ctr.json"]) == seeds["catboost_fuzz/ctr.json"]


def test_the_catboost_reference_gives_catboosts_tree_ranges():
    """``ntree_start``/``ntree_end`` raw values of catboost itself (the bias only with tree 0)."""
    cb = pytest.importorskip("catboost")
    pd = pytest.importorskip("pandas")
    for name in ("nan_min", "multiclass", "onehot"):
        path = ROOT / "fixtures" / "catboost_fuzz" / f"{name}.cbm"
        model = cb.CatBoost()
        model.load_model(str(path))
        with np.load(path.with_suffix(".npz")) as f:
            cats = {int(k[4:]): [str(v) for v in f[k].tolist()] for k in f if k.startswith("cat_")}
            X = f["X"]
        frame = pd.DataFrame({n: cats[j] if j in cats else X[:, j] for j, n in enumerate(model.feature_names_)})
        pool = cb.Pool(frame, cat_features=sorted(cats) or None)
        ref, rows = reference_catboost.read(path.read_bytes()), reference_catboost.rows_from(X, cats)
        for begin, end in ((0, 1), (1, 4), (2, 3)):
            want = np.asarray(model.predict(pool, prediction_type="RawFormulaVal", ntree_start=begin, ntree_end=end))
            got = reference_catboost.margins(ref, rows, (begin, end))
            assert np.array_equal(got.view(np.uint64), want.reshape(got.shape).view(np.uint64)), (name, begin, end)


def test_the_catboost_reference_hashes_categories_as_catboost():
    """The one-hot values catboost stored for the seeds' categories are the reference's hashes of them."""
    import json

    doc = json.loads(harness.seeds("catboost_json")["catboost_fuzz/onehot.json"])
    stored = {v for f in doc["features_info"]["categorical_features"] for v in f.get("values", [])}
    hashed = {reference_catboost.category_hash(c) for c in reference_catboost.CATEGORIES}
    assert stored and stored <= hashed


def test_the_catboost_reference_agrees_with_gbinfer_on_every_seed():
    for fmt in _CATBOOST:
        for name, data in harness.seeds(fmt).items():
            ref = reference_catboost.read(data)
            rows, X = reference_catboost.inputs(ref)
            got = np.asarray(gbinfer.load(data).predict(X, output_margin=True), dtype=np.float64).reshape(len(rows), -1)
            want = reference_catboost.margins(ref, rows)
            assert np.array_equal(got.view(np.uint64), want.view(np.uint64)), f"{fmt} {name}"


def test_a_trial_past_its_timeout_is_reported_as_a_hang(worker, tmp_path):
    path = tmp_path / "m.json"
    path.write_bytes(harness.seeds("xgboost_json")["3.2.0/binary_logistic.json"])
    assert worker.judge(path)["outcome"] == "exact"
    assert worker.judge(path, timeout=0.0)["kind"] == "hang"


def test_a_trial_is_the_same_file_every_time():
    data, note = harness.trial_bytes("xgboost_json", sorted(harness.seeds("xgboost_json").items()), 0, 3)
    again, note_again = harness.trial_bytes("xgboost_json", sorted(harness.seeds("xgboost_json").items()), 0, 3)
    assert (data, note) == (again, note_again)


# --- the UBJSON decoder against the reference's own, on generated documents -------------------------

_keys = st.text(min_size=0, max_size=6)
_scalars = (st.none() | st.booleans() | st.integers(-2**63, 2**63 - 1)
            | st.floats(width=32, allow_nan=False) | st.text(max_size=8))
_docs = st.recursive(_scalars, lambda inner: st.lists(inner, max_size=5) | st.dictionaries(_keys, inner, max_size=5),
                     max_leaves=30)


def _plain(value):
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(doc=_docs, seed=st.integers(0, 2**32), cut=st.integers(0, 2**16))
def test_ubjson_decoder_agrees_with_the_reference_decoder(doc, seed, cut):
    import random

    data = mutators.ubj_encode(doc, random.Random(seed))
    assert _plain(ubjson.decode(data)) == reference.ubj_decode(data)
    short = data[:cut % len(data)]
    with pytest.raises(ModelFormatError):
        ubjson.decode(short)



@pytest.mark.parametrize("name,array,bad", [
    ("lightgbm_counts", "node_count", -1), ("catboost_weights", "leaf_weights", "NaN"),
    ("catboost_weights_lossguide", "leaf_weights", -0.5), ("catboost_weights", "leaf_weights", "Infinity")])
def test_the_references_check_the_schema_1_4_covers_as_gbinfer_does(name, array, bad):
    """The optional covers of schema 1.4 (seeds of every schema format): a file holding them is read
    by the reference and by gbinfer alike; a negative or non-finite value, or one value too many, is
    refused by both."""
    doc = orjson.loads((ROOT / "fixtures" / "schema" / "v1" / f"{name}.json").read_bytes())
    assert isinstance(reference.read(orjson.dumps(doc)), (reference_cbschema.CbModel, reference_lightgbm.LgbModel))
    gbinfer.load(orjson.dumps(doc))
    for edit in ("value", "length"):
        bad_doc = orjson.loads(orjson.dumps(doc))
        values = bad_doc["arrays"][array]["data"]
        if edit == "value":
            values[1] = bad
        else:
            values.append(values[0])
            bad_doc["arrays"][array]["shape"][0] += 1
        with pytest.raises(reference.Invalid):
            reference.read(orjson.dumps(bad_doc))
        with pytest.raises(ModelFormatError) as err:
            gbinfer.load(orjson.dumps(bad_doc))
        assert array in err.value.field
