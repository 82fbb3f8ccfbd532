"""Which column of an input file feeds which feature of the model, and what a cell may hold.

A file whose columns carry names (a CSV header, a Parquet or Arrow schema) is matched to the
model's feature names by name, never by position: a file that lists the same features in
another order is reordered, a feature the file lacks is an error naming it, and so is a column
the model does not know (XGBoost refuses a DataFrame with extra columns too, and a stray id or
label column read as a feature would give silently wrong numbers). Files without names, and
models without names, are read by position.
"""

from __future__ import annotations

import numpy as np

from ..errors import DataError

# Cells that mean "missing" in a text file (compared case-insensitively, surrounding spaces ignored).
MISSING_CELLS = frozenset(("", "na", "n/a", "nan", "null"))


def _shown(names, limit: int = 8) -> str:
    names = list(names)
    return ", ".join(repr(n) for n in names[:limit]) + (f" and {len(names) - limit} more" if len(names) > limit else "")


def match(source: str, columns: list[str], model_names, num_features: int, hint: str = "") -> np.ndarray | None:
    """Indices into ``columns`` of the model's features, in the model's order (``None``: the same order).

    ``model_names`` None: the model cannot say which column is which, so the columns are taken
    in their order and only their count is checked. ``hint`` ends the message when no column
    is named after one of the model's features.
    """
    if model_names is None:
        if len(columns) != num_features:
            raise DataError(f"{source} has {len(columns)} columns but the model expects {num_features} features "
                            "(read by position: the model has no feature names)")
        return None
    position: dict[str, int] = {}
    for i, name in enumerate(columns):
        if name in position:
            raise DataError(f"{source}: column name {name!r} appears twice (columns {position[name] + 1} and {i + 1})")
        position[name] = i
    absent = [n for n in model_names if n not in position]
    if len(absent) == len(model_names):
        raise DataError(f"{source} names none of the model's features ({_shown(model_names)}){hint}")
    if absent:
        raise DataError(f"{source} has no column named {_shown(absent)} (a feature of the model)")
    known = set(model_names)
    extra = [c for c in columns if c not in known]
    if extra:
        what = "column {} is not a feature" if len(extra) == 1 else "columns {} are not features"
        raise DataError(f"{source}: {what.format(_shown(extra))} of the model; remove "
                        f"{'it' if len(extra) == 1 else 'them'} (the model's features are {_shown(model_names)})")
    order = np.array([position[n] for n in model_names], dtype=np.intp)
    return None if np.array_equal(order, np.arange(len(order))) else order


def category_kinds(model) -> list[str | None]:
    """Per feature, what its cells are: None for numbers, "str" or "int" for category values,
    "value" for CatBoost's.

    A categorical feature of a model that stores its training categories (XGBoost 3.1+, LightGBM
    trained on a frame) is looked up by value, so its cells are handed on as values of the
    categories' kind (text for string categories, integers for integer ones). A model without
    stored categories was trained on numeric category codes (XGBoost's and LightGBM's rule for
    such models), so its cells are numbers like any other; except CatBoost's, which hashes each
    value's text: its categorical cells are handed on as they are, text or integers, never as numbers.
    """
    from ..predict.lightgbm import categories_by_feature, training_categories

    features, num_features, source = model.features, model.num_features, model.meta.source_library
    kinds: list[str | None] = [None] * num_features
    if source == "catboost":
        for f in np.flatnonzero(features.categorical_mask(num_features)[:num_features]):
            kinds[f] = "value"
        return kinds
    if source == "lightgbm":
        for f, stored in enumerate((categories_by_feature(training_categories(model), features.types) or ())
                                   [:num_features]):
            if stored is not None:
                kinds[f] = _lightgbm_kind(stored, features.names[f] if features.names else f"f{f}")
        return kinds
    for f, stored in enumerate((getattr(features, "categories", None) or ())[:num_features]):
        if stored is not None:
            kinds[f] = "str" if stored.dtype == "str" else "int"
    return kinds


def _lightgbm_kind(categories: list, name: str) -> str:
    if all(isinstance(c, str) for c in categories):
        return "str"
    if all(isinstance(c, int) and not isinstance(c, bool) for c in categories):
        return "int"
    raise DataError(f"feature {name!r}: the model's training categories are neither all text nor all integers "
                    f"({', '.join(repr(c) for c in categories[:3])}, ...); a file cannot say which one a cell "
                    "means: predict from a pandas DataFrame with a 'category' column instead")


def columns_frame(names, num_features: int, columns: list) -> dict:
    """``{feature name: column}`` in the model's order: what ``DataMatrix`` takes when some columns
    hold category values (it keeps their types; an array would make them numbers)."""
    names = names if names is not None else [f"f{i}" for i in range(num_features)]
    return dict(zip(names, columns))


def is_number(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return True
