"""Model metadata as the v2 protocol describes a model: its inputs (the 2-D ``input`` tensor, and
one column per named feature, with the training categories of categorical ones where the model
stores them) and its outputs."""

from __future__ import annotations

from .inputs import MATRIX

# what predict returns, by source library: XGBoost computes in float32, the others in float64
_OUTPUT = {"xgboost": "FP32"}


def model_metadata(name: str, model) -> dict:
    features = model.features
    inputs = [{"name": MATRIX, "datatype": "FP32", "shape": [-1, model.num_features]}]
    if features.names:
        types = features.types or ("q",) * len(features.names)
        categories = features.categories or (None,) * len(features.names)
        for fname, ftype, cats in zip(features.names, types, categories):
            entry = {"name": fname, "datatype": "BYTES" if ftype == "c" else "FP32", "shape": [-1]}
            if ftype == "c" and cats is not None and cats.values is not None:
                entry["parameters"] = {"categories": [str(v) for v in cats.values]}
            inputs.append(entry)
    k = model.num_outputs
    datatype = _OUTPUT.get(model.meta.source_library, "FP64")
    shape = [-1] if k == 1 else [-1, k]
    outputs = [{"name": "predict", "datatype": datatype, "shape": shape},
               {"name": "margin", "datatype": datatype, "shape": shape}]
    return {"name": name, "platform": f"gbinfer_{model.meta.source_library}", "inputs": inputs,
            "outputs": outputs,
            "parameters": {"objective": model.objective.name, "num_features": model.num_features,
                           "num_outputs": k}}
