"""Mutations of CatBoost models: ``.cbm`` FlatBuffers by their structure, CatBoost JSON by its fields.

``.cbm``: the seed's FlatBuffer is walked with CatBoost's schema (``SCHEMA``) to list where each
offset, vtable, vector length and value sits; a mutation then changes one of them in place:
offsets out of the buffer or onto another object's target (so that objects overlap), vtable
sizes and entries, vector lengths, soffsets to another table's vtable, values (split ids, tree
sizes, feature indexes, NaN treatments, borders made unsorted, special floats; a non-symmetric
tree's step nodes made to run past their tree or to wrap round to a node behind (a ui16 step),
its node-to-leaf ids moved off their leaf, past the leaf values or off the dimension's stride),
plus the header's size field, the CTR tables after the core (their count, sizes, buckets,
stride, truncation) and byte-level damage. JSON: CatBoost's own fields (split indexes
and types, leaf counts, depths, feature indexes, borders, CTR tables' stride and entries, priors,
scale and bias; non-symmetric trees' nodes swapped, cut to a leaf, grown, made half split half
leaf, their leaf values of another dimension), besides the generic structured mutations. A gzipped seed is mutated inside and gzipped
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
COMBINATION = {0: ("vec", "i"), 1: ("vec", "if"), 2: ("vec", "ii")}
CTR_BASE = {0: ("table", COMBINATION), 1: "b", 2: "i"}
CTR_FEATURE = {0: ("table", {0: ("table", CTR_BASE), 1: "i", 2: "f", 3: "f", 4: "f", 5: "f"}), 1: ("vec", "f")}
VALUE_TABLE = {0: ("table", CTR_BASE), 1: ("vec", "B"), 2: ("vec", "B"), 3: "i", 4: "i"}  # a TCtrValueTable
TREES = {0: "i", 1: ("vec", "i"), 2: ("vec", "i"), 3: ("vec", "i"), 4: ("tables", CAT), 5: ("tables", FLOAT),
         6: ("tables", ONE_HOT), 7: ("tables", CTR_FEATURE), 8: ("vec", "d"), 9: ("vec", "d"), 10: ("vec", "HH"), 11: ("vec", "I"), 14: "d",
         15: "d", 16: ("vec", "d")}
SCHEMA = {0: "string", 1: ("table", TREES), 2: ("tables", KV), 3: "strings"}


def cbm_locations(buf: bytes, root: dict = SCHEMA) -> list:
    """(position, kind, detail) of every offset, vtable field, length and value of a well-formed
    FlatBuffer (a seed), found by walking it with its schema (``SCHEMA`` for the model core)."""
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
                size = struct.calcsize("<" + kind[1])
                out.append((target + 4, "vector", (kind[1], n)))
                for k in range(min(n, 64 if kind[1] in "fdi" else 512)):  # every step node and leaf id
                    for f, field in enumerate(kind[1]):  # a struct's fields one by one
                        out.append((target + 4 + size * k + struct.calcsize("<" + kind[1][:f]), "value", field))

    table(struct.unpack_from("<I", buf, 0)[0], root)
    return out


_VALUES = {"i": [-1, 0, 1, 2, 3, 5, 15, 16, 17, 31, 64, 2**31 - 1, -2**31, 255, 65535, 65536],
           "b": [-1, 0, 1, 2, 3, 127, -128], "B": [0, 1, 2, 255],
           # step nodes (ui16: 0xFFFF and 0x8000 point behind when read as signed) and leaf ids
           "H": [0, 0, 1, 2, 3, 7, 15, 16, 64, 0x7FFF, 0x8000, 0xFFFF, 0xFFFE],
           "I": [0, 1, 2, 3, 9, 10, 31, 32, 63, 64, 2**31, 2**32 - 1, 2**32 - 2]}
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
    if r < 0.5 and tail:
        out, note = _ctr_tail_mutation(tail, rng)
        return head + bytes(buf) + out, "CTR tables: " + note
    locations = cbm_locations(bytes(buf))
    nodes = [loc for loc in locations if loc[1] == "value" and loc[2] in ("H", "I")]
    notes = []
    for _ in range(rng.choice([1, 1, 1, 2, 3])):
        pos, kind, detail = rng.choice(nodes if nodes and rng.random() < 0.35 else locations)
        notes.append(_mutate_location(buf, locations, pos, kind, detail, rng))
    return head + bytes(buf) + tail, "; ".join(notes)


def _ctr_tables(tail: bytes) -> list:
    """(start, end) of each table's FlatBuffer in a seed's CTR section (uint32 sizes)."""
    count, pos, out = struct.unpack_from("<I", tail, 0)[0], 4, []
    for _ in range(count):
        n = struct.unpack_from("<I", tail, pos)[0]
        out.append((pos + 4, pos + 4 + n))
        pos += 4 + n
    return out


def _ctr_tail_mutation(tail: bytes, rng: random.Random):
    """The CTR section after the core: its table count, a table's size, truncation, the 64-bit
    size form, or one table's FlatBuffer: its fields by ``VALUE_TABLE``, its buckets (all made
    full, swapped so that a probe meets an empty bucket first, rows past the blob) and its stride
    (``TargetClassesCount``, a blob cut off mid-row)."""
    tables = _ctr_tables(tail)
    count = len(tables)
    r = rng.random()
    if r < 0.12:
        new = rng.choice([0, count - 1, count + 1, 2 * count, 0xFFFFFFFE, 2**31])
        return _pack("I", new) + tail[4:], f"table count {new}"
    if r < 0.17:  # the count in SaveSize's 64-bit form
        new = rng.choice([count, count + 1, 2**32, 2**63])
        return b"\xff\xff\xff\xff" + struct.pack("<Q", new) + tail[4:], f"table count as uint64 {new}"
    if r < 0.27:
        start, end = rng.choice(tables)
        new = rng.choice([0, 3, end - start - 1, end - start + 1, end - start + 12, len(tail), 0xFFFFFFFF])
        return tail[:start - 4] + _pack("I", new) + tail[start:], f"table size {new}"
    if r < 0.37:
        cut = rng.randrange(len(tail))
        return tail[:cut], f"cut at byte {cut} of {len(tail)}"
    if r < 0.42:
        extra = rng.choice([b"\0", b"\0" * 4, tail[:16]])
        return tail + extra, f"{len(extra)} bytes appended"
    k = rng.randrange(count)
    start, end = tables[k]
    buf = bytearray(tail[start:end])
    locations = cbm_locations(bytes(buf), VALUE_TABLE)
    vectors = [(p, d[1]) for p, kind, d in locations if kind == "vector" and d[0] == "B"]  # IndexHashRaw first
    raw_at, buckets = vectors[0][0], vectors[0][1] // 12
    r = rng.random()
    if r < 0.2:
        fill = rng.choice([0, 1, 2**63])
        for b in range(buckets):
            if struct.unpack_from("<Q", buf, raw_at + 12 * b)[0] == (1 << 64) - 1:
                struct.pack_into("<Q", buf, raw_at + 12 * b, fill + b)
        note = f"table {k}: every bucket used"
    elif r < 0.4:
        a, b = rng.randrange(buckets), rng.randrange(buckets)
        x, y = bytes(buf[raw_at + 12 * a:raw_at + 12 * a + 12]), bytes(buf[raw_at + 12 * b:raw_at + 12 * b + 12])
        buf[raw_at + 12 * a:raw_at + 12 * a + 12], buf[raw_at + 12 * b:raw_at + 12 * b + 12] = y, x
        note = f"table {k}: buckets {a} and {b} swapped"
    elif r < 0.5:
        b = rng.randrange(buckets)
        new = rng.choice([1, 2, 7, 2**31, 2**32 - 1])
        struct.pack_into("<I", buf, raw_at + 12 * b + 8, new)
        note = f"table {k}: bucket {b} row {new}"
    else:
        nodes = [loc for loc in locations if loc[1] in ("vec_len", "value") and loc[2] != "B"]
        pos, kind, detail = rng.choice(nodes if rng.random() < 0.6 else locations)
        note = f"table {k}: " + _mutate_location(buf, locations, pos, kind, detail, rng)
    return tail[:start - 4] + _pack("I", len(buf)) + bytes(buf) + tail[end:], note


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
        new = rng.choice(_VALUES[fmt] + [old + 1, old - 1] + ([old * 2, old + 2] if fmt in "HI" else []))
    buf[pos:pos + struct.calcsize(fmt)] = _pack(fmt, new)
    return f"value ({fmt}) at {pos} = {new!r}"


# --- JSON ------------------------------------------------------------------------------------------

def _trees(doc):
    trees = doc.get("oblivious_trees")
    return [t for t in trees if isinstance(t, dict)] if isinstance(trees, list) else []


def _ns_nodes(doc) -> list:
    """Every node (split or leaf) of a non-symmetric model's ``trees``, parents before children."""
    trees = doc.get("trees")
    stack = [t for t in trees if isinstance(t, dict)] if isinstance(trees, list) else []
    out = []
    while stack and len(out) < 10000:
        node = stack.pop()
        out.append(node)
        stack += [node[side] for side in ("left", "right") if isinstance(node.get(side), dict)]
    return out


def _split_dicts(doc):
    return [s for t in _trees(doc) if isinstance(t.get("splits"), list) for s in t["splits"] if isinstance(s, dict)] + [
        n["split"] for n in _ns_nodes(doc) if isinstance(n.get("split"), dict)]


def _ns_edit(doc, rng: random.Random):
    """A non-symmetric tree's shape or leaves changed."""
    nodes = _ns_nodes(doc)
    inner = [n for n in nodes if "split" in n]
    leaves = [n for n in nodes if "split" not in n]
    op = rng.randrange(9)
    if op == 0 and inner:  # children swapped
        n = rng.choice(inner)
        n["left"], n["right"] = n.get("right"), n.get("left")
        return doc, "trees: children swapped"
    if op == 1 and inner and leaves:  # a subtree cut to a leaf
        n = rng.choice(inner)
        n[rng.choice(["left", "right"])] = json.loads(json.dumps(rng.choice(leaves)))
        return doc, "trees: a subtree cut to a leaf"
    if op == 2 and inner and leaves:  # a leaf grown into a copy of a subtree
        leaf = rng.choice(leaves)
        grown = json.loads(json.dumps(rng.choice(inner)))
        leaf.clear()
        leaf.update(grown)
        return doc, "trees: a leaf grown into a subtree"
    if op == 3 and nodes:  # half a split: a child missing, or a leaf given a child or a split
        n = rng.choice(nodes)
        if "split" in n:
            del n[rng.choice(["left", "right"])]
            return doc, "trees: a child removed"
        n[rng.choice(["left", "right", "split"])] = json.loads(json.dumps(rng.choice(nodes)))
        return doc, "trees: a leaf with a child or a split"
    if op == 4 and leaves:  # a leaf of another dimension, or not a number
        leaf = rng.choice(leaves)
        v = leaf.get("value")
        leaf["value"] = rng.choice([[v, v], [v], [], None, "1", math.nan, math.inf, 1e308, [v, "x"], True])
        return doc, f"trees: leaf value {leaf['value']!r:.40}"
    if op == 5 and leaves:  # every leaf of one more dimension, the bias or not
        for leaf in leaves:
            leaf["value"] = [leaf.get("value"), -0.5]
        if rng.random() < 0.5:
            doc["scale_and_bias"] = [1, [0, 0]]
        return doc, "trees: two outputs"
    if op == 6 and inner:  # a deep chain (the walk's and the reader's depth)
        n, leaf = rng.choice(inner), {"value": 0.25}
        chain = leaf
        for _ in range(rng.choice([20, 200, 900])):
            chain = {"split": n.get("split"), "left": {"value": 1.0}, "right": chain}
        n["right"] = chain
        return doc, "trees: a deep chain"
    if op == 7 and isinstance(doc.get("trees"), list) and doc["trees"]:
        trees = doc["trees"]
        k = rng.randrange(4)
        if k == 0:
            trees.append(rng.choice(leaves) if leaves else {"value": 0})  # a tree that is one leaf
        elif k == 1:
            trees[:] = []
        elif k == 2:
            doc["oblivious_trees"] = []
        else:
            trees[rng.randrange(len(trees))] = rng.choice([None, [], {}, {"split": None}, 1])
        return doc, f"trees: list edit {k}"
    if op == 8 and leaves:
        leaf = rng.choice(leaves)
        leaf["weight"] = rng.choice([None, -1, "x", math.nan])
        return doc, "trees: leaf weight"
    raise ValueError("no non-symmetric trees")


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
    if "trees" in doc and rng.random() < 0.4:
        return _ns_edit(doc, rng)
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
