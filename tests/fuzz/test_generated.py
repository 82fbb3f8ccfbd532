"""Generated rather than mutated: random valid XGBoost models (numeric and categorical splits,
special thresholds and leaf values, several outputs, vector leaves, DART weights, linear models,
models trained for zero rounds), written as XGBoost JSON and UBJSON and saved by gbinfer in its
own formats, must load and give the reference walk's margins and leaves bit for bit."""

from __future__ import annotations

import json
import random
import sys
from pathlib import Path

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import gbinfer

from . import mutators, reference

sys.path.insert(0, str(Path(__file__).resolve().parent))
import worker  # noqa: E402

_f32 = st.floats(width=32, allow_nan=False, allow_infinity=False)
_threshold = st.one_of(_f32, st.sampled_from([0.0, -0.0, float("inf"), float("-inf"), float("nan"), 1e-45, 2.5]))
_leaf = st.one_of(_f32, st.sampled_from([0.0, -0.0, 1e-45, -3.4e38]))


@st.composite
def _tree(draw, num_features: int, num_outputs: int, max_nodes: int = 15, vector: str | None = None):
    """A tree in XGBoost's layout: nodes numbered breadth first, categories per categorical split."""
    nodes = [None]  # per node: None (pending) or a dict
    frontier, i = [0], 0
    while i < len(nodes):
        split = len(nodes) + 2 <= max_nodes and draw(st.booleans())
        if not split:
            nodes[i] = {"leaf": draw(_leaf)}
        else:
            categorical = draw(st.booleans())
            node = {"left": len(nodes), "right": len(nodes) + 1, "feature": draw(st.integers(0, num_features - 1)),
                    "default_left": draw(st.booleans()), "categorical": categorical,
                    "threshold": draw(_threshold)}
            if categorical:
                node["categories"] = sorted(draw(st.sets(st.integers(0, 40), min_size=1, max_size=6)))
            nodes[i] = node
            nodes += [None, None]
        i += 1
    n = len(nodes)
    leaf_or = [nd.get("leaf", 0.0) for nd in nodes]
    tree = {
        "tree_param": {"num_nodes": str(n), "size_leaf_vector": "1", "num_feature": str(num_features),
                       "num_deleted": "0"},
        "left_children": [nd.get("left", -1) for nd in nodes],
        "right_children": [nd.get("right", -1) for nd in nodes],
        "split_indices": [nd.get("feature", 0) for nd in nodes],
        "split_conditions": [nd["threshold"] if "left" in nd else leaf_or[j] for j, nd in enumerate(nodes)],
        "default_left": [int(nd.get("default_left", False)) for nd in nodes],
        "split_type": [int(nd.get("categorical", False)) for nd in nodes],
        "base_weights": [0.0] * n, "loss_changes": [0.0] * n, "sum_hessian": [0.0] * n, "parents": [0] * n,
        "categories_nodes": [], "categories_segments": [], "categories_sizes": [], "categories": [], "id": 0,
    }
    for j, nd in enumerate(nodes):
        if nd.get("categorical"):
            tree["categories_nodes"].append(j)
            tree["categories_segments"].append(len(tree["categories"]))
            tree["categories_sizes"].append(len(nd["categories"]))
            tree["categories"] += nd["categories"]
    if vector:  # one weight vector per leaf: in leaf_weights through the right-child slot (3.2+), or per node
        k = num_outputs
        tree["tree_param"]["size_leaf_vector"] = str(k)
        rows = [[draw(_leaf) for _ in range(k)] for _ in nodes]
        if vector == "leaf_weights":
            leaves = [j for j, nd in enumerate(nodes) if "leaf" in nd]
            order = draw(st.permutations(range(len(leaves))))
            tree["leaf_weights"] = [v for r in order for v in rows[leaves[r]]]
            for slot, r in enumerate(order):
                tree["right_children"][leaves[r]] = slot
        else:
            tree["base_weights"] = [v for r in rows for v in r]
    return tree


@st.composite
def _model(draw):
    num_features = draw(st.integers(1, 6))
    num_outputs = draw(st.integers(1, 3))
    vector = draw(st.sampled_from([None, "leaf_weights", "base_weights"])) if num_outputs > 1 else None
    trees = draw(st.lists(_tree(num_features, num_outputs, vector=vector), min_size=0, max_size=6))
    dart = not vector and draw(st.booleans())
    objective = ("reg:squarederror" if vector else "multi:softprob" if num_outputs > 1
                 else draw(st.sampled_from(["reg:squarederror", "binary:logistic", "count:poisson"])))
    base = draw(st.floats(0.0625, 0.9375, width=32))
    model = {"gbtree_model_param": {"num_trees": str(len(trees)), "num_parallel_tree": "1"},
             "trees": [dict(t, id=i) for i, t in enumerate(trees)],
             "tree_info": [draw(st.integers(0, num_outputs - 1)) for _ in trees],
             "iteration_indptr": list(range(len(trees) + 1))}
    gbtree = {"name": "gbtree", "model": model}
    booster = gbtree
    if not vector and draw(st.integers(0, 4)) == 0:  # a linear model, or one trained for zero rounds
        weights = draw(st.one_of(st.just([]), st.lists(_leaf, min_size=(num_features + 1) * num_outputs,
                                                         max_size=(num_features + 1) * num_outputs)))
        booster = {"name": "gblinear", "model": {"weights": weights}}
    elif dart:
        weights = [draw(st.floats(0.0078125, 4, width=32)) for _ in trees]
        booster = {"name": "dart", "gbtree": gbtree, "weight_drop": weights}
    return {
        "version": [3, 2, 0],
        "learner": {
            "attributes": {}, "feature_names": [], "feature_types": [],
            "gradient_booster": booster,
            "learner_model_param": {"base_score": f"[{base!r}]",
                                    "num_class": str(num_outputs if num_outputs > 1 and not vector else 0),
                                    "num_feature": str(num_features), "num_target": str(num_outputs if vector else 1),
                                    "boost_from_average": str(int(draw(st.booleans())))},
            "objective": {"name": objective},
        },
    }


def _check(data: bytes, again: bool = False):
    ref = reference.read(data)
    rows, X = worker.inputs(ref)
    model = gbinfer.load(data)
    got = np.asarray(model.predict(X, output_margin=True), dtype=np.float32).reshape(len(rows), -1)
    want = reference.margins(ref, rows)
    same = (got.view(np.uint32) == want.view(np.uint32)) | (np.isnan(got) & np.isnan(want))
    assert same.all(), (got, want)
    if ref.linear is None and ref.trees:
        leaves = np.asarray(model.predict_leaf(X), dtype=np.float32).reshape(len(rows), -1)
        assert np.array_equal(leaves, reference.leaves(ref, rows))
    return model


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(doc=_model(), seed=st.integers(0, 2**32))
def test_generated_models_match_the_reference_in_every_format(doc, seed, tmp_path_factory):
    model = _check(json.dumps(doc).encode())
    _check(mutators.ubj_encode(doc, random.Random(seed)))
    # gbinfer's own formats, written by gbinfer and read back by the reference on its own
    where = tmp_path_factory.mktemp("saved")
    for suffix in (".json", ".xgbrs"):
        gbinfer.save(model, where / f"m{suffix}")
        _check((where / f"m{suffix}").read_bytes())
