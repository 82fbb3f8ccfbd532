"""One kind of prediction, described as data, so a worker can make it on a partition: what
``gbinfer.dask`` and ``gbinfer.spark`` send beside the model's bytes.

The collections these front-ends return must declare their shape before any partition is
predicted, so ``Scoring.probe`` predicts one row the model itself makes up, and the columns and
dtypes a partition will bring are checked against the model here, on the client, once.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .errors import DataError
from .model import Model

KINDS = ("predict", "contribs", "leaf")


@dataclass(frozen=True)
class Scoring:
    """``kind`` is "predict" (with ``output_margin``), "contribs" (``approximate``) or "leaf"."""

    kind: str = "predict"
    output_margin: bool = False
    iteration_range: tuple | None = None
    approximate: bool = False

    def __post_init__(self):
        if self.kind not in KINDS:
            raise DataError(f"kind must be one of {', '.join(KINDS)}, got {self.kind!r}")
        for name in ("output_margin", "approximate"):
            value = getattr(self, name)
            if not isinstance(value, (bool, np.bool_)):
                raise DataError(f"{name} must be True or False, got {value!r:.60} ({type(value).__name__})")

    def run(self, model: Model, data, nthread: int | None) -> np.ndarray:
        """The prediction ``model`` makes on ``data``, exactly as the local call would."""
        if self.kind == "contribs":
            return model.predict_contribs(data, approximate=self.approximate, iteration_range=self.iteration_range,
                                          nthread=nthread)
        if self.kind == "leaf":
            return model.predict_leaf(data, iteration_range=self.iteration_range, nthread=nthread)
        return model.predict(data, output_margin=self.output_margin, iteration_range=self.iteration_range,
                             nthread=nthread)

    def probe(self, model: Model) -> tuple[tuple[int, ...], np.dtype]:
        """(shape of one row's output, dtype) of this prediction, from one made-up row; also
        refuses, before any work is sent, what the model cannot do (contributions of a CatBoost
        model, an ``iteration_range`` out of bounds)."""
        out = self.run(model, probe_row(model), 1)
        return out.shape[1:], out.dtype

    def prefix(self) -> str:
        """The column names' stem when each row has several values: ``prediction_0``, ..."""
        return {"predict": "prediction", "contribs": "contrib", "leaf": "leaf"}[self.kind]


def probe_row(model: Model):
    """One row every model accepts: 0.0 for numbers, a training category (or its code 0) for an
    XGBoost or LightGBM categorical feature, the string "0" for a CatBoost one."""
    import pandas as pd

    features = model.features
    names = features.names or tuple(f"f{j}" for j in range(model.num_features))
    columns = {}
    for j, name in enumerate(names):
        columns[name] = np.zeros(1, dtype=np.float32)
        if features.types is not None and features.types[j] == "c":
            known = features.categories[j] if features.categories is not None else None
            if known is not None and known.values:
                columns[name] = pd.Categorical([known.values[0]], categories=list(known.values))
            elif model.meta.source_library == "catboost":
                columns[name] = np.array(["0"], dtype=object)
    frame = pd.DataFrame(columns)
    return frame if features.names is not None else frame.to_numpy()


def is_categorical(model: Model, j: int) -> bool:
    return model.features.types is not None and model.features.types[j] == "c"


def match_columns(model: Model, names, where: str) -> list[int]:
    """For each model feature, the index of its column in ``names``.

    With feature names in the model, every feature must be there by name and no other column may
    be (an id or a label fed as a feature is a silent wrong answer); without them, columns are
    taken by position and only their count is checked.
    """
    names = [str(n) for n in names]
    expected = model.features.names
    if expected is None:
        if len(names) != model.num_features:
            raise DataError(f"{where} has {len(names)} columns but the model expects {model.num_features} features "
                            "(it has no feature names, so columns are taken by position)")
        return list(range(len(names)))
    if len(set(names)) != len(names):
        raise DataError(f"{where} names {sorted({n for n in names if names.count(n) > 1})[:10]} more than once")
    absent = [n for n in expected if n not in names]
    extra = [n for n in names if n not in expected]
    if absent or extra:
        parts = ([f"model features absent: {absent[:10]}"] if absent else []) + \
                ([f"columns that are not features: {extra[:10]} (select the model's features, "
                  "model.features.names)"] if extra else [])
        raise DataError(f"{where}: {'; '.join(parts)}")
    return [names.index(n) for n in expected]


def check_kinds(model: Model, kinds, where: str) -> None:
    """``kinds[j]``, feature ``j``'s column kind as numpy spells it ("f", "i", "u", "b" numbers,
    "O" strings or objects) or "category", fits the feature: a string column for a numeric
    feature, and a float column for a CatBoost categorical one (CatBoost refuses floats there),
    are refused by name."""
    names = model.features.names
    for j, kind in enumerate(kinds):
        shown = repr(names[j]) if names is not None else f"column {j}"
        if is_categorical(model, j):
            if model.meta.source_library == "catboost" and kind == "f":
                raise DataError(f"{where}: {shown} is a CatBoost categorical feature and holds floats; "
                                "CatBoost takes strings or integers there")
        elif kind not in ("f", "i", "u", "b"):
            raise DataError(f"{where}: {shown} is a numeric feature of the model but the column holds "
                            f"{'categories' if kind == 'category' else 'strings or objects'}; cast it to numbers")
