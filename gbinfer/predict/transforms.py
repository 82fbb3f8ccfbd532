"""Margin -> output transforms and base-score links, compiled so that ``expf``/``logf`` are the
C library's, as in XGBoost, and every step stays in float32 where XGBoost's does."""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from ..errors import ModelFormatError
from ..objective import BaseScoreLink, Transform

_CLAMP = np.float32(88.7)
_EPS = np.float32(1e-16)
_ONE = np.float32(1.0)
_RT_EPS = np.float32(1e-6)  # XGBoost's kRtEps: the logistic link bounds its base score by it


# The elementwise transforms work in place: the margin buffer is the caller's own fresh array.

@njit(cache=True, nogil=True)
def _sigmoid(m):
    flat = m.reshape(m.size)
    for i in range(flat.size):
        x = min(-flat[i], _CLAMP)
        flat[i] = _ONE / (math.exp(x) + _ONE + _EPS)
    return m


@njit(cache=True, nogil=True)
def _exp(m):
    flat = m.reshape(m.size)
    for i in range(flat.size):
        flat[i] = math.exp(flat[i])
    return m


@njit(cache=True, nogil=True)
def _softmax(m):
    for row in range(m.shape[0]):
        wmax = m[row, 0]
        for k in range(1, m.shape[1]):
            wmax = max(m[row, k], wmax)
        wsum = 0.0  # XGBoost sums the float32 exponentials in double
        for k in range(m.shape[1]):
            e = math.exp(m[row, k] - wmax)
            m[row, k] = e
            wsum += e
        total = np.float32(wsum)
        for k in range(m.shape[1]):
            m[row, k] = m[row, k] / total
    return m


@njit(cache=True, nogil=True)
def _argmax(m):
    out = np.empty(m.shape[0], dtype=np.float32)
    for row in range(m.shape[0]):
        best = 0
        for k in range(1, m.shape[1]):
            if m[row, k] > m[row, best]:
                best = k
        out[row] = best
    return out


@njit(cache=True, nogil=True)
def _link(values, kind):
    out = np.empty_like(values)
    for i in range(values.size):
        p = values[i]
        if kind == 1:
            out[i] = -math.log(_ONE / p - _ONE)
        elif kind == 2:
            out[i] = math.log(p)
        else:
            out[i] = p
    return out


@njit(cache=True, nogil=True)
def transform_in_place(m, code):
    """Apply transform ``code`` (a ``Transform`` value other than ARGMAX) to the 2-D float32 ``m``."""
    if code == 1:
        _sigmoid(m)
    elif code == 2:
        _exp(m)
    elif code == 3:
        flat = m.reshape(m.size)
        for i in range(flat.size):
            flat[i] = np.float32(1.0) if flat[i] > 0 else np.float32(0.0)
    elif code == 4:
        _softmax(m)


def apply_transform(margin: np.ndarray, transform: Transform) -> np.ndarray:
    """Output of ``margin`` (C-contiguous float32, rows x outputs), computed in place where the
    shape allows; ARGMAX gives shape (rows,)."""
    if transform == Transform.ARGMAX:
        return _argmax(margin)
    if transform != Transform.IDENTITY:
        transform_in_place(margin, int(transform))
    return margin


def base_score_to_margin(values: np.ndarray, objective, source=None, field=None) -> np.ndarray:
    """XGBoost's ProbToMargin, in float32, after its checks of the base score (CheckIntercept).

    The logistic link takes [0, 1] and bounds it to [1e-6, 1 - 1e-6] as XGBoost does (0 and 1
    are its degenerate single-label case). A base score that is not a finite number, or whose
    margin is not one (log of a score <= 0: XGBoost refuses it for reg:gamma and predicts NaN or
    -inf with the other log links), is a ``ModelFormatError``: every prediction would be garbage.
    """
    p = np.ascontiguousarray(values, dtype=np.float32)

    def refuse(problem):
        raise ModelFormatError(source, field, f"{problem} (objective {objective.name})")

    if not np.all(np.isfinite(p)):
        refuse(f"{p[~np.isfinite(p)][0]} is not a finite number")
    if objective.link == BaseScoreLink.LOGIT:
        if np.any((p < 0) | (p > 1)):
            refuse(f"{p[(p < 0) | (p > 1)][0]} is outside [0, 1], which the logistic loss requires")
        p = np.clip(p, _RT_EPS, _ONE - _RT_EPS)
    elif objective.link == BaseScoreLink.LOG and np.any(p <= 0):
        refuse(f"{p[p <= 0][0]} is not positive, which the log link requires")
    margin = _link(p, int(objective.link))
    if not np.all(np.isfinite(margin)):
        refuse(f"{p[~np.isfinite(margin)][0]} gives the margin {margin[~np.isfinite(margin)][0]}")
    return margin
