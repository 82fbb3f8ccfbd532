"""CatBoost models whose CTR tables live in the .cbm after its FlatBuffer, and non-symmetric trees
(Depthwise, Lossguide), against catboost itself: models trained here, saved as .cbm and JSON and
read back by gbinfer; raw values compared in float64 ULPs (bit-identical expected)."""

import gzip
import json

import numpy as np
import pytest

import gbinfer
from gbinfer.errors import GbinferError, ModelFormatError, UnsupportedModelError

catboost = pytest.importorskip("catboost")
pd = pytest.importorskip("pandas")

from gbinfer.compat.flatbuffers import Table  # noqa: E402
from test_catboost import SEED, _raw, _train, ulp64  # noqa: E402

CAT = ["c", "d", "e"]


def _frame(n=700, seed=SEED + 7, nan_share=0.15):
    rng = np.random.default_rng(seed)
    a = rng.normal(size=n).astype(np.float32)
    a[rng.random(n) < nan_share] = np.nan
    return pd.DataFrame({"a": a, "b": rng.normal(size=n).astype(np.float32),
                         "c": rng.choice([f"c{i}" for i in range(30)], n), "d": rng.choice(list("xyzwvu"), n),
                         "e": rng.integers(0, 20, n)}), rng


def _target(df, rng, kind):
    a = np.nan_to_num(df.a.to_numpy(), nan=1.5)
    binary = (df.c.isin(["c1", "c2", "c3"]).to_numpy() ^ (a > 0)) | (df.d == "x").to_numpy()
    if kind == "binary":
        return binary.astype(int)
    if kind == "multi":
        return binary.astype(int) + (df.e.to_numpy() % 3 == 0)
    regr = a + df.c.str[1:].astype(int).to_numpy() * 0.1 + (df.d == "x").to_numpy() + rng.normal(size=len(df)) * 0.1
    if kind == "multirmse":
        return np.stack([regr, df.b.to_numpy() - (df.e.to_numpy() % 4)], axis=1)
    return regr


def _unseen(df):
    test = df.copy()
    test.loc[::7, "c"] = "unseen"
    test.loc[::5, "e"] = 999
    test.loc[::9, "d"] = "new"
    return test


def _files(m, tmp_path):
    cbm, js = tmp_path / "m.cbm", tmp_path / "m.json"
    m.save_model(str(cbm))
    m.save_model(str(js), format="json")
    gz = tmp_path / "m.cbm.gz"
    gz.write_bytes(gzip.compress(cbm.read_bytes()))
    return cbm, js, gz


def _check(case, m, test, tmp_path, json_refused=False):
    """Every way in (.cbm, gzipped .cbm, in-memory object, JSON) predicts catboost's raw values bit
    for bit and its leaf indexes. ``json_refused``: the JSON export lost which CTR table is whose
    (multi-target CTRs), and is refused."""
    cbm, js, gz = _files(m, tmp_path)
    pool = catboost.Pool(test, cat_features=[c for c in CAT if c in test.columns] or None)
    ref, leaves = _raw(m, test), m.calc_leaf_indexes(pool)
    models = [("cbm", gbinfer.load(cbm)), ("gz", gbinfer.load(gz)), ("object", gbinfer.load(m))]
    if json_refused:
        with pytest.raises(UnsupportedModelError, match="target classifier"):
            gbinfer.load(js)
        from_json = catboost.CatBoost()
        from_json.load_model(str(js), format="json")
        assert ulp64(_raw(from_json, test), ref) > 0  # catboost itself predicts that JSON wrongly
    else:
        models.append(("json", gbinfer.load(js)))
    for name, g in models:
        assert ulp64(g.predict(test, output_margin=True), ref) == 0, (case, name)
        np.testing.assert_array_equal(g.predict_leaf(test), leaves, err_msg=f"{case} {name}")
    return gbinfer.load(cbm)


# --- CTRs from .cbm ----------------------------------------------------------------------------

_CTR_CASES = {
    "binary: Borders, Counter, cat x cat": (catboost.CatBoostClassifier, "binary", {}),
    "binary: every CPU CTR type, combinations": (catboost.CatBoostClassifier, "binary", {
        "max_ctr_complexity": 3, "simple_ctr": ["Borders", "Buckets", "Counter", "BinarizedTargetMeanValue"],
        "combinations_ctr": ["Borders", "Counter", "Buckets", "BinarizedTargetMeanValue"]}),
    "multiclass: Borders, Buckets, Counter, BinarizedTargetMeanValue": (catboost.CatBoostClassifier, "multi", {
        "loss_function": "MultiClass", "simple_ctr": ["Borders", "Buckets", "Counter", "BinarizedTargetMeanValue"]}),
    "regression: cat x one-hot, cat x float border": (catboost.CatBoostRegressor, "regr", {
        "max_ctr_complexity": 4, "one_hot_max_size": 6}),
    "MultiRMSE: a table per target": (catboost.CatBoostRegressor, "multirmse", {"loss_function": "MultiRMSE"}),
}


@pytest.mark.parametrize("case", list(_CTR_CASES))
def test_cbm_ctr_tables_exact(tmp_path, case):
    cls, target, params = _CTR_CASES[case]
    df, rng = _frame()
    m = _train(cls, df, _target(df, rng, target), iterations=40, depth=5, cat_features=CAT, nan_mode="Max",
               **params)
    g = _check(case, m, _unseen(df), tmp_path, json_refused=target == "multirmse")
    assert g.booster.ctrs
    doc = json.loads((tmp_path / "m.json").read_bytes())
    assert {c.kind for c in g.booster.ctrs} == {c["ctr_type"] for c in doc["features_info"]["ctrs"]}
    kinds = {e["combination_element"] for c in doc["features_info"]["ctrs"] for e in c["elements"]}
    if target == "regr":
        assert kinds == {"cat_feature_value", "float_feature", "cat_feature_exact_value"}, kinds
    test = _unseen(df)
    if target == "binary":
        assert ulp64(g.predict(test), m.predict_proba(test)[:, 1]) <= 4  # CatBoost's fast exp in its sigmoid
    elif target == "multi":
        assert ulp64(g.predict(test), m.predict_proba(test)) <= 16


def _ctr_type_positions(cbm: bytes, code: int) -> list:
    """File offsets of every ``CtrType`` byte equal to ``code``: in the core's CTR features and in
    each CTR value table after it."""
    size = int.from_bytes(cbm[4:8], "little")
    trees = Table.root(cbm[8:8 + size], None, "TModelCore").table(1, "ModelTrees")
    found = [8 + f.table(0, "Ctr").table(0, "Base")._field(1) for f in trees.tables(7, "CtrFeatures")]
    pos = 8 + size + 4
    for _ in range(int.from_bytes(cbm[8 + size:12 + size], "little")):
        n = int.from_bytes(cbm[pos:pos + 4], "little")
        found.append(pos + 4 + Table.root(cbm[pos + 4:pos + 4 + n], None, "t").table(0, "b")._field(1))
        pos += 4 + n
    return [p for p in found if cbm[p] == code]


@pytest.mark.parametrize("trained, stored", [("Counter", "FeatureFreq"),
                                             ("BinarizedTargetMeanValue", "FloatTargetMeanValue")])
def test_gpu_only_ctr_types(tmp_path, trained, stored):
    """FeatureFreq and FloatTargetMeanValue are trained on GPU only; their tables have the layout of
    Counter's and BinarizedTargetMeanValue's. A CPU model's CTR type rewritten in its .cbm is
    evaluated by catboost's own CPU evaluator as the reference."""
    df, rng = _frame()
    m = _train(catboost.CatBoostRegressor, df, _target(df, rng, "regr"), iterations=30, depth=4,
               cat_features=CAT, simple_ctr=[trained], combinations_ctr=[trained], max_ctr_complexity=2)
    path = tmp_path / "m.cbm"
    m.save_model(str(path))
    codes = {"Counter": 4, "BinarizedTargetMeanValue": 2}
    cbm = bytearray(path.read_bytes())
    positions = _ctr_type_positions(bytes(cbm), codes[trained])
    assert len(positions) >= 2
    for p in positions:
        cbm[p] = {"FeatureFreq": 5, "FloatTargetMeanValue": 3}[stored]
    ref_model = catboost.CatBoost()
    ref_model.load_model(blob=bytes(cbm))
    test = _unseen(df)
    g = gbinfer.load(bytes(cbm))
    assert {c.kind for c in g.booster.ctrs} == {stored}
    assert ulp64(g.predict(test, output_margin=True), _raw(ref_model, test)) == 0
    np.testing.assert_array_equal(g.predict_leaf(test), ref_model.calc_leaf_indexes(
        catboost.Pool(test, cat_features=CAT)))


# --- non-symmetric trees ------------------------------------------------------------------------

_TREE_CASES = {
    "Depthwise, nan_mode Min": ("Depthwise", "Min", "regr", {}),
    "Depthwise, nan_mode Max, binary": ("Depthwise", "Max", "binary", {}),
    "Lossguide, nan_mode Min": ("Lossguide", "Min", "regr", {"max_leaves": 20}),
    "Lossguide, nan_mode Max, MultiClass": ("Lossguide", "Max", "multi", {"max_leaves": 12,
                                                                          "loss_function": "MultiClass"}),
    "Depthwise, MultiClass": ("Depthwise", "Min", "multi", {"loss_function": "MultiClass"}),
    "Depthwise, MultiRMSE": ("Depthwise", "Max", "multirmse", {"loss_function": "MultiRMSE"}),
    "Lossguide, MultiRMSE": ("Lossguide", "Min", "multirmse", {"loss_function": "MultiRMSE", "max_leaves": 16}),
}


@pytest.mark.parametrize("cats", ["float only", "one-hot and CTR"])
@pytest.mark.parametrize("case", list(_TREE_CASES))
def test_non_symmetric_trees_exact(tmp_path, case, cats):
    policy, nan_mode, target, params = _TREE_CASES[case]
    df, rng = _frame()
    y = _target(df, rng, target)
    if cats == "float only":
        df = df[["a", "b"]]
    cls = catboost.CatBoostClassifier if target in ("binary", "multi") else catboost.CatBoostRegressor
    extra = {"cat_features": CAT, "one_hot_max_size": 6, "max_ctr_complexity": 2} if cats != "float only" else {}
    m = _train(cls, df, y, iterations=25, depth=5, grow_policy=policy, nan_mode=nan_mode, **params, **extra)
    test = _unseen(df) if cats != "float only" else df
    g = _check(f"{case}, {cats}", m, test, tmp_path, json_refused=target == "multirmse" and cats != "float only")
    assert not g.booster.symmetric
    if not (target == "multirmse" and cats != "float only"):  # JSON trees laid out as catboost lays out the .cbm's
        j = gbinfer.load(tmp_path / "m.json").booster
        for name in ("tree_splits", "tree_offsets", "node_left", "node_right", "node_leaf", "leaf_offsets",
                     "leaf_values"):
            np.testing.assert_array_equal(getattr(j, name), getattr(g.booster, name), err_msg=name)
    if cats != "float only":
        doc = json.loads((tmp_path / "m.json").read_bytes())
        kinds = set()
        stack = list(doc["trees"])
        while stack:
            node = stack.pop()
            if "split" in node:
                kinds.add(node["split"]["split_type"])
                stack += [node["left"], node["right"]]
        assert {"OneHotFeature", "OnlineCtr", "FloatFeature"} <= kinds, kinds


@pytest.mark.parametrize("params", [{"grow_policy": "Depthwise", "depth": 10, "border_count": 1024},
                                    {"grow_policy": "Lossguide", "depth": 12, "max_leaves": 64}])
def test_deep_non_symmetric_trees(tmp_path, params):
    """Deep trees, many leaves, more than 255 borders of a feature; CTR and one-hot splits."""
    df, rng = _frame(n=1500)
    m = _train(catboost.CatBoostRegressor, df, _target(df, rng, "regr"), iterations=15, cat_features=CAT,
               one_hot_max_size=6, **params)
    g = _check(str(params), m, _unseen(df), tmp_path)
    assert int(np.diff(g.booster.leaf_offsets).max()) > 32


def test_non_symmetric_iteration_range_and_outputs(tmp_path):
    df, rng = _frame()
    df = df[["a", "b"]]
    y = (np.nan_to_num(df.a.to_numpy()) + df.b.to_numpy() > 0).astype(int)
    m = _train(catboost.CatBoostClassifier, df, y, iterations=30, depth=4, grow_policy="Lossguide", max_leaves=10)
    m.set_scale_and_bias(1.25, -0.5)
    cbm, js, _ = _files(m, tmp_path)
    for name, g in (("cbm", gbinfer.load(cbm)), ("json", gbinfer.load(js))):
        assert ulp64(g.predict(df, output_margin=True), _raw(m, df)) == 0, name
        assert ulp64(g.predict(df), m.predict_proba(df)[:, 1]) <= 4, name
        for begin, end in ((0, 10), (5, 30), (29, 30), (3, 0)):
            stop = end or m.tree_count_
            assert ulp64(g.predict(df, output_margin=True, iteration_range=(begin, end)),
                         _raw(m, df, ntree_start=begin, ntree_end=stop)) == 0, (name, begin, end)
            np.testing.assert_array_equal(g.predict_leaf(df, iteration_range=(begin, end)),
                                          m.calc_leaf_indexes(catboost.Pool(df), ntree_start=begin, ntree_end=stop))
        g.warmup()
        big = pd.concat([df] * 3, ignore_index=True)  # past the serial-kernel threshold: the parallel kernels
        assert ulp64(g.predict(big, output_margin=True, nthread=2), _raw(m, big)) == 0, name


# --- malformed files ----------------------------------------------------------------------------

@pytest.fixture(scope="module")
def ctr_cbm(tmp_path_factory):
    df, rng = _frame(n=300)
    m = _train(catboost.CatBoostClassifier, df, _target(df, rng, "binary"), iterations=6, depth=3,
               cat_features=CAT, simple_ctr=["Borders", "Counter", "BinarizedTargetMeanValue"])
    path = tmp_path_factory.mktemp("ctr") / "m.cbm"
    m.save_model(str(path))
    return path.read_bytes(), df


def _tables(cbm: bytes) -> list:
    """(file offset, FlatBuffer root) of each CTR value table after the core."""
    size = int.from_bytes(cbm[4:8], "little")
    pos, out = 8 + size + 4, []
    for _ in range(int.from_bytes(cbm[8 + size:12 + size], "little")):
        n = int.from_bytes(cbm[pos:pos + 4], "little")
        out.append((pos + 4, Table.root(cbm[pos + 4:pos + 4 + n], None, "t")))
        pos += 4 + n
    return out


def _patch(data: bytes, at: int, value: bytes) -> bytes:
    return data[:at] + value + data[at + len(value):]


def test_truncated_ctr_section(ctr_cbm):
    cbm, _ = ctr_cbm
    core_end = 8 + int.from_bytes(cbm[4:8], "little")
    for cut in list(range(core_end, core_end + 40)) + list(range(core_end + 40, len(cbm), 37)):
        with pytest.raises(ModelFormatError, match="static_provider_v1|tables"):
            gbinfer.load(cbm[:cut], format="catboost")
    with pytest.raises(ModelFormatError, match="bytes follow the last CTR table"):
        gbinfer.load(cbm + b"\0\0\0\0")


def test_ctr_table_stride_disagrees_with_its_data(ctr_cbm):
    cbm, _ = ctr_cbm
    for at, root in _tables(cbm):
        base = root.table(0, "ModelCtrBase")
        if base.scalar(1, "b", 0, "CtrType") == 0:  # Borders: rows of TargetClassesCount int32 counts
            blob = len(root.array(2, np.uint8, "CTRBlob"))
            classes = next(c for c in range(3, 40) if blob % (4 * c))
            damaged = _patch(cbm, at + root._field(4), classes.to_bytes(4, "little"))
            with pytest.raises(ModelFormatError, match="CTRBlob.*stride"):
                gbinfer.load(damaged)
            return
    raise AssertionError("no Borders table")


def test_ctr_table_unknown_type_and_bucket_out_of_range(ctr_cbm):
    cbm, _ = ctr_cbm
    at, root = _tables(cbm)[-1]
    type_at = at + root.table(0, "ModelCtrBase")._field(1)
    with pytest.raises(ModelFormatError, match="CtrType"):
        gbinfer.load(_patch(cbm, type_at, b"\x09"))
    raw_start, count = root._vector(1, 1, "IndexHashRaw")
    buckets = np.frombuffer(cbm[at + raw_start:at + raw_start + count], dtype=[("h", "<u8"), ("r", "<u4")])
    used = int(np.flatnonzero(buckets["h"] != np.uint64(2**64 - 1))[0])
    row_at = at + raw_start + 12 * used + 8
    with pytest.raises(ModelFormatError, match="IndexHashRaw"):
        gbinfer.load(_patch(cbm, row_at, (10**6).to_bytes(4, "little")))
    size_at = at + raw_start - 4  # the vector's length: no longer 2**k whole buckets
    with pytest.raises(ModelFormatError, match="IndexHashRaw"):
        gbinfer.load(_patch(cbm, size_at, (count - 12).to_bytes(4, "little")))


def test_flipped_ctr_bytes_never_crash(ctr_cbm):
    cbm, df = ctr_cbm
    core_end = 8 + int.from_bytes(cbm[4:8], "little")
    rng = np.random.default_rng(SEED)
    for pos in rng.choice(np.arange(core_end, len(cbm)), size=250, replace=False):
        damaged = bytearray(cbm)
        damaged[pos] ^= int(rng.choice([0x01, 0x80, 0xFF]))
        try:
            g = gbinfer.load(bytes(damaged))
        except GbinferError as exc:
            assert isinstance(exc, ModelFormatError), exc
            continue
        g.predict(df)


@pytest.fixture(scope="module")
def tree_cbm(tmp_path_factory):
    df, rng = _frame(n=300)
    m = _train(catboost.CatBoostRegressor, df[["a", "b"]], _target(df, rng, "regr"), iterations=4, depth=3,
               grow_policy="Depthwise")
    d = tmp_path_factory.mktemp("trees")
    m.save_model(str(d / "m.cbm"))
    m.save_model(str(d / "m.json"), format="json")
    return (d / "m.cbm").read_bytes(), (d / "m.json").read_bytes()


def _trees(cbm: bytes) -> Table:
    return Table.root(cbm[8:], None, "TModelCore").table(1, "ModelTrees")


def test_step_node_out_of_range(tree_cbm):
    cbm, _ = tree_cbm
    start, count = _trees(cbm)._vector(10, 4, "NonSymmetricStepNodes")
    with pytest.raises(ModelFormatError, match=r"tree_nodes\[0\]/left"):
        gbinfer.load(_patch(cbm, 8 + start, (5000).to_bytes(2, "little")))  # root's left step past its tree
    last = 8 + start + 4 * (count - 1)
    with pytest.raises(ModelFormatError, match=r"tree_nodes\[\d+\]/right"):
        gbinfer.load(_patch(cbm, last + 2, (1).to_bytes(2, "little")))  # the last node's right step: no such node


def test_leaf_id_out_of_range(tree_cbm):
    cbm, _ = tree_cbm
    trees = _trees(cbm)
    start, count = trees._vector(11, 4, "NonSymmetricNodeIdToLeafId")
    ids = np.frombuffer(cbm[8 + start:8 + start + 4 * count], dtype="<u4")
    at = int(np.flatnonzero(ids != 0xFFFFFFFF)[-1])
    with pytest.raises(ModelFormatError, match=r"tree_nodes\[\d+\]/leaf|NonSymmetricNodeIdToLeafId"):
        gbinfer.load(_patch(cbm, 8 + start + 4 * at, (10**6).to_bytes(4, "little")))
    with pytest.raises(ModelFormatError, match=r"tree_nodes\[\d+\]/leaf"):  # a stop with no leaf
        gbinfer.load(_patch(cbm, 8 + start + 4 * at, b"\xff\xff\xff\xff"))
    sizes_at = trees._vector(2, 4, "TreeSizes")[0]
    with pytest.raises(ModelFormatError, match="NonSymmetricStepNodes|tree_splits"):
        gbinfer.load(_patch(cbm, 8 + sizes_at, (1).to_bytes(4, "little")))


def test_flipped_tree_bytes_never_crash(tree_cbm):
    """Damaged step nodes, leaf ids, splits or sizes: a ModelFormatError or a model whose every walk
    stays inside its tree (the kernels trust the checks)."""
    cbm, _ = tree_cbm
    df, _ = _frame(n=200)
    trees = _trees(cbm)
    spans = [trees._vector(slot, 4, name) for slot, name in ((10, "NonSymmetricStepNodes"),
                                                             (11, "NonSymmetricNodeIdToLeafId"), (1, "TreeSplits"),
                                                             (2, "TreeSizes"))]
    positions = np.concatenate([np.arange(8 + start - 4, 8 + start + 4 * count) for start, count in spans])
    rng = np.random.default_rng(SEED)
    for pos in rng.choice(positions, size=min(300, len(positions)), replace=False):
        damaged = bytearray(cbm)
        damaged[pos] ^= int(rng.choice([0x01, 0x02, 0x80, 0xFF]))
        try:
            g = gbinfer.load(bytes(damaged))
        except GbinferError as exc:
            assert isinstance(exc, ModelFormatError), exc
            continue
        g.predict(df[["a", "b"]])
        g.predict_leaf(df[["a", "b"]])


def test_damaged_tree_json_never_crashes(tree_cbm):
    _, js = tree_cbm
    df, _ = _frame(n=200)
    rng = np.random.default_rng(SEED)
    for pos in rng.choice(len(js), size=300, replace=False):
        damaged = bytearray(js)
        damaged[pos] = rng.choice(list(b'0123456789-.e,[]{}":x '))
        try:
            g = gbinfer.load(bytes(damaged))
        except GbinferError as exc:
            assert isinstance(exc, ModelFormatError), exc
            continue
        if g.num_features == 2:
            g.predict(df[["a", "b"]])
            g.predict_leaf(df[["a", "b"]])


def test_a_cycle_is_refused():
    """Children must lie later in their tree: a walk can never return to a node."""
    from gbinfer.oblivious import Oblivious

    common = dict(slot_column=[0], borders_per_slot=[np.array([0.5], np.float32)], nan_as_true=[False],
                  cat_column=[], values_per_cat=[], split_slot=[0], split_index=[0], tree_splits=[0, 0, 0],
                  tree_depths=[3], leaf_values=[1.0, 2.0], num_outputs=1, num_columns=1, scale=1.0, bias=[0.0],
                  node_leaf=[-1, 0, 1], tree_leaves=[2], source="hand-made")
    ok = Oblivious.build(node_left=[1, -1, -1], node_right=[2, -1, -1], **common)
    assert ulp64(gbinfer.Model(ok, *_meta(1)).predict(np.array([[0.0], [1.0]], np.float32), output_margin=True),
                 [1.0, 2.0]) == 0
    with pytest.raises(ModelFormatError, match=r"tree_nodes\[1\]/right.*cycle"):
        Oblivious.build(node_left=[1, -1, -1], node_right=[2, 0, -1], **common)
    with pytest.raises(ModelFormatError, match=r"tree_nodes\[0\]/left.*cycle"):
        Oblivious.build(node_left=[0, -1, -1], node_right=[2, -1, -1], **common)
    with pytest.raises(ModelFormatError, match=r"tree_nodes\[0\]/right.*outside"):
        Oblivious.build(node_left=[1, -1, -1], node_right=[3, -1, -1], **common)


def test_trees_of_one_leaf_and_no_binary_feature():
    """A node where every walk stops reads no split: a model with no binary feature at all works."""
    from gbinfer.oblivious import Oblivious

    b = Oblivious.build(slot_column=[], borders_per_slot=[], nan_as_true=[], cat_column=[], values_per_cat=[],
                        split_slot=[], split_index=[], tree_splits=[0, 0], tree_depths=[1, 1],
                        leaf_values=[0.25, 0.5], num_outputs=1, num_columns=1, scale=1.0, bias=[1.0],
                        node_left=[-1, -1], node_right=[-1, -1], node_leaf=[0, 0], tree_leaves=[1, 1])
    g = gbinfer.Model(b, *_meta(1))
    X = np.zeros((300, 1), np.float32)  # past the serial threshold too
    assert ulp64(g.predict(X, output_margin=True), np.full(300, 1.75)) == 0
    np.testing.assert_array_equal(g.predict_leaf(X[:3]), np.zeros((3, 2), np.uint32))


def _meta(num_features):
    from gbinfer.model import FeatureInfo, ModelMeta
    from gbinfer.objective import Objective

    meta = ModelMeta(num_features=num_features, num_outputs=1, base_score=np.zeros(1, np.float32),
                     source_library="catboost", source_version=())
    return meta, FeatureInfo(names=None, types=("float",) * num_features), Objective.catboost("RMSE", {})


def _first_leaf(node: dict) -> dict:
    while "split" in node:
        node = node["left"]
    return node


def test_malformed_json_trees(tree_cbm):
    _, js = tree_cbm
    for edit, field in (
            (lambda d: d["trees"][0].pop("left"), r"trees\[0\]/left"),
            (lambda d: d["trees"][0]["split"].update(split_index=10**6), "split_index"),
            (lambda d: _first_leaf(d["trees"][1]).update(value="x"), r"trees\[1\]/left.*/value"),
            (lambda d: _first_leaf(d["trees"][1]).update(value=[1.0, 2.0]), "trees"),  # a leaf of another width
            (lambda d: d["trees"][0].update(split=[]), r"trees\[0\]/split"),
    ):
        doc = json.loads(js)
        edit(doc)
        with pytest.raises(ModelFormatError, match=field):
            gbinfer.load(json.dumps(doc).encode())
