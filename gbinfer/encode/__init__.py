"""The model's input encoders: a ``DataMatrix`` (what the user passed) turned into what the kernels read.

Only the model knows what a categorical column's values mean (the categories it was trained on),
so each source library has its encoder, built once per model and kept beside it. Plain arrays
carry no column types and pass through untouched: the encoder is only consulted for input whose
columns carry types (pandas, pyarrow, a dict of columns).
"""

from __future__ import annotations

import weakref

import numpy as np

from .xgboost import XGBoostEncoder

_BY_SOURCE = {"xgboost": XGBoostEncoder}
_encoders: "weakref.WeakKeyDictionary[object, object]" = weakref.WeakKeyDictionary()


def encoder(model):
    """The model's encoder, built on first use and kept as long as the model lives."""
    enc = _encoders.get(model)
    if enc is None:
        enc = _BY_SOURCE.get(model.meta.source_library, XGBoostEncoder)(model.features)
        _encoders[model] = enc
    return enc


def encode(model, dm) -> np.ndarray:
    """The dense float32 rows the kernels read for ``dm`` (checked against the model's features)."""
    if dm.categorical is None:
        return dm.values
    return encoder(model)(dm)


__all__ = ["encode", "encoder", "XGBoostEncoder"]
