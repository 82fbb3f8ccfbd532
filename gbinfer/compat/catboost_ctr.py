"""CatBoost's CTR descriptions and CTR value tables as a ``.cbm`` holds them.

The descriptions are ``TModelTrees.CtrFeatures`` of the FlatBuffer core (``ctr_data.fbs``):
``TCtrFeature{Ctr: TModelCtr{Base: TModelCtrBase{FeatureCombination, CtrType,
TargetBorderClassifierIdx}, TargetBorderIdx, PriorNum, PriorDenom, Shift, Scale}, Borders}``.

The tables follow the core in the file when ``ModelPartIds`` is ``["static_provider_v1"]``
(``TFullModel::Save`` then ``TStaticCtrProvider::Save``, ``TCtrData::Save``): a size (uint32
little-endian; 0xFFFFFFFF announces a uint64 instead, as ``util/ysaveload.h``'s ``SaveSize``
writes it) counting the tables, then per table a size and that many bytes of FlatBuffer whose
root is ``TCtrValueTable{ModelCtrBase, IndexHashRaw, CTRBlob, CounterDenominator,
TargetClassesCount}``. ``IndexHashRaw`` is an open-addressing hash table of 2**k packed
12-byte buckets (uint64 hash, uint32 row; hash 2**64-1 marks an empty bucket); ``CTRBlob`` holds
the rows: ``TargetClassesCount`` int32 class counts for Borders and Buckets, one int32 count for
Counter and FeatureFreq, (float32 target sum, int32 count) for the target mean values. A table
belongs to every CTR whose ``TModelCtrBase`` equals its own.

Both are read into what the JSON reader produces (a CTR description dict; a table of hashes
ascending and float64 counts), so ``_build`` treats the two formats alike.
"""

from __future__ import annotations

import numpy as np

from ..errors import ModelFormatError
from ..oblivious import CTR_TYPES
from .flatbuffers import Table

PART_ID = "static_provider_v1"
_EMPTY_BUCKET = (1 << 64) - 1
_BUCKET = np.dtype([("hash", "<u8"), ("row", "<u4")])  # packed: 12 bytes
_MEAN = np.dtype([("sum", "<f4"), ("count", "<i4")])
_FLOAT_SPLIT = np.dtype([("index", "<i4"), ("border", "<f4")])
_ONE_HOT_SPLIT = np.dtype([("index", "<i4"), ("value", "<i4")])


def base_key(base: Table | None, source, where: str) -> tuple[str, str]:
    """(CTR type, identifier) of a ``TModelCtrBase``; equal bases give equal identifiers."""
    if base is None:
        raise ModelFormatError(source, where, "is missing")
    code = base.scalar(1, "b", 0, "CtrType")
    if not 0 <= code < len(CTR_TYPES):
        raise ModelFormatError(source, f"{base.path}/CtrType", f"is {code}; known: 0 to {len(CTR_TYPES) - 1} "
                                                               f"({', '.join(CTR_TYPES)})")
    combination = base.table(0, "FeatureCombination")
    if combination is None:
        raise ModelFormatError(source, f"{base.path}/FeatureCombination", "is missing")
    cats = combination.array(0, np.int32, "CatFeatures")
    floats = combination.array(1, _FLOAT_SPLIT, "FloatSplits")
    one_hot = combination.array(2, _ONE_HOT_SPLIT, "OneHotSplits")
    classifier = base.scalar(2, "i", 0, "TargetBorderClassifierIdx")
    key = (f"{CTR_TYPES[code]}|cats {cats.tolist()}|floats {[(int(f), float(b)) for f, b in floats]}"
           f"|one-hot {[(int(c), int(v)) for c, v in one_hot]}|classifier {classifier}")
    return CTR_TYPES[code], key


def ctr_feature(feature: Table, source) -> dict:
    """One ``TCtrFeature`` as the JSON reader describes a CTR (``catboost._ctr``)."""
    ctr = feature.table(0, "Ctr")
    if ctr is None:
        raise ModelFormatError(source, f"{feature.path}/Ctr", "is missing")
    base = ctr.table(0, "Base")
    kind, key = base_key(base, source, f"{ctr.path}/Base")
    combination = base.table(0, "FeatureCombination")
    out = {"kind": kind, "identifier": key,
           "cats": combination.array(0, np.int32, "CatFeatures").tolist(),
           "floats": [(int(f), np.float32(b)) for f, b in combination.array(1, _FLOAT_SPLIT, "FloatSplits")],
           "one_hot": [(int(c), int(v)) for c, v in combination.array(2, _ONE_HOT_SPLIT, "OneHotSplits")],
           "target_border": ctr.scalar(1, "i", 0, "TargetBorderIdx")}
    for slot, name, default, field in ((2, "prior_numerator", 0.0, "PriorNum"), (3, "prior_denominator", 1.0,
                                                                                   "PriorDenom"),
                                       (4, "shift", 0.0, "Shift"), (5, "scale", 1.0, "Scale")):
        value = np.float32(ctr.scalar(slot, "f", default, field))
        if not np.isfinite(value):
            raise ModelFormatError(source, f"{ctr.path}/{field}", f"is {value!r}, expected a finite number")
        out[name] = value
    out["borders"] = feature.array(1, np.float32, "Borders")
    return out


def _size(data: bytes, pos: int, source, field: str) -> tuple[int, int]:
    """(value, position after it) of a ``SaveSize``-written size at ``pos``."""
    if pos + 4 > len(data):
        raise ModelFormatError(source, field, f"is cut off: the file ends at byte {len(data)} (truncated?)")
    value = int.from_bytes(data[pos:pos + 4], "little")
    if value != 0xFFFFFFFF:
        return value, pos + 4
    if pos + 12 > len(data):
        raise ModelFormatError(source, field, f"is cut off: the file ends at byte {len(data)} (truncated?)")
    return int.from_bytes(data[pos + 4:pos + 12], "little"), pos + 12


def read_tables(data: bytes, pos: int, source) -> dict:
    """The CTR value tables stored from byte ``pos`` of the file to its end: identifier ->
    (uint64 hashes ascending, float64 rows [hashes, stride], counter denominator)."""
    where = PART_ID
    count, pos = _size(data, pos, source, f"{where}/table count")
    if count > (len(data) - pos) // 4:  # each table takes at least its 4-byte size
        raise ModelFormatError(source, f"{where}/table count", f"is {count}, more than the {len(data) - pos} bytes "
                                                               "left can hold (truncated?)")
    tables = {}
    for i in range(count):
        tw = f"{where}/tables[{i}]"
        size, pos = _size(data, pos, source, f"{tw}/size")
        if size > len(data) - pos:
            raise ModelFormatError(source, f"{tw}/size", f"is {size} bytes, but the file holds {len(data) - pos} "
                                                         "more (truncated?)")
        key, table = _table(data[pos:pos + size], source, tw)
        if key in tables:
            raise ModelFormatError(source, f"{tw}/ModelCtrBase", "repeats an earlier table's CTR")
        tables[key] = table
        pos += size
    if pos != len(data):
        raise ModelFormatError(source, where, f"{len(data) - pos} bytes follow the last CTR table; expected none")
    return tables


def _reachable(hashes: np.ndarray, empty: np.ndarray) -> np.ndarray:
    """Which used buckets CatBoost's lookup can reach: it probes from ``hash & mask`` one bucket
    on at a time and stops at an empty one, so a hash stored behind an empty bucket on its probe
    path is never found (as if absent)."""
    n = len(hashes)
    at = np.flatnonzero(~empty)
    holes = np.flatnonzero(empty)
    before = holes[(np.searchsorted(holes, at) - 1) % len(holes)]  # the last empty bucket before each, circularly
    start = (hashes[at] & np.uint64(n - 1)).astype(np.int64)
    return (at - start) % n < (at - before) % n


def _table(buf: bytes, source, where: str) -> tuple[str, tuple]:
    root = Table.root(buf, source, where)
    kind, key = base_key(root.table(0, "ModelCtrBase"), source, f"{where}/ModelCtrBase")
    raw = root.array(1, np.uint8, "IndexHashRaw")
    blob = root.array(2, np.uint8, "CTRBlob")
    denominator = root.scalar(3, "i", 0, "CounterDenominator")
    classes = root.scalar(4, "i", 0, "TargetClassesCount")
    if len(raw) % _BUCKET.itemsize or len(raw) == 0 or (len(raw) // _BUCKET.itemsize) & (
            len(raw) // _BUCKET.itemsize - 1):
        raise ModelFormatError(source, f"{where}/IndexHashRaw", f"is {len(raw)} bytes, not 2**k buckets of "
                                                                f"{_BUCKET.itemsize} bytes")
    if kind in ("Borders", "Buckets"):
        if not (2 if kind == "Borders" else 1) <= classes <= 1 << 16:
            raise ModelFormatError(source, f"{where}/TargetClassesCount", f"is {classes}, expected 1 to 65536 "
                                                                          f"({kind} needs a count per class)")
        row_dtype, stride = np.dtype(("<i4", (classes,))), classes
    elif kind in ("Counter", "FeatureFreq"):
        row_dtype, stride = np.dtype("<i4"), 1
    else:
        row_dtype, stride = _MEAN, 2
    if len(blob) % row_dtype.itemsize:
        raise ModelFormatError(source, f"{where}/CTRBlob", f"is {len(blob)} bytes, not whole rows of "
                                                           f"{row_dtype.itemsize} bytes: the stride of a {kind} "
                                                           f"table{'' if stride < 3 else f' of {classes} classes'} "
                                                           "disagrees with its data")
    rows = np.frombuffer(blob.tobytes(), dtype=row_dtype)
    buckets = np.frombuffer(raw.tobytes(), dtype=_BUCKET)
    empty = buckets["hash"] == np.uint64(_EMPTY_BUCKET)
    if not empty.any():
        raise ModelFormatError(source, f"{where}/IndexHashRaw", f"has no empty bucket among its {len(buckets)}: "
                                                                "CatBoost's lookup of an absent hash would never end")
    used = buckets[~empty]
    if len(used) and int(used["row"].max()) >= len(rows):
        raise ModelFormatError(source, f"{where}/IndexHashRaw", f"a bucket points at row {int(used['row'].max())} "
                                                                f"of CTRBlob's {len(rows)}")
    used = used[_reachable(buckets["hash"], empty)]
    order = np.argsort(used["hash"], kind="stable")
    hashes = used["hash"][order]
    if len(hashes) > 1 and not np.all(hashes[1:] > hashes[:-1]):
        raise ModelFormatError(source, f"{where}/IndexHashRaw", "a hash is stored twice")
    picked = rows[used["row"][order]]
    if kind in ("BinarizedTargetMeanValue", "FloatTargetMeanValue"):
        counts = np.stack([picked["sum"].astype(np.float64), picked["count"].astype(np.float64)], axis=1)
    else:
        counts = picked.astype(np.float64).reshape(len(picked), stride)
    return key, (hashes.astype(np.uint64), counts.reshape(len(hashes), stride), denominator)
