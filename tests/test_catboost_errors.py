"""Damaged CatBoost files the fuzz suite (tests/fuzz, formats ``catboost_cbm`` and ``catboost_json``)
found loading: each is refused with a ``ModelFormatError`` naming the field, as catboost itself
refuses it (checked where catboost refuses it cleanly rather than crashing)."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import pytest

import gbinfer
from gbinfer.compat.flatbuffers import Table
from gbinfer.errors import ModelFormatError

SEEDS = Path(__file__).parent.parent / "fixtures" / "catboost_fuzz"


def _cbm(name: str) -> bytes:
    return (SEEDS / f"{name}.cbm").read_bytes()


def _trees(cbm: bytes) -> Table:
    return Table.root(cbm[8:], None, "TModelCore").table(1, "ModelTrees")


def _put(cbm: bytes, at: int, value: bytes) -> bytes:
    """``cbm`` with ``value`` written at FlatBuffer position ``at``."""
    return cbm[:8 + at] + value + cbm[8 + at + len(value):]


def _catboost_refuses(data: bytes):
    catboost = pytest.importorskip("catboost")
    with pytest.raises(catboost.CatBoostError):
        catboost.CatBoost().load_model(blob=data)


def test_a_string_length_past_its_terminating_zero_is_refused():
    cbm = _cbm("nan_min")
    start, count = _trees(cbm).tables(5, "FloatFeatures")[0]._vector(4, 1, "FeatureId")
    longer = next(n for n in range(count + 1, count + 16) if cbm[8 + start + n])  # a length ending on a non-zero
    damaged = _put(cbm, start - 4, struct.pack("<I", longer))
    with pytest.raises(ModelFormatError, match="FeatureId"):
        gbinfer.load(damaged)
    _catboost_refuses(damaged)
