"""gbinfer.dask on a real distributed cluster (two worker processes, one thread each): lazy
results equal to the local ``Model`` calls, bit for bit, for every output kind and library; the
model crosses as one graph key of ``.xgbrs`` bytes and each worker loads it once; typed errors on
the client for columns and types that do not fit the model."""

from __future__ import annotations

import catboost
import dask.array as da
import dask.dataframe as dd
import numpy as np
import pytest
from distributed import Client, LocalCluster

import gbinfer
import gbinfer.dask
from gbinfer.errors import DataError, GbinferError
from scale_models import NUMERIC, frame, models


@pytest.fixture(scope="module")
def client():
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                      worker_dashboard_address=None) as cluster, Client(cluster) as c:
        yield c


@pytest.fixture(scope="module")
def trained():
    return models()


@pytest.fixture(scope="module")
def data():
    df = frame()
    return df, dd.from_pandas(df[NUMERIC], npartitions=3), da.from_array(df[NUMERIC].to_numpy(), chunks=(250, 2))


def test_binary_frame_and_array_equal_local_predict(client, trained, data):
    m, booster = trained["xgb_binary"]
    df, ddf, X = data
    lazy = gbinfer.dask.predict(m, ddf)
    assert isinstance(lazy, dd.Series)  # nothing computed yet
    got = lazy.compute()
    assert got.name == "prediction" and got.index.equals(df.index)
    assert got.dtype == np.float32 and np.array_equal(got.to_numpy(), m.predict(df[NUMERIC]), equal_nan=True)
    import xgboost

    margin = gbinfer.dask.predict(m, X, output_margin=True).compute()  # columns in two chunks: rechunked
    assert np.array_equal(margin, booster.predict(xgboost.DMatrix(df[NUMERIC]), output_margin=True))
    partial = gbinfer.dask.predict(m, ddf, iteration_range=(0, 3)).compute()
    assert np.array_equal(partial.to_numpy(), m.predict(df[NUMERIC], iteration_range=(0, 3)))


def test_multiclass_contribs_and_leaf(client, trained, data):
    m, _ = trained["xgb_multi"]
    df, ddf, X = data
    local = df[NUMERIC]
    probs = gbinfer.dask.predict(m, ddf).compute()
    assert list(probs.columns) == ["prediction_0", "prediction_1", "prediction_2"]
    assert np.array_equal(probs.to_numpy(), m.predict(local))
    assert np.array_equal(gbinfer.dask.predict(m, X).compute(), m.predict(local))
    contribs = gbinfer.dask.predict_contribs(m, ddf)  # (rows, 3, 5): an Array, whatever the input
    assert isinstance(contribs, da.Array)
    assert np.array_equal(contribs.compute(), m.predict_contribs(local))
    assert np.array_equal(gbinfer.dask.predict_contribs(m, X, approximate=True).compute(),
                          m.predict_contribs(local, approximate=True))
    leaf = gbinfer.dask.predict_leaf(m, ddf).compute()
    assert list(leaf.columns) == [f"leaf_{t}" for t in range(15)]
    assert np.array_equal(leaf.to_numpy(), m.predict_leaf(local))


def test_binary_contribs_frame(client, trained, data):
    m, _ = trained["xgb_binary"]
    df, ddf, _ = data
    got = gbinfer.dask.predict_contribs(m, ddf).compute()
    assert list(got.columns) == [f"contrib_{j}" for j in range(5)]
    assert np.array_equal(got.to_numpy(), m.predict_contribs(df[NUMERIC]))


def test_lightgbm(client, trained, data):
    m, booster = trained["lgb"]
    df, ddf, X = data
    got = gbinfer.dask.predict(m, ddf).compute()
    assert np.array_equal(got.to_numpy(), m.predict(df[NUMERIC]))
    assert np.array_equal(got.to_numpy(), booster.predict(df[NUMERIC]))
    contribs = gbinfer.dask.predict_contribs(m, X).compute()  # .xgbrs keeps LightGBM's node counts
    assert np.array_equal(contribs, m.predict_contribs(df[NUMERIC]))
    assert np.array_equal(contribs, booster.predict(df[NUMERIC], pred_contrib=True))


def test_catboost_with_string_column(client, trained):
    m, cb = trained["cb"]
    df = frame(seed=1)
    ddf = dd.from_pandas(df, npartitions=3)  # dask holds the strings as Arrow strings
    got = gbinfer.dask.predict(m, ddf).compute()
    assert np.array_equal(got.to_numpy(), m.predict(df))
    assert np.array_equal(gbinfer.dask.predict(m, ddf, output_margin=True).compute().to_numpy(),
                          cb.predict(df, prediction_type="RawFormulaVal"))
    assert np.array_equal(gbinfer.dask.predict_leaf(m, ddf).compute().to_numpy(), m.predict_leaf(df))
    contribs = gbinfer.dask.predict_contribs(m, ddf).compute().to_numpy()  # and CatBoost's leaf weights
    assert np.array_equal(contribs, m.predict_contribs(df))
    assert np.array_equal(contribs, cb.get_feature_importance(catboost.Pool(df, cat_features=["colour"]),
                                                              type="ShapValues"))


def test_the_model_travels_as_one_key_of_bytes_and_loads_once_per_worker(client, trained, data):
    m, _ = trained["xgb_binary"]
    lazy = gbinfer.dask.predict(m, data[1])
    graph = dict(lazy.__dask_graph__())
    names = [k[0] if isinstance(k, tuple) else k for k in graph]
    shipped = [n for n in names if str(n).startswith("gbinfer-model-")]
    assert len(shipped) == 1  # one key, whatever the number of partitions
    digest = shipped[0][len("gbinfer-model-"):]

    def loaded():
        from gbinfer import shipped as s

        return id(s._loaded[digest]) if digest in s._loaded else None

    lazy.compute()
    first = client.run(loaded)
    gbinfer.dask.predict(m, data[2]).compute()  # another graph, the same model
    assert client.run(loaded) == first and all(first.values())
    assert client.run(lambda: __import__("gbinfer.dask").dask._task_threads()) == {w: 1 for w in first}


@pytest.mark.parametrize("case", ["absent", "extra", "string for number", "float for catboost category",
                                  "array width", "1-D array", "not dask", "not a model", "approximate lightgbm",
                                  "iteration_range", "nthread"])
def test_refusals_are_typed_and_raised_on_the_client(trained, data, case):
    df, ddf, X = data
    xgb, _ = trained["xgb_binary"]
    cb, _ = trained["cb"]
    lgb, _ = trained["lgb"]
    calls = {
        "absent": lambda: gbinfer.dask.predict(xgb, ddf[["a", "b", "c"]]),
        "extra": lambda: gbinfer.dask.predict(xgb, dd.from_pandas(df, npartitions=2)),
        "string for number": lambda: gbinfer.dask.predict(xgb, ddf.assign(a=ddf.a.astype(str))),
        "float for catboost category": lambda: gbinfer.dask.predict(cb, ddf.assign(colour=ddf.a)),
        "array width": lambda: gbinfer.dask.predict(xgb, X[:, :3]),
        "1-D array": lambda: gbinfer.dask.predict(xgb, X[:, 0]),
        "not dask": lambda: gbinfer.dask.predict(xgb, df[NUMERIC]),
        "not a model": lambda: gbinfer.dask.predict("model.json", ddf),
        "approximate lightgbm": lambda: gbinfer.dask.predict_contribs(lgb, ddf, approximate=True),
        "iteration_range": lambda: gbinfer.dask.predict(xgb, ddf, iteration_range=(0, 99)),
        "nthread": lambda: gbinfer.dask.predict(xgb, ddf, nthread=0),
    }
    with pytest.raises(GbinferError) as info:
        calls[case]()
    if case in ("absent", "extra", "string for number", "float for catboost category"):
        assert isinstance(info.value, DataError)
        assert {"absent": "'d'", "extra": "'colour'", "string for number": "'a'",
                "float for catboost category": "'colour'"}[case] in str(info.value)


def test_frame_column_order_follows_the_model(client, trained, data):
    m, _ = trained["xgb_binary"]
    df, ddf, _ = data
    shuffled = ddf[["d", "b", "a", "c"]]
    assert np.array_equal(gbinfer.dask.predict(m, shuffled).compute().to_numpy(), m.predict(df[NUMERIC]))
