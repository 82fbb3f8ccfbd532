"""Batch scoring in Spark: ``predict_udf(m)`` is a pandas UDF (Arrow batches) whose column holds
``m.predict`` of the feature columns it is applied to.

The model travels as its ``.xgbrs`` bytes in a Spark broadcast (``gbinfer.shipped``): each
executor fetches it once, and each Python worker loads it once and keeps it by digest for every
later batch and task. A task predicts with ``spark.task.cpus`` threads, the cores Spark set aside
for it. Needs ``pip install 'gbinfer[spark]'``.
"""

from __future__ import annotations

import numpy as np

from .errors import DataError, MissingDependency
from .scoring import Scoring, match_columns
from .shipped import receive, ship

SHAPES = ("array", "struct")


def predict_udf(model, *, output_margin=False, iteration_range=None, kind="predict", approximate=False,
                shape="array", nthread=None):
    """A function of the feature columns that returns the prediction column.

    ``kind``: "predict" (``output_margin`` for raw scores), "contribs" (TreeSHAP, ``approximate``
    for Saabas) or "leaf". One value a row is a ``double`` column (``long`` for leaf indices);
    several are an ``array<double>``, or with ``shape="struct"`` a struct of fields
    ``prediction_0`` ... (``contrib_*``, ``leaf_*``); multi-output contributions are
    ``array<array<double>>``. Columns given by name are matched to the model's feature names
    (any order; every feature, nothing else); ``Column`` objects are taken by position.
    """
    pyspark = _pyspark()
    if shape not in SHAPES:
        raise DataError(f"shape must be one of {', '.join(SHAPES)}, got {shape!r:.60}")
    if nthread is not None and (not isinstance(nthread, int) or isinstance(nthread, bool) or nthread < 1):
        raise DataError(f"nthread must be a positive int (threads a task uses) or None, got {nthread!r:.60}")
    scoring = Scoring(kind, output_margin, None if iteration_range is None else tuple(iteration_range),
                      approximate)
    shipped = ship(model)
    tail, _ = scoring.probe(receive(shipped.digest, shipped.blob))  # the model workers will have
    return_type = _return_type(pyspark, scoring, tail, shape)
    names = model.features.names or tuple(f"f{j}" for j in range(model.num_features))
    fetch = _broadcast(pyspark, shipped.blob)
    digest, struct = shipped.digest, shape == "struct"

    def score(*columns):
        import pandas as pd

        frame = pd.concat(columns, axis=1, ignore_index=True)
        frame.columns = names
        model = receive(digest, fetch)
        out = scoring.run(model, frame if model.features.names is not None else _rows(frame), nthread or _task_cpus())
        return _column(pd, out, scoring.kind == "leaf", struct, return_type)

    udf = pyspark.sql.functions.pandas_udf(_hinted(score, struct), return_type)

    def apply(*columns):
        return udf(*_ordered(model, columns))

    return apply


def _pyspark():
    try:
        import pyspark
        import pyspark.sql.functions
        import pyspark.sql.types
    except ImportError as exc:
        raise MissingDependency(exc.name or "pyspark", "spark", "gbinfer.spark") from None
    return pyspark


def _hinted(score, struct: bool):
    """``score`` with the type hints Spark reads to make it a scalar pandas UDF (a struct result
    is returned as a DataFrame)."""
    import pandas as pd

    def hinted(*columns):
        return score(*columns)

    # set as objects: this module's annotations are strings (``from __future__``) naming a local import
    hinted.__annotations__ = {"columns": pd.Series, "return": pd.DataFrame if struct else pd.Series}
    return hinted


def _ordered(model, columns) -> list:
    """The feature columns in the model's order: names matched to the model's, or Columns as
    given. Their types are Spark's to know: a batch of the wrong type is refused in the task."""
    if len(columns) == 1 and isinstance(columns[0], (list, tuple)):
        columns = tuple(columns[0])
    if columns and all(isinstance(c, str) for c in columns):
        return [columns[i] for i in match_columns(model, columns, "the feature columns")]
    if len(columns) != model.num_features:
        raise DataError(f"the UDF got {len(columns)} feature columns but the model expects {model.num_features}")
    return list(columns)


def _rows(frame):
    """A positional frame as one array: numbers as float32 rows, mixed columns as objects."""
    if all(isinstance(t, np.dtype) and t.kind in "fiub" for t in frame.dtypes):
        return frame.to_numpy(dtype=np.float32)
    return frame.to_numpy(dtype=object)


def _broadcast(pyspark, blob: bytes):
    """A function returning the model's bytes on an executor: a broadcast when a SparkContext
    runs here, else the bytes themselves (Spark Connect has no broadcast; the UDF then carries them)."""
    context = pyspark.SparkContext._active_spark_context
    if context is None:
        return lambda: blob
    handle = context.broadcast(blob)
    return lambda: handle.value


def _task_cpus() -> int:
    from pyspark import TaskContext

    context = TaskContext.get()
    return max(1, int(context.cpus())) if context is not None else 1


def _return_type(pyspark, scoring, tail, shape):
    T = pyspark.sql.types
    element = T.LongType() if scoring.kind == "leaf" else T.DoubleType()
    if len(tail) == 0:
        return element
    if len(tail) == 1:
        if shape == "struct":
            return T.StructType([T.StructField(f"{scoring.prefix()}_{j}", element) for j in range(tail[0])])
        return T.ArrayType(element)
    return T.ArrayType(T.ArrayType(element))


def _column(pd, out: np.ndarray, leaf: bool, struct: bool, return_type):
    """The UDF's result for one batch, as Spark's Arrow conversion takes it: float32 outputs
    widen exactly to double, leaf indices to long."""
    out = out.astype(np.int64 if leaf else np.float64, copy=False)
    if out.ndim == 1:
        return pd.Series(out)
    if struct:
        return pd.DataFrame(out, columns=[f.name for f in return_type.fields])
    return pd.Series(list(out) if out.ndim == 2 else [row.tolist() for row in out])
