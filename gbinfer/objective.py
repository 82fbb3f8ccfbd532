"""What turns a margin into the output a user sees, per objective of each source library.

The arithmetic itself runs in ``predict.transforms`` (compiled, so ``expf``/``logf`` come from
the same C library the source library calls); this module only names the transforms and maps
each library's objective names onto them. An unknown objective is an error, never a silent
identity: a wrong transform is a wrong answer.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum

from .errors import UnsupportedModelError


class Transform(IntEnum):
    """Margin -> output. Values are stable: they are stored in saved models."""

    IDENTITY = 0
    SIGMOID = 1  # 1 / (1 + exp(-x)), XGBoost's clamped float32 form
    EXP = 2
    HINGE = 3  # 1 if x > 0 else 0
    SOFTMAX = 4  # per-row probabilities over the outputs
    ARGMAX = 5  # per-row index of the largest output, shape (n,)


class LightGBMTransform(IntEnum):
    """Margin -> output conversions only LightGBM objectives use, numbered after ``Transform``.
    The saved-model schema names them beside ``Transform``'s (since 1.2); only a model with
    lightgbm semantics may carry them."""

    SIGNED_SQUARE = 6  # sign(x) * x * x (regression losses with ``sqrt``)
    LOG1P_EXP = 7  # log1p(exp(x)) (cross_entropy_lambda)


class BaseScoreLink(IntEnum):
    """How a base score given in output space becomes a margin (XGBoost's ProbToMargin)."""

    IDENTITY = 0
    LOGIT = 1  # -log(1/p - 1)
    LOG = 2


# name -> (transform, link). Aliases kept by XGBoost for old models are listed too.
_XGBOOST = {
    "reg:squarederror": (Transform.IDENTITY, BaseScoreLink.IDENTITY),
    "reg:linear": (Transform.IDENTITY, BaseScoreLink.IDENTITY),
    "reg:squaredlogerror": (Transform.IDENTITY, BaseScoreLink.IDENTITY),
    "reg:pseudohubererror": (Transform.IDENTITY, BaseScoreLink.IDENTITY),
    "reg:absoluteerror": (Transform.IDENTITY, BaseScoreLink.IDENTITY),
    "reg:quantileerror": (Transform.IDENTITY, BaseScoreLink.IDENTITY),
    "reg:expectileerror": (Transform.IDENTITY, BaseScoreLink.IDENTITY),
    "reg:logistic": (Transform.SIGMOID, BaseScoreLink.LOGIT),
    "binary:logistic": (Transform.SIGMOID, BaseScoreLink.LOGIT),
    "binary:logitraw": (Transform.IDENTITY, BaseScoreLink.IDENTITY),
    "binary:hinge": (Transform.HINGE, BaseScoreLink.IDENTITY),
    "count:poisson": (Transform.EXP, BaseScoreLink.LOG),
    "reg:gamma": (Transform.EXP, BaseScoreLink.LOG),
    "reg:tweedie": (Transform.EXP, BaseScoreLink.LOG),
    "survival:cox": (Transform.EXP, BaseScoreLink.LOG),
    "survival:aft": (Transform.EXP, BaseScoreLink.LOG),
    "multi:softmax": (Transform.ARGMAX, BaseScoreLink.IDENTITY),
    "multi:softprob": (Transform.SOFTMAX, BaseScoreLink.IDENTITY),
    "rank:pairwise": (Transform.IDENTITY, BaseScoreLink.IDENTITY),
    "rank:ndcg": (Transform.IDENTITY, BaseScoreLink.IDENTITY),
    "rank:map": (Transform.IDENTITY, BaseScoreLink.IDENTITY),
}


# CatBoost loss name -> its default prediction (CatBoost's ``predict``: Probability, Exponent or
# RawFormulaVal). Outputs are float64, computed in ``predict.oblivious``.
_CATBOOST = {
    "Logloss": Transform.SIGMOID, "CrossEntropy": Transform.SIGMOID,
    "MultiClass": Transform.SOFTMAX, "MultiClassOneVsAll": Transform.SIGMOID,
    "Poisson": Transform.EXP, "Tweedie": Transform.EXP,
    **{name: Transform.IDENTITY for name in (
        "RMSE", "MAE", "Quantile", "Expectile", "MAPE", "Huber", "Lq", "LogCosh", "MultiRMSE", "LogLinQuantile",
        "YetiRank", "YetiRankPairwise", "PairLogit", "PairLogitPairwise", "QueryRMSE", "QuerySoftMax")},
}


@dataclass(frozen=True)
class Objective:
    """A source library's objective: its name, parameters, and the transform it implies."""

    name: str
    transform: Transform
    link: BaseScoreLink
    params: dict = field(default_factory=dict)

    @classmethod
    def lightgbm(cls, line: str | None, num_class: int, *, source: str | None = None) -> "Objective":
        """The objective of a LightGBM ``objective=`` header line (None: a custom objective, raw
        scores). Parameters stay strings as written, except ``sigmoid`` (parsed as LightGBM
        parses it). LightGBM's transforms run in float64; ``sigmoid`` scales the margin first."""
        from .compat.lightgbm_objective import parse_objective

        name, transform, params = parse_objective(line, num_class, source)
        return cls(name, transform, BaseScoreLink.IDENTITY, params)

    @classmethod
    def catboost(cls, name: str, params: dict | None = None, *, source: str | None = None) -> "Objective":
        try:
            transform = _CATBOOST[name]
        except KeyError:
            raise UnsupportedModelError(
                source, "params/loss_function/type",
                f"CatBoost loss {name!r} is not supported; supported: {', '.join(sorted(_CATBOOST))}") from None
        return cls(name, transform, BaseScoreLink.IDENTITY, dict(params or {}))

    @classmethod
    def xgboost(cls, name: str, params: dict | None = None, *, source: str | None = None) -> "Objective":
        try:
            transform, link = _XGBOOST[name]
        except KeyError:
            raise UnsupportedModelError(
                source, "learner/objective/name",
                f"unknown XGBoost objective {name!r}; known: {', '.join(sorted(_XGBOOST))}") from None
        return cls(name, transform, link, dict(params or {}))
