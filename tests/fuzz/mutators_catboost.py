"""Mutations of CatBoost models: ``.cbm`` FlatBuffers by their structure, CatBoost JSON by its fields.

``.cbm``: the seed's FlatBuffer is walked with CatBoost's schema (``SCHEMA``) to list where each
offset, vtable, vector length and value sits; a mutation then changes one of them in place:
offsets out of the buffer or onto another object's target (so that objects overlap), vtable
sizes and entries, vector lengths, soffsets to another table's vtable, values (split ids, tree
sizes, feature indexes, NaN treatments, borders made unsorted, special floats), plus the header's
size field and byte-level damage. JSON: CatBoost's own fields (split indexes and types, leaf
counts, depths, feature indexes, borders, CTR tables' stride and entries, priors, scale and
bias), besides the generic structured mutations. A gzipped seed is mutated inside and gzipped
again, or its gzip bytes are damaged.
"""

from __future__ import annotations

import gzip
import json
import math
import random
import struct

from . import mutators

# slot -> kind: a scalar struct format, ("vec", fmt), ("table", schema), ("tables", schema), "string", "strings"
KV = {0: "string", 1: "string"}
FLOAT = {0: "B", 1: "i", 2: "i", 3: ("vec", "f"), 4: "string", 5: "b"}
CAT = {0: "i", 1: "i", 2: "string", 3: "B"}
ONE_HOT = {0: "i", 1: ("vec", "i"), 2: "strings"}
TREES = {0: "i", 1: ("vec", "i"), 2: ("vec", "i"), 3: ("vec", "i"), 4: ("tables", CAT), 5: ("tables", FLOAT),
         6: ("tables", ONE_HOT), 8: ("vec", "d"), 9: ("vec", "d"), 14: "d", 15: "d", 16: ("vec", "d")}
SCHEMA = {0: "string", 1: ("table", TREES), 2: ("tables", KV), 3: "strings"}


def cbm_locations(buf: bytes) -> list:
    """(position, kind, detail) of every offset, vtable field, length and value of a well-formed
    FlatBuffer (a seed), found by walking it with ``SCHEMA``."""
    out = [(0, "uoffset", None)]

    def table(pos: int, schema: dict):
        vt = pos - struct.unpack_from("<i", buf, pos)[0]
        out.append((pos, "soffset", vt))
        vt_len = struct.unpack_from("<H", buf, vt)[0]
        out.append((vt, "vt_len", None))
        out.append((vt + 2, "table_len", None))
        for slot in range((vt_len - 4) // 2):
            entry = vt + 4 + 2 * slot
            off = struct.unpack_from("<H", buf, entry)[0]
            out.append((entry, "vt_entry", None))
            kind = schema.get(slot)
            if not off or kind is None:
                continue
            at = pos + off
            if isinstance(kind, str) and kind not in ("string", "strings"):
                out.append((at, "value", kind))
                continue
            target = at + struct.unpack_from("<I", buf, at)[0]
            out.append((at, "uoffset", target))
            n = struct.unpack_from("<I", buf, target)[0]
            out.append((target, "vec_len", n))
            if kind == "string":
                continue
            if kind == "strings" or kind[0] == "tables":
                for k in range(n):
                    p = target + 4 + 4 * k
                    child = p + struct.unpack_from("<I", buf, p)[0]
                    out.append((p, "uoffset", child))
                    if kind == "strings":
                        out.append((child, "vec_len", None))
                    else:
                        table(child, kind[1])
            elif kind[0] == "table":
                out.pop()  # not a vector: the target is the table itself
                table(target, kind[1])
            else:
                size = struct.calcsize(kind[1])
                out.append((target + 4, "vector", (kind[1], n)))
                for k in range(min(n, 64)):
                    out.append((target + 4 + size * k, "value", kind[1]))

    table(struct.unpack_from("<I", buf, 0)[0], SCHEMA)
    return out


_VALUES = {"i": [-1, 0, 1, 2, 3, 5, 15, 16, 17, 31, 64, 2**31 - 1, -2**31, 255, 65535, 65536],
           "b": [-1, 0, 1, 2, 3, 127, -128], "B": [0, 1, 2, 255]}
_FLOATS = [math.nan, math.inf, -math.inf, 0.0, -0.0, 1.0, -1.0, 3.4e38, 1e-45, 0.5]


def _pack(fmt: str, value) -> bytes:
    if fmt in "fd":
        if fmt == "f" and math.isfinite(value) and abs(value) > 3.4e38:
            value = math.copysign(math.inf, value)
        return struct.pack("<" + fmt, value)
    size = struct.calcsize(fmt)
    return (int(value) % (1 << (8 * size))).to_bytes(size, "little")


def cbm_mutation(data: bytes, rng: random.Random, others: list):
    size = struct.unpack_from("<I", data, 4)[0]
    head, buf, tail = data[:8], bytearray(data[8:8 + size]), data[8 + size:]
    r = rng.random()
    if r < 0.08:  # the header's size field
        new = rng.choice([0, 1, 3, 4, size - 1, size + 1, size + 4, size - 8, len(data), 0xFFFFFFFF, 0x7FFFFFFF,
                          size // 2])
        return b"CBM1" + _pack("I", new) + bytes(buf) + tail, f"header size {new}"
    if r < 0.22:
        return mutators.byte_mutation(data, rng, others)
    if r < 0.3:
        out, note = mutators.same_length_mutation(bytes(buf), rng)
        return head + out + tail, "in place: " + note
    locations = cbm_locations(bytes(buf))
    notes = []
    for _ in range(rng.choice([1, 1, 1, 2, 3])):
        pos, kind, detail = rng.choice(locations)
        notes.append(_mutate_location(buf, locations, pos, kind, detail, rng))
    return head + bytes(buf) + tail, "; ".join(notes)


def _mutate_location(buf: bytearray, locations: list, pos: int, kind: str, detail, rng: random.Random) -> str:
    n = len(buf)
    targets = [d for _, k, d in locations if k == "uoffset" and d is not None]
    if kind == "uoffset" and detail is not None and rng.random() < 0.25:  # two objects trade places
        others = [(p, d) for p, k, d in locations if k == "uoffset" and d is not None and p != pos]
        if others:
            other, target = rng.choice(others)
            buf[pos:pos + 4] = _pack("I", target - pos)
            buf[other:other + 4] = _pack("I", detail - other)
            return f"uoffsets at {pos} and {other} swap targets"
    if kind == "uoffset":
        old = struct.unpack_from("<I", buf, pos)[0]
        new = rng.choice([0, 1, 2, 4, n, n - pos, n - pos - 2, 2**31, 2**32 - 1, old + 4, old - 4, old + 1,
                          rng.choice(targets) - pos if targets else 0])
        buf[pos:pos + 4] = _pack("I", new)
        return f"uoffset at {pos} = {new % 2**32}"
    if kind == "soffset":
        old = struct.unpack_from("<i", buf, pos)[0]
        vts = [d for _, k, d in locations if k == "soffset"]
        new = rng.choice([0, 4, -4, old + 2, old - 2, old + 4, pos - rng.choice(vts), pos + 1, pos - n,
                          2**31 - 1, -2**31, -n])
        buf[pos:pos + 4] = _pack("i", new)
        return f"soffset at {pos} = {new}"
    if kind in ("vt_len", "table_len", "vt_entry"):
        old = struct.unpack_from("<H", buf, pos)[0]
        entries = [struct.unpack_from("<H", buf, p)[0] for p, k, _ in locations if k == "vt_entry"]
        new = rng.choice([0, 1, 2, 3, 4, 6, old + 2, old - 2, old + 4, old - 4, 0xFFFF, 0x8000,
                          rng.choice(entries) if entries else 0])
        buf[pos:pos + 2] = _pack("H", new)
        return f"{kind} at {pos} = {new % 65536}"
    if kind == "vec_len":
        old = struct.unpack_from("<I", buf, pos)[0]
        lens = [struct.unpack_from("<I", buf, p)[0] for p, k, _ in locations if k == "vec_len"]
        new = rng.choice([0, 1, old - 1, old + 1, old * 2, old // 2, 2**31 - 1, 2**32 - 1, 2**30, n, n // 4,
                          rng.choice(lens)])
        buf[pos:pos + 4] = _pack("I", new)
        return f"vector length at {pos} = {new % 2**32}"
    if kind == "vector":  # swap two elements: unsorted borders, reordered splits and leaves
        fmt, count = detail
        size = struct.calcsize(fmt)
        if count < 2:
            return "vector too short to swap"
        i, j = rng.sample(range(count), 2)
        a, b = pos + i * size, pos + j * size
        buf[a:a + size], buf[b:b + size] = bytes(buf[b:b + size]), bytes(buf[a:a + size])
        return f"swap elements {i} and {j} of the vector at {pos}"
    fmt = detail
    same = [p for p, k, d in locations if k == "value" and d == fmt and p != pos]
    if same and rng.random() < 0.2:  # two fields swap values: feature indexes, columns, flags
        other, size = rng.choice(same), struct.calcsize(fmt)
        buf[pos:pos + size], buf[other:other + size] = bytes(buf[other:other + size]), bytes(buf[pos:pos + size])
        return f"swap values ({fmt}) at {pos} and {other}"
    if fmt in "fd":
        old = struct.unpack_from("<" + fmt, buf, pos)[0]
        new = rng.choice(_FLOATS + [old * 2, -old, math.nextafter(old, math.inf), rng.uniform(-3, 3)])
    else:
        old = struct.unpack_from("<" + fmt, buf, pos)[0]
        new = rng.choice(_VALUES[fmt] + [old + 1, old - 1])
    buf[pos:pos + struct.calcsize(fmt)] = _pack(fmt, new)
    return f"value ({fmt}) at {pos} = {new!r}"


# --- JSON ------------------------------------------------------------------------------------------

def _trees(doc):
    trees = doc.get("oblivious_trees")
    return [t for t in trees if isinstance(t, dict)] if isinstance(trees, list) else []


def _split_dicts(doc):
    return [s for t in _trees(doc) if isinstance(t.get("splits"), list) for s in t["splits"] if isinstance(s, dict)]


def _features(doc, key):
    info = doc.get("features_info")
    items = info.get(key) if isinstance(info, dict) else None
    return [f for f in items if isinstance(f, dict)] if isinstance(items, list) else []


def _tables(doc):
    data = doc.get("ctr_data")
    return [t for t in data.values() if isinstance(t, dict)] if isinstance(data, dict) else []


def json_edit(doc, rng: random.Random):
    """One CatBoost-specific change; falls back to a generic one when the part is absent (or was
    made unrecognisable by an earlier round)."""
    if not isinstance(doc, dict):
        return mutators.structured(doc, rng)
    state = rng.getstate()
    try:
        return _json_edit(doc, rng)
    except (TypeError, ValueError, AttributeError, KeyError, IndexError):
        rng.setstate(state)
        return mutators.structured(doc, rng)


def _json_edit(doc, rng: random.Random):
    what = rng.randrange(16)
    splits, trees = _split_dicts(doc), _trees(doc)
    floats, cats, ctrs, tables = (_features(doc, "float_features"), _features(doc, "categorical_features"),
                                  _features(doc, "ctrs"), _tables(doc))
    n_binary = sum(len(f.get("borders") or []) for f in floats) + sum(len(c.get("values") or []) for c in cats) + sum(
        len(c.get("borders") or []) for c in ctrs)
    if what == 0 and splits:
        s = rng.choice(splits)
        s["split_index"] = rng.choice([-1, 0, n_binary - 1, n_binary, n_binary + 1, s.get("split_index", 0) + 1,
                                       s.get("split_index", 0) - 1, 2**31, 1.0 * s.get("split_index", 0), "3"])
        return doc, f"split_index = {s['split_index']!r}"
    if what == 1 and splits:
        s = rng.choice(splits)
        s["split_type"] = rng.choice(["FloatFeature", "OneHotFeature", "OnlineCtr", "Border", None, 1])
        return doc, f"split_type = {s['split_type']!r}"
    if what == 2 and trees:
        t = rng.choice(trees)
        values = t.get("leaf_values")
        if isinstance(values, list) and values:
            op = rng.randrange(4)
            if op == 0:
                values.pop()
            elif op == 1:
                values.append(values[0])
            elif op == 2:
                t["leaf_values"] = values + values
            else:
                t["leaf_values"] = values[:len(values) // 2]
            return doc, f"leaf count {len(t['leaf_values'])} ({op})"
    if what == 3 and trees:  # deeper trees: splits repeated, leaves grown to match or not
        t = rng.choice(trees)
        ts = t.get("splits")
        if isinstance(ts, list) and ts:
            extra = rng.choice([1, 2, 14, 15, 30])
            t["splits"] = ts + [rng.choice(ts)] * extra
            values = t.get("leaf_values")
            if isinstance(values, list) and rng.random() < 0.5 and len(t["splits"]) <= 18 and values:
                t["leaf_values"] = values * (1 << extra)
            return doc, f"tree depth + {extra}"
    if what == 4 and floats:
        f = rng.choice(floats)
        b = f.get("borders")
        if isinstance(b, list) and len(b) >= 2:
            i, j = rng.sample(range(len(b)), 2)
            op = rng.randrange(3)
            if op == 0:
                b[i], b[j] = b[j], b[i]
            elif op == 1:
                b[i] = b[j]
            else:
                b[i] = rng.choice([math.nan, math.inf, -math.inf, 3.5e38, 0.1, 1e-46])
            return doc, f"borders {op}"
    if what == 5 and (floats or cats):
        f = rng.choice(floats + cats)
        key = rng.choice(["feature_index", "flat_feature_index"])
        f[key] = rng.choice([-1, 0, 1, 2, 3, 4, 5, 7, 2**31, None, "1", 1.0])
        return doc, f"{key} = {f[key]!r}"
    if what == 6 and floats:
        f = rng.choice(floats)
        if rng.random() < 0.5:
            f["nan_value_treatment"] = rng.choice(["AsIs", "AsFalse", "AsTrue", "Max", "", None])
        else:
            f["has_nans"] = rng.choice([True, False, 1, "true", None])
        return doc, "nan treatment"
    if what == 7 and cats:
        c = rng.choice(cats)
        values = c.get("values")
        if isinstance(values, list) and values:
            op = rng.randrange(4)
            if op == 0:
                values.append(values[0])
            elif op == 1:
                values[rng.randrange(len(values))] = rng.choice([2**31, -2**31 - 1, 0, 1.5, "1", None])
            elif op == 2:
                del c["values"]
            else:
                values.pop()
            return doc, f"one-hot values {op}"
    if what == 8 and tables:
        t = rng.choice(tables)
        stride = t.get("hash_stride")
        t["hash_stride"] = rng.choice([0, 1, 2, 3, 4, 5, 2**31 - 1, -1, "3", (stride or 0) + 1, (stride or 0) - 1])
        return doc, f"hash_stride = {t['hash_stride']!r}"
    if what == 9 and tables:
        t = rng.choice(tables)
        flat = t.get("hash_map")
        stride = t.get("hash_stride") if isinstance(t.get("hash_stride"), int) else 3
        if isinstance(flat, list) and stride >= 2 and len(flat) >= stride * 2:
            op = rng.randrange(8)
            row = rng.randrange(len(flat) // stride) * stride
            if op == 0:
                del flat[row + rng.randrange(stride)]
            elif op == 1:
                flat[row] = rng.choice(["", "-1", "18446744073709551616", "12abc", " 12", "1e3", "007",
                                        "18446744073709551615", "0"])
            elif op == 2:
                flat[row] = int(flat[row]) if str(flat[row]).isdigit() else 0
            elif op == 3:
                flat[row + 1 + rng.randrange(stride - 1)] = rng.choice([-1, 2**53, 2**63, 1e308, math.nan, "1",
                                                                         None, 0.5, -0.0])
            elif op == 4:
                flat[row:row] = flat[row:row + stride]  # a hash twice
            elif op == 5:
                flat[:] = flat[:row]
            elif op == 6:
                other = rng.randrange(len(flat) // stride) * stride
                flat[row] = flat[other]
            else:
                flat.append(flat[row])
            return doc, f"hash_map {op}"
    if what == 10 and tables:
        t = rng.choice(tables)
        t["counter_denominator"] = rng.choice([0, -1, 1, 2**31 - 1, 2**31, 1.5, None])
        return doc, "counter_denominator"
    if what == 11 and ctrs:
        c = rng.choice(ctrs)
        key = rng.choice(["target_border_idx", "prior_numerator", "prior_denomerator", "shift", "scale", "ctr_type",
                          "identifier", "borders"])
        c[key] = rng.choice([-1, 0, 1, 2, 3, math.nan, math.inf, 0.0, -1.0, 1e38, "Counter", "Borders", "Buckets",
                             "FeatureFreq", "BinarizedTargetMeanValue", "", None, [], [0.5, 0.25],
                             rng.choice(list(doc.get("ctr_data") or {"x": 0}))])
        return doc, f"ctr {key} = {c[key]!r:.40}"
    if what == 12 and ctrs:
        c = rng.choice(ctrs)
        elements = c.get("elements")
        if isinstance(elements, list) and elements:
            e = rng.choice(elements)
            if isinstance(e, dict):
                key = rng.choice(list(e) + ["combination_element"])
                e[key] = rng.choice([-1, 0, 1, 2, 3, 2**31, "float_feature", "cat_feature_value",
                                     "cat_feature_exact_value", None, math.nan, 0.5])
                return doc, f"ctr element {key} = {e[key]!r}"
            if rng.random() < 0.5:
                rng.shuffle(elements)
            else:
                elements.append(rng.choice(elements))
            return doc, "ctr elements reordered or repeated"
    if what == 13:
        sb = doc.get("scale_and_bias")
        doc["scale_and_bias"] = rng.choice([[1, []], [1, [0, 0]], [math.nan, [0]], [2.5, [1e308]], [1, [math.inf]],
                                            [1], None, [1, 0], [0, [0]],
                                            [sb[0] if isinstance(sb, list) and sb else 1, [0.5, -0.5, 1.5]]])
        return doc, f"scale_and_bias = {doc['scale_and_bias']!r}"
    if what == 14 and splits:  # a split's description made to disagree with its index
        s = rng.choice(splits)
        key = rng.choice([k for k in s if k not in ("split_index", "split_type")] or ["border"])
        s[key] = rng.choice([0, 1, -1, 0.5, math.nan, 2**31, None, s.get(key)])
        return doc, f"split {key} = {s[key]!r}"
    return (mutators.index_mutation if rng.random() < 0.4 else mutators.structured)(doc, rng)


def json_mutation(data: bytes, rng: random.Random, others: list):
    r = rng.random()
    if r < 0.15:
        return mutators.byte_mutation(data, rng, others)
    doc = json.loads(data)
    notes = []
    for _ in range(rng.choice([1, 1, 1, 2, 3])):
        doc, note = json_edit(doc, rng) if rng.random() < 0.7 else (
            mutators.index_mutation if rng.random() < 0.4 else mutators.structured)(doc, rng)
        notes.append(note)
    return mutators.dump_json(doc), "; ".join(notes)


def mutate(fmt: str, data: bytes, rng: random.Random, others: list):
    """A CatBoost seed mutated; a gzipped one mostly inside its gzip (so the model parser is reached)."""
    if data[:2] == b"\x1f\x8b":
        if rng.random() < 0.25:
            return mutators.byte_mutation(data, rng, [])
        inner, note = mutate(fmt, gzip.decompress(data), rng, [gzip.decompress(o) if o[:2] == b"\x1f\x8b" else o
                                                              for o in others])
        return gzip.compress(inner, mtime=0), "gzip: " + note
    if fmt == "catboost_cbm" and data[:4] == b"CBM1":
        return cbm_mutation(data, rng, others)
    return json_mutation(data, rng, others)
