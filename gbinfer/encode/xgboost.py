"""XGBoost's input encoding: categorical columns re-coded by value through the training categories.

What XGBoost 3.1+ does with a DataFrame (``src/encoder/ordinal.h::Recode``): each of the column's
own categories is looked up, by value, among the categories the model was trained on, and the
column's codes are replaced by the training codes. So a frame whose categories are in another
order, hold only a subset, or belong to a one-row frame predicts as the training frame would.
A missing value stays missing; ``missing`` is compared with the column's own codes, before
re-coding (``DataMatrix`` has done that). Refused, as XGBoost refuses them: a numeric column for
a feature trained as categorical and the reverse, categories of another kind (strings for
integers, floats). An unseen category is refused by name, as XGBoost >= 3.3 does (3.1-3.2 map
some to a neighbouring category).

Beyond XGBoost: plain string (or object) columns are accepted for categorical features and
re-coded the same way, and integer categories of any width match by value. A model that stores
no categories (trained from arrays, or before 3.1) reads the column's own codes as XGBoost does;
strings are refused there, since nothing says which code they stand for.
"""

from __future__ import annotations

import numpy as np

from ..errors import DataError


class XGBoostEncoder:
    """Built once per model from its ``FeatureInfo``; ``encoder(dm)`` gives the kernels' rows."""

    def __init__(self, features):
        self.names = features.names
        stored = features.categories or ()
        # feature -> {value: training code}, for features with readable stored categories
        self.lookup = {f: {v: k for k, v in enumerate(c.values)} for f, c in enumerate(stored)
                       if c is not None and c.values is not None}
        self.categories = {f: c for f, c in enumerate(stored) if c is not None}
        types = features.types or ()
        self.categorical = frozenset(f for f, t in enumerate(types) if t == "c") | frozenset(self.categories)

    def __call__(self, dm) -> np.ndarray:
        columns = dm.categorical
        for j, column in columns.items():
            if column.kind == "values" and j not in self.categories:
                raise DataError(f"column {self._name(dm, j)!r} holds {column.dtype} values, but " + (
                    "the model stores no training categories to turn them into codes (it was trained from arrays "
                    "or by XGBoost < 3.1); pass the training codes as numbers" if j in self.categorical else
                    "the model's feature is numeric; pass numbers"))
        if not self.categories:
            return dm.values  # XGBoost reads the column's own codes, whatever the feature's type
        for j, column in columns.items():
            if j not in self.categorical:
                raise DataError(f"column {self._name(dm, j)!r} holds categorical values (dtype {column.dtype}), "
                                "but the model's feature is numeric; pass numbers")
        for f in self.categories:
            if f < dm.num_col and f not in columns:
                raise DataError(f"column {self._name(dm, f)!r} is numeric, but the model's feature was trained as "
                                "categorical; pass a pandas 'category' column or strings, as XGBoost requires")
        X = np.array(dm.values, dtype=np.float32, order="C")
        for j, column in columns.items():
            if j in self.categories:
                X[:, j] = self._recode(dm, j, column, X[:, j])
        return X

    def _name(self, dm, j: int) -> str:
        if dm.feature_names is not None:
            return dm.feature_names[j]
        return self.names[j] if self.names is not None else f"f{j}"

    def _recode(self, dm, f: int, column, codes: np.ndarray) -> np.ndarray:
        table = self._table(dm, f, column)
        present = ~np.isnan(codes)
        out = np.full(len(codes), np.nan, dtype=np.float32)
        out[present] = table[codes[present].astype(np.int64)]
        return out

    def _table(self, dm, f: int, column) -> np.ndarray:
        """The training code (float32) of each of the column's own categories."""
        training = self.categories[f]
        name = self._name(dm, f)
        if training.values is None:
            raise DataError(f"column {name!r}: the model's categories for this feature hold non-ASCII strings, "
                            "which XGBoost before 3.4 stored incorrectly, so they cannot be matched by value; "
                            "pass the training codes as numbers instead")
        values = column.categories
        _check_kind(name, training.dtype, values, column.dtype)
        lookup = self.lookup[f]
        table = np.empty(len(values), dtype=np.float32)
        for k, v in enumerate(values.tolist()):
            code = lookup.get(v)
            if code is None:
                shown = ", ".join(repr(c) for c in training.values[:5]) + (", ..." if len(training.values) > 5 else "")
                raise DataError(f"column {name!r}: category {v!r} was not seen in training (the model knows "
                                f"{len(training.values)}: {shown}); XGBoost >= 3.3 refuses it too")
            table[k] = code
        return table


def _check_kind(name: str, trained: str, values: np.ndarray, dtype: str) -> None:
    """The column's categories must be of the training kind: strings for strings, integers for integers."""
    if values.dtype.kind in "iu":
        ok = trained != "str"
    elif values.dtype.kind == "O":
        want = str if trained == "str" else (int, np.integer)
        ok = all(isinstance(v, want) and not isinstance(v, (bool, np.bool_)) for v in values.tolist())
    else:
        ok = False  # float, bool or other category dtypes: XGBoost refuses them
    if not ok:
        expected = "strings" if trained == "str" else f"integers ({trained})"
        raise DataError(f"column {name!r} has categories of dtype {dtype}, but the model's feature was trained on "
                        f"{expected}; XGBoost refuses this type mismatch too")
