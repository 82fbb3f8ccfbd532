"""LightGBM's ``objective=`` line: which output transform a model's name and parameters mean.

The line is the objective's own ``ToString`` (``binary sigmoid:1``, ``multiclass num_class:3``,
``regression sqrt``, ...), read back by ``ObjectiveFunction::CreateObjectiveFunction``. Only
what changes predictions is interpreted: ``sqrt`` (regression losses but huber),
``sigmoid:S`` (binary, multiclassova) and ``num_class:K`` (checked against the header).
"""

from __future__ import annotations

from ..errors import ModelFormatError, UnsupportedModelError
from ..objective import LightGBMTransform, Transform

_SQRT_CAPABLE = {"regression", "regression_l1", "quantile", "mape", "fair"}
_FIXED = {
    "huber": Transform.IDENTITY,
    "poisson": Transform.EXP,
    "gamma": Transform.EXP,
    "tweedie": Transform.EXP,
    "cross_entropy": Transform.SIGMOID,  # 1 / (1 + exp(-x)), the sigmoid with S = 1
    "cross_entropy_lambda": LightGBMTransform.LOG1P_EXP,
    "lambdarank": Transform.IDENTITY,
    "rank_xendcg": Transform.IDENTITY,
    "custom": Transform.IDENTITY,
}
# ParseObjectiveAlias, applied as LightGBM applies it: to the whole line (old releases wrote
# ``xentropy`` and ``xentlambda``)
_ALIASES = {
    **dict.fromkeys(("regression_l2", "mean_squared_error", "mse", "l2", "l2_root", "root_mean_squared_error",
                     "rmse"), "regression"),
    **dict.fromkeys(("mean_absolute_error", "l1", "mae"), "regression_l1"),
    "softmax": "multiclass",
    **dict.fromkeys(("multiclass_ova", "ova", "ovr"), "multiclassova"),
    "xentropy": "cross_entropy",
    "xentlambda": "cross_entropy_lambda",
    "mean_absolute_percentage_error": "mape",
    **dict.fromkeys(("xendcg", "xe_ndcg", "xe_ndcg_mart", "xendcg_mart"), "rank_xendcg"),
    **dict.fromkeys(("none", "null", "na"), "custom"),
}
KNOWN = sorted(_SQRT_CAPABLE | set(_FIXED) | {"binary", "multiclass", "multiclassova"})
FIELD = "objective"


def parse_objective(line: str | None, num_class: int, source) -> tuple[str, Transform | LightGBMTransform, dict]:
    """(name, transform, params) of an objective line; ``params['sigmoid']`` is a float."""
    if line is None:
        return "custom", Transform.IDENTITY, {}
    tokens = _ALIASES.get(line, line).split(" ")
    name = tokens[0]
    params: dict = {}
    for token in tokens[1:]:
        key, sep, value = token.partition(":")
        params[key] = value if sep else ""
    if name in _SQRT_CAPABLE:
        return name, (LightGBMTransform.SIGNED_SQUARE if "sqrt" in tokens[1:] else Transform.IDENTITY), params
    if name in _FIXED:
        if name == "cross_entropy":
            params["sigmoid"] = 1.0
        return name, _FIXED[name], params
    if name in ("multiclass", "multiclassova"):
        k = params.get("num_class")
        if k is None or not k.isdigit() or int(k) != num_class:
            raise ModelFormatError(source, FIELD, f"{name} needs num_class:{num_class} (the header's num_class), "
                                                  f"found {k!r}")
        if name == "multiclass":
            return name, Transform.SOFTMAX, params
    if name in ("binary", "multiclassova"):
        sigmoid = atof(params.get("sigmoid", ""))
        if not sigmoid > 0.0:  # LightGBM refuses these models too
            raise ModelFormatError(source, FIELD, f"{name} needs sigmoid:S with S > 0, found "
                                                  f"{params.get('sigmoid')!r}")
        params["sigmoid"] = sigmoid
        return name, Transform.SIGMOID, params
    raise UnsupportedModelError(source, FIELD, f"unknown LightGBM objective {name!r}; known: {', '.join(KNOWN)}")


def atof(text: str) -> float:
    """LightGBM's fast ``Common::Atof``, which parses objective parameters: digits before the
    point, then the fraction as an integer divided by 10**n (computed by its ``Pow``), then an
    exponent applied by repeated scaling. It can differ from a correctly rounded parse in the
    last bit, and the model predicts with its result. NaN for anything it would not read."""
    p, n = 0, len(text)
    while p < n and text[p] == " ":
        p += 1
    sign = 1.0
    if p < n and text[p] in "+-":
        sign = -1.0 if text[p] == "-" else 1.0
        p += 1
    if not (p < n and text[p] in "0123456789.eE"):
        return float("nan")
    value = 0.0
    while p < n and text[p] in "0123456789":
        value = value * 10.0 + (ord(text[p]) - 48)
        p += 1
    if p < n and text[p] == ".":
        right, digits = 0.0, 0
        p += 1
        while p < n and text[p] in "0123456789":
            right = (ord(text[p]) - 48) + right * 10.0
            digits += 1
            p += 1
        value += right / _pow(10.0, digits)
    frac, scale = False, 1.0
    if p < n and text[p] in "eE":
        p += 1
        if p < n and text[p] in "+-":
            frac = text[p] == "-"
            p += 1
        expon = 0
        while p < n and text[p] in "0123456789":
            expon = (expon * 10 + ord(text[p]) - 48) & 0xFFFFFFFF
            p += 1
        expon = min(expon, 308)
        while expon >= 50:
            scale *= 1e50
            expon -= 50
        while expon >= 8:
            scale *= 1e8
            expon -= 8
        while expon > 0:
            scale *= 10.0
            expon -= 1
    return sign * (value / scale if frac else value * scale)


def _pow(base: float, power: int) -> float:
    """``Common::Pow``: the same multiplications in the same order."""
    if power < 0:
        return 1.0 / _pow(base, -power)
    if power == 0:
        return 1.0
    if power % 2 == 0:
        return _pow(base * base, power // 2)
    if power % 3 == 0:
        return _pow(base * base * base, power // 3)
    return base * _pow(base, power - 1)
