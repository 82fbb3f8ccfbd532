"""gbinfer.spark on a local SparkSession (local[2]): UDF columns equal to the local ``Model`` calls,
bit for bit once widened to double, for every output kind and library; names matched to the
model's features; typed refusals. One session and few Spark jobs, so the module stays fast."""

from __future__ import annotations

import os
import sys

import numpy as np
import pytest
from pyspark.sql import SparkSession

import gbinfer.spark
from gbinfer.errors import DataError, GbinferError
from scale_models import NUMERIC, frame, models


@pytest.fixture(scope="module")
def spark():
    os.environ["PYSPARK_PYTHON"] = sys.executable  # the workers need this interpreter's packages
    session = (SparkSession.builder.master("local[2]").appName("gbinfer-tests")
               .config("spark.ui.enabled", "false").config("spark.sql.shuffle.partitions", "2")
               .config("spark.sql.execution.arrow.pyspark.enabled", "true").getOrCreate())
    yield session
    session.stop()


@pytest.fixture(scope="module")
def trained():
    return models()


@pytest.fixture(scope="module")
def sdf(spark):
    return spark.createDataFrame(frame()).repartition(2)


def _stacked(column) -> np.ndarray:
    """A collected array / nested-array column as one numpy array."""
    return np.array([np.array([np.asarray(v) for v in row]) for row in column])


def test_every_output_kind_of_xgboost_models(trained, sdf):
    binary, _ = trained["xgb_binary"]
    multi, _ = trained["xgb_multi"]
    udf = gbinfer.spark.predict_udf
    out = sdf.select(
        *NUMERIC,
        udf(binary)(*NUMERIC).alias("p"),
        udf(binary, output_margin=True)("d", "c", "b", "a").alias("margin"),  # matched by name
        udf(binary, kind="contribs")(*NUMERIC).alias("phi"),
        udf(binary, kind="leaf", iteration_range=(0, 4))(*NUMERIC).alias("leaf"),
        udf(multi)(*NUMERIC).alias("probs"),
        udf(multi, shape="struct")(*NUMERIC).alias("probs_struct"),
        udf(multi, kind="contribs", approximate=True)(*NUMERIC).alias("phi_multi"),
    ).toPandas()
    X = out[NUMERIC]
    assert out.p.dtype == np.float64
    assert np.array_equal(out.p.to_numpy(), binary.predict(X).astype(np.float64))
    assert np.array_equal(out.margin.to_numpy(), binary.predict(X, output_margin=True).astype(np.float64))
    assert np.array_equal(_stacked(out.phi), binary.predict_contribs(X).astype(np.float64))
    assert np.array_equal(_stacked(out.leaf), binary.predict_leaf(X, iteration_range=(0, 4)).astype(np.int64))
    assert np.array_equal(_stacked(out.probs), multi.predict(X).astype(np.float64))
    struct = np.array([[row[f"prediction_{j}"] for j in range(3)] for row in out.probs_struct])
    assert np.array_equal(struct, multi.predict(X).astype(np.float64))
    assert np.array_equal(_stacked(out.phi_multi), multi.predict_contribs(X, approximate=True).astype(np.float64))


def test_lightgbm_and_catboost_with_a_string_column(trained, sdf):
    lgb, booster = trained["lgb"]
    cb, cb_model = trained["cb"]
    columns = [*NUMERIC, "colour"]
    out = sdf.select(
        *columns,
        gbinfer.spark.predict_udf(lgb)(*NUMERIC).alias("lgb"),
        gbinfer.spark.predict_udf(cb)(*columns).alias("cb"),
        gbinfer.spark.predict_udf(cb, output_margin=True)(*columns).alias("cb_raw"),
        gbinfer.spark.predict_udf(cb, kind="leaf")(*columns).alias("cb_leaf"),
        gbinfer.spark.predict_udf(lgb, kind="contribs")(*NUMERIC).alias("lgb_phi"),
        gbinfer.spark.predict_udf(cb, kind="contribs")(*columns).alias("cb_phi"),
    ).toPandas()
    assert np.array_equal(out.lgb.to_numpy(), lgb.predict(out[NUMERIC]))
    assert np.array_equal(out.lgb.to_numpy(), booster.predict(out[NUMERIC]))
    assert np.array_equal(out.cb.to_numpy(), cb.predict(out[columns]))
    assert np.array_equal(out.cb_raw.to_numpy(), cb_model.predict(out[columns], prediction_type="RawFormulaVal"))
    assert np.array_equal(_stacked(out.cb_leaf), cb.predict_leaf(out[columns]).astype(np.int64))
    # contributions: the node counts and leaf weights travel in the model's bytes
    assert np.array_equal(_stacked(out.lgb_phi), booster.predict(out[NUMERIC], pred_contrib=True))
    assert np.array_equal(_stacked(out.cb_phi), cb.predict_contribs(out[columns]))


@pytest.mark.parametrize("case", ["absent", "extra", "twice", "count", "shape", "kind", "not a model",
                                  "approximate lightgbm", "nthread"])
def test_refusals_are_typed_and_raised_on_the_driver(trained, sdf, case):
    xgb, _ = trained["xgb_binary"]
    lgb, _ = trained["lgb"]
    udf = gbinfer.spark.predict_udf
    calls = {
        "absent": lambda: udf(xgb)("a", "b", "c"),
        "extra": lambda: udf(xgb)(*NUMERIC, "colour"),
        "twice": lambda: udf(xgb)("a", "b", "c", "c"),
        "count": lambda: udf(xgb)(*[sdf[c] for c in NUMERIC[:3]]),
        "shape": lambda: udf(xgb, shape="table"),
        "kind": lambda: udf(xgb, kind="proba"),
        "not a model": lambda: udf(b"model bytes"),
        "approximate lightgbm": lambda: udf(lgb, kind="contribs", approximate=True),
        "nthread": lambda: udf(xgb, nthread=-1),
    }
    with pytest.raises(GbinferError) as info:
        calls[case]()
    if case in ("absent", "extra"):
        assert isinstance(info.value, DataError) and {"absent": "'d'", "extra": "'colour'"}[case] in str(info.value)


def test_a_string_column_for_a_numeric_feature_is_refused_by_name_in_the_task(trained, sdf):
    """Spark knows a column's type only when its batch reaches the worker: the DataError raised
    there reaches the driver inside Spark's PythonException, with its class and message."""
    xgb, _ = trained["xgb_binary"]
    with pytest.raises(Exception) as info:
        sdf.select(gbinfer.spark.predict_udf(xgb)("a", "b", "c", sdf.colour.alias("d"))).collect()
    assert "DataError: column 'd' holds str values, but the model's feature is numeric" in str(info.value)
