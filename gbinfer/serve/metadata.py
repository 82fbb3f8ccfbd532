"""Model metadata as the v2 protocol describes a model: its inputs (the 2-D ``input`` tensor, and
one column per named feature, with the training categories of categorical ones where the model
stores them) and its outputs."""

from __future__ import annotations

from ..predict.lightgbm import categories_by_feature, training_categories
from .inputs import MATRIX

# what predict and predict_leaf return, by source library: XGBoost computes in float32 (and
# gives leaf indices as floats, as its predict(pred_leaf=True) does), the others in float64
_OUTPUT = {"xgboost": "FP32"}
_LEAF = {"xgboost": "FP32", "lightgbm": "INT32", "catboost": "UINT32"}
# what a number is compared in: LightGBM in float64 (an FP32 tensor would round the client's
# numbers first), XGBoost and CatBoost in float32
_INPUT = {"lightgbm": "FP64"}


def _categories(model) -> list:
    """Per feature, the categories it was trained on where the model stores them, else None."""
    features = model.features
    if features.categories:
        return [c.values if c is not None else None for c in features.categories]
    by_feature = categories_by_feature(training_categories(model), features.types) \
        if model.meta.source_library == "lightgbm" else None
    return by_feature or [None] * len(features.names)


def model_metadata(name: str, model) -> dict:
    features = model.features
    number = _INPUT.get(model.meta.source_library, "FP32")
    inputs = [{"name": MATRIX, "datatype": number, "shape": [-1, model.num_features]}]
    if features.names:
        types = features.types or ("q",) * len(features.names)
        for fname, ftype, cats in zip(features.names, types, _categories(model)):
            entry = {"name": fname, "datatype": "BYTES" if ftype == "c" else number, "shape": [-1]}
            if cats is not None:
                entry["parameters"] = {"categories": [str(v) for v in cats]}
            inputs.append(entry)
    k = model.num_outputs
    datatype = _OUTPUT.get(model.meta.source_library, "FP64")
    shape = [-1] if k == 1 else [-1, k]
    outputs = [{"name": "predict", "datatype": datatype, "shape": shape},
               {"name": "margin", "datatype": datatype, "shape": shape},
               {"name": "leaf", "datatype": _LEAF.get(model.meta.source_library, "INT32"), "shape": [-1, -1]}]
    return {"name": name, "platform": f"gbinfer_{model.meta.source_library}", "inputs": inputs,
            "outputs": outputs,
            "parameters": {"objective": model.objective.name, "num_features": model.num_features,
                           "num_outputs": k}}
