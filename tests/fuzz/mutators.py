"""Mutations of model files: byte-level for every format, structured for the JSON-shaped ones.

Every mutator takes the seed bytes and a ``random.Random`` and returns new bytes and a short
description, so a finding can be replayed from (format, seed, trial number) alone.
"""

from __future__ import annotations

import json
import math
import random
import struct
import zlib

from . import reference, reference_apr

INTERESTING_INTS = [0, 1, -1, 2, -2, 7, 8, 255, 256, 65535, 2**31 - 1, 2**31, -2**31, -2**31 - 1, 2**32 - 1,
                    2**32, 2**53 + 1, 2**63 - 1, 2**63, -2**63, 2**64, 10**30, -10**30]
INTERESTING_FLOATS = [0.0, -0.0, 0.5, 1.0, -1.0, 1e-45, 1e38, 3.5e38, -3.5e38, 1e308, float("nan"), float("inf"),
                      float("-inf"), 2.5, 1e-7]
INTERESTING_BYTES = [0x00, 0xFF, 0x7F, 0x80, 0x01, 0x20, ord("{"), ord("["), ord('"'), ord("N"), ord("L")]


# --- byte level ----------------------------------------------------------------------------------

def bit_flips(data: bytes, rng: random.Random):
    out = bytearray(data)
    k = rng.choice([1, 1, 2, 4, 8])
    for _ in range(k):
        i = rng.randrange(len(out))
        out[i] ^= 1 << rng.randrange(8)
    return bytes(out), f"flip {k} bits"


def byte_sets(data: bytes, rng: random.Random):
    out = bytearray(data)
    i = rng.randrange(len(out))
    out[i] = rng.choice(INTERESTING_BYTES) if rng.random() < 0.7 else rng.randrange(256)
    return bytes(out), f"set byte {i}"


def int_overwrite(data: bytes, rng: random.Random):
    """An interesting integer over 1, 2, 4 or 8 bytes, little- or big-endian (counts, offsets, ids)."""
    size = rng.choice([1, 2, 4, 8])
    if len(data) <= size:
        return truncation(data, rng)
    value = (rng.choice(INTERESTING_INTS) if rng.random() < 0.6 else rng.randrange(-2, 40)) % (1 << (8 * size))
    raw = value.to_bytes(size, rng.choice(["little", "big"]))
    aligned = rng.random() < 0.5
    i = rng.randrange(0, len(data) - size + 1, size if aligned else 1)
    return data[:i] + raw + data[i + size:], f"int {value} over {size} bytes at {i}"


def truncation(data: bytes, rng: random.Random):
    i = rng.randrange(len(data))
    return data[:i], f"truncate to {i}"


def insertion(data: bytes, rng: random.Random):
    i = rng.randrange(len(data) + 1)
    if rng.random() < 0.5:
        j = rng.randrange(len(data))
        chunk = data[j:j + rng.randrange(1, 64)]
    else:
        chunk = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 16)))
    return data[:i] + chunk + data[i:], f"insert {len(chunk)} bytes at {i}"


def deletion(data: bytes, rng: random.Random):
    i = rng.randrange(len(data))
    j = min(len(data), i + rng.randrange(1, 64))
    return data[:i] + data[j:], f"delete [{i}, {j})"


def splice(data: bytes, rng: random.Random, other: bytes):
    i, j = sorted(rng.randrange(len(data) + 1) for _ in range(2))
    k, m = sorted(rng.randrange(len(other) + 1) for _ in range(2))
    return data[:i] + other[k:m] + data[j:], f"splice other[{k}:{m}] over [{i}, {j})"


BYTE_MUTATORS = [bit_flips, byte_sets, int_overwrite, truncation, insertion, deletion]


def byte_mutation(data: bytes, rng: random.Random, others: list):
    if rng.random() < 0.1 and others:
        return splice(data, rng, rng.choice(others))
    rounds = rng.choice([1, 1, 1, 2, 3])
    notes = []
    for _ in range(rounds):
        if not data:
            break
        data, note = rng.choice(BYTE_MUTATORS)(data, rng)
        notes.append(note)
    return data, "; ".join(notes)


# --- structured: parse, change one value, write back ---------------------------------------------

def _paths(doc, path=()):
    """Every (path, value) in the document, arrays sampled so that long ones do not dominate."""
    yield path, doc
    if isinstance(doc, dict):
        for k, v in doc.items():
            yield from _paths(v, path + (k,))
    elif isinstance(doc, list):
        idx = range(len(doc)) if len(doc) <= 4 else sorted({0, len(doc) - 1, *random.Random(len(doc)).sample(
            range(len(doc)), 3)})
        for i in idx:
            yield from _paths(doc[i], path + (i,))


def _set(doc, path, value):
    if not path:
        return value
    parent = doc
    for p in path[:-1]:
        parent = parent[p]
    parent[path[-1]] = value
    return doc


def _new_value(old, rng: random.Random, n_hint: int):
    r = rng.random()
    if isinstance(old, (int, float)) and not isinstance(old, bool) and r < 0.45:
        choices = [rng.choice(INTERESTING_INTS), rng.choice(INTERESTING_FLOATS), rng.randrange(-3, n_hint + 3),
                   old + rng.choice([-1, 1]), -old if old else 1, float(old) + 0.5]
        return rng.choice(choices)
    if isinstance(old, str) and r < 0.45:
        numeric = old.strip("[]")
        choices = ["", "x", old + "0", old[:-1], "[" + old + "]", str(rng.choice(INTERESTING_INTS)),
                   repr(rng.choice(INTERESTING_FLOATS)), "1_0", " 8 ", "[]", "[0.5,]", "nan", numeric + ",1",
                   "9" * 50, old.upper(), "\u0663"]
        return rng.choice(choices)
    if isinstance(old, list) and r < 0.6:
        op = rng.randrange(8)
        new = list(old)
        if op == 0 and new:
            del new[rng.randrange(len(new))]
        elif op == 1 and new:
            new.insert(rng.randrange(len(new) + 1), rng.choice(new))
        elif op == 2:
            new = new[:rng.randrange(len(new) + 1)]
        elif op == 3 and new:
            new = new + new[:rng.randrange(1, len(new) + 1)]
        elif op == 4 and new:
            i = rng.randrange(len(new))
            new[i] = _new_value(new[i], rng, n_hint)
        elif op == 5 and new:
            rng.shuffle(new)
        elif op == 6 and new:
            i = rng.randrange(len(new))
            new[i] = [new[i]]
        else:
            new = [rng.choice([0, 1.5, "a", None, True, [], {}])] + new
        return new
    if isinstance(old, dict) and r < 0.6:
        new = dict(old)
        if new and rng.random() < 0.6:
            key = rng.choice(list(new))
            if rng.random() < 0.5:
                del new[key]
            else:
                new[key + rng.choice(["_", "x"])] = new.pop(key)
        else:
            new[rng.choice(["x", "name", "num_nodes", "arrays", "weight_drop", "leaf_weights"])] = rng.choice(
                [0, "1", [], {}, None])
        return new
    return rng.choice([None, True, False, 0, -1, 2**63, 2**64, 1e400 if False else 1e308, float("nan"), "",
                       "0", [], {}, [old], {"k": old}, [[0, 1]], [old, old], rng.choice(INTERESTING_INTS),
                       rng.choice(INTERESTING_FLOATS)])


def structured(doc, rng: random.Random):
    """One to three changes at random places of a parsed document."""
    notes = []
    for _ in range(rng.choice([1, 1, 1, 2, 3])):
        paths = list(_paths(doc))
        # favour the leaves of the tree that carry model content
        path, old = rng.choice(paths)
        n_hint = len(old) if isinstance(old, list) else 16
        doc = _set(doc, path, _new_value(old, rng, n_hint))
        notes.append("/".join(map(str, path)) or "<root>")
    return doc, "set " + ", ".join(notes)


def index_mutation(doc, rng: random.Random):
    """Change one element of a numeric array to a value the model may well accept: an index near
    its valid range (children, features, ids, groups), or a special float (thresholds, leaves)."""
    arrays = [(p, v) for p, v in _paths(doc) if isinstance(v, list) and v and all(
        isinstance(x, (int, float)) and not isinstance(x, bool) for x in v)]
    if not arrays:
        return structured(doc, rng)
    path, arr = rng.choice(arrays)
    if any(isinstance(x, float) for x in arr):
        arr = list(arr)
        i = rng.randrange(len(arr))
        arr[i] = rng.choice(INTERESTING_FLOATS + [rng.uniform(-3, 3), float(rng.randrange(-2, 12)), arr[i] * 2,
                                                  rng.choice(arr), 1.401298464324817e-45, -1e-40])
        return _set(doc, path, arr), f"value {'/'.join(map(str, path))}[{i}] = {arr[i]!r}"
    arr = list(arr)
    i = rng.randrange(len(arr))
    if len(arr) >= 4 and rng.random() < 0.15:
        # offsets whose int64 differences wrap around, so that they look rising: 0, BIG, W, ..., W, total
        i = rng.randrange(1, len(arr) - 2)
        arr[i] = 2**63 - 1
        arr[i + 1:-1] = [-2**63 + arr[-1] + rng.randrange(1, 8)] * (len(arr) - i - 2)
        return _set(doc, path, arr), f"wrap {'/'.join(map(str, path))} from {i}"
    arr[i] = rng.choice([-2, -1, 0, len(arr) - 1, len(arr), len(arr) + 1, arr[i] + 1, arr[i] - 1,
                         rng.randrange(-1, len(arr) + 1)])
    return _set(doc, path, arr), f"index {'/'.join(map(str, path))}[{i}] = {arr[i]}"


def dump_json(doc) -> bytes:
    return json.dumps(doc, allow_nan=True).encode()


def spell_nonfinite(doc):
    """Native JSON spells non-finite floats as the strings "NaN", "Infinity", "-Infinity"."""
    if isinstance(doc, dict):
        return {k: spell_nonfinite(v) for k, v in doc.items()}
    if isinstance(doc, list):
        return [spell_nonfinite(v) for v in doc]
    if isinstance(doc, float) and not math.isfinite(doc):
        return "NaN" if doc != doc else "Infinity" if doc > 0 else "-Infinity"
    return doc


def _native_floats(doc):
    """The reverse, so that value mutations see the float arrays of a native JSON document."""
    if isinstance(doc, dict):
        return {k: _native_floats(v) for k, v in doc.items()}
    if isinstance(doc, list):
        return [_native_floats(v) for v in doc]
    return {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}.get(doc, doc) if isinstance(
        doc, str) else doc


# --- UBJSON writer (typed arrays where the values allow one) --------------------------------------

_TYPED = [("i", ">b", -128, 127), ("U", ">B", 0, 255), ("I", ">h", -2**15, 2**15 - 1), ("l", ">i", -2**31, 2**31 - 1),
          ("L", ">q", -2**63, 2**63 - 1)]


def _ubj_int(v: int) -> bytes:
    for m, fmt, lo, hi in _TYPED:
        if lo <= v <= hi:
            return m.encode() + struct.pack(fmt, v)
    return b"H" + _ubj_len(len(str(v))) + str(v).encode()


def _ubj_len(n: int) -> bytes:
    return b"L" + struct.pack(">q", n)


def ubj_encode(v, rng: random.Random) -> bytes:
    if v is None:
        return b"Z"
    if v is True:
        return b"T"
    if v is False:
        return b"F"
    if isinstance(v, int):
        return _ubj_int(v)
    if isinstance(v, float):
        if rng.random() < 0.5 or math.isnan(v) or abs(v) > 3.4e38:
            return b"D" + struct.pack(">d", v)
        return b"d" + struct.pack(">f", v)
    if isinstance(v, str):
        raw = v.encode()
        return b"S" + _ubj_len(len(raw)) + raw
    if isinstance(v, dict):
        body = b"".join(_ubj_len(len(k.encode())) + k.encode() + ubj_encode(x, rng) for k, x in v.items())
        return b"{" + body + b"}"
    if isinstance(v, list):
        if v and all(isinstance(x, float) for x in v) and rng.random() < 0.8:
            if rng.random() < 0.7 and all(not math.isfinite(x) or abs(x) < 3.4e38 for x in v):
                return b"[$d#" + _ubj_len(len(v)) + struct.pack(f">{len(v)}f", *v)
            return b"[$D#" + _ubj_len(len(v)) + struct.pack(f">{len(v)}d", *v)
        if v and all(isinstance(x, int) and not isinstance(x, bool) for x in v) and rng.random() < 0.8:
            for m, fmt, lo, hi in _TYPED[rng.randrange(len(_TYPED)):]:
                if all(lo <= x <= hi for x in v):
                    return f"[${m}#".encode() + _ubj_len(len(v)) + struct.pack(f">{len(v)}{fmt[1]}", *v)
        return b"[" + b"".join(ubj_encode(x, rng) for x in v) + b"]"
    raise TypeError(type(v))


# --- .xgbrs: change the header or the array bytes, then make the checksums right again -------------

def xgbrs_parts(data: bytes):
    _, major, minor, flags, hlen, _, reserved, dlen = struct.unpack_from("<5sBBBQIIQ", data)
    header = json.loads(data[32:32 + hlen])
    return (major, minor, flags, reserved), header, data[32 + hlen:32 + hlen + dlen]


def xgbrs_pack(pre, header: dict, section: bytes) -> bytes:
    major, minor, flags, reserved = pre
    h = json.dumps(header, allow_nan=True).encode()
    h += b" " * (-(32 + len(h)) % 64)
    body = struct.pack("<5sBBBQIIQ", b"XGBRS", major, minor, flags, len(h), zlib.crc32(h), reserved,
                       len(section)) + h + section
    return body + struct.pack("<I", zlib.crc32(body))


def fix_xgbrs_crc(data: bytes) -> bytes:
    """Recompute both checksums of a (mutated) .xgbrs so that the checks behind them are reached."""
    if len(data) < 36:
        return data
    hlen = struct.unpack_from("<Q", data, 8)[0]
    if hlen > len(data):
        return data
    out = bytearray(data)
    struct.pack_into("<I", out, 16, zlib.crc32(bytes(out[32:32 + hlen])))
    struct.pack_into("<I", out, len(out) - 4, zlib.crc32(bytes(out[:-4])))
    return bytes(out)


# --- per format ------------------------------------------------------------------------------------

def mutate(fmt: str, data: bytes, rng: random.Random, others: list):
    """Mutated bytes of ``data`` (a seed of format ``fmt``) and what was done."""
    r = rng.random()
    if fmt in ("xgboost_json", "native_json") and r < 0.7:
        doc = json.loads(data)
        if fmt == "native_json":
            doc = _native_floats(doc)
        doc, note = (index_mutation if rng.random() < 0.4 else structured)(doc, rng)
        if fmt == "native_json" and rng.random() < 0.9:
            doc = spell_nonfinite(doc)
        return dump_json(doc), note
    if fmt == "ubj" and r < 0.6:
        doc = reference.ubj_decode(data)
        doc, note = (index_mutation if rng.random() < 0.3 else structured)(doc, rng)
        return ubj_encode(doc, rng), note
    if fmt == "xgbrs" and r < 0.8:
        pre, header, section = xgbrs_parts(data)
        if r < 0.3:
            header, note = (index_mutation if rng.random() < 0.3 else structured)(header, rng)
            return xgbrs_pack(pre, header, section), "header " + note
        if r < 0.6:  # the array bytes, where the node arrays live
            section, note = same_length_mutation(section, rng)
            return xgbrs_pack(pre, header, section), "arrays: " + note
        mutated, note = byte_mutation(data, rng, others)
        return fix_xgbrs_crc(mutated), note + " (checksums fixed)"
    if fmt == "legacy_binary" and r < 0.6:
        return same_length_mutation(data, rng)
    if fmt == "lightgbm" and r < 0.75:
        return lightgbm_text_mutation(data, rng)
    if fmt == "apr":
        return apr_mutation(data, rng, others)
    if fmt in ("catboost_cbm", "catboost_json"):
        from . import mutators_catboost

        return mutators_catboost.mutate(fmt, data, rng, others)
    return byte_mutation(data, rng, others)


def same_length_mutation(data: bytes, rng: random.Random):
    """Bytes changed in place: counts, ids, thresholds and flags move, the layout stays."""
    notes = []
    for _ in range(rng.choice([1, 1, 2, 3])):
        data, note = rng.choice([bit_flips, byte_sets, int_overwrite, int_overwrite, float_overwrite])(data, rng)
        notes.append(note)
    return data, "; ".join(notes)


def float_overwrite(data: bytes, rng: random.Random):
    """A special float32 at a 4-byte boundary (thresholds, leaf values, weights)."""
    if len(data) < 4:
        return bit_flips(data, rng) if data else (data, "empty")
    i = rng.randrange(0, len(data) - 3, 4 if rng.random() < 0.8 else 1)
    with_value = rng.choice(INTERESTING_FLOATS + [rng.uniform(-3, 3)])
    raw = struct.pack("<f", with_value) if abs(with_value) < 3.4e38 or not math.isfinite(with_value) else \
        struct.pack("<f", math.copysign(math.inf, with_value))
    return data[:i] + raw + data[i + 4:], f"float {with_value!r} at {i}"


# --- LightGBM text: lines, fields and values ------------------------------------------------------

LGB_WORDS = ["-1", "0", "1", "-2", "2", "3", "31", "32", "127", "128", "-128", "255", "2147483647", "2147483648",
             "-2147483649", "99999999999", "nan", "-nan", "inf", "-inf", "1e308", "1e-36", "1e-35", "-0",
             "1.0000000180025095e-35", "3.5", "abc", "", "1_0", "0x10", "+1", "1e", ".", "\x0c1"]
LGB_LINE_KEYS = ["num_leaves", "num_cat", "split_feature", "threshold", "decision_type", "left_child",
                 "right_child", "leaf_value", "cat_boundaries", "cat_threshold", "is_linear", "leaf_const",
                 "num_features", "leaf_features", "leaf_coeff", "num_class", "num_tree_per_iteration",
                 "max_feature_idx", "tree_sizes", "average_output", "objective", "Tree"]


def lightgbm_text_mutation(data: bytes, rng: random.Random):
    """One to three changes of whole lines, fields or values of a LightGBM text model, the
    ``tree_sizes`` line recomputed or dropped half the time (so blocks are cut where the trees
    now are and the tree checks behind are reached)."""
    lines = data.decode("utf-8", "replace").split("\n")
    notes = []
    for _ in range(rng.choice([1, 1, 2, 3])):
        i = rng.randrange(len(lines))
        r = rng.random()
        if r < 0.55 and "=" in lines[i]:
            key, _, value = lines[i].partition("=")
            words = value.split(" ")
            j = rng.randrange(len(words))
            if rng.random() < 0.5 and words[j]:
                try:
                    old = float(words[j])
                    new = rng.choice([old + 1, old - 1, -old, old * 2, math.nextafter(old, math.inf),
                                      math.nextafter(old, -math.inf), 0.0])
                    words[j] = repr(int(new)) if words[j].lstrip("-").isdigit() and math.isfinite(new) else repr(new)
                except (ValueError, OverflowError):
                    words[j] = rng.choice(LGB_WORDS)
            elif rng.random() < 0.2:
                del words[j]
            elif rng.random() < 0.2:
                words.insert(j, rng.choice(LGB_WORDS))
            else:
                words[j] = rng.choice(LGB_WORDS)
            lines[i] = key + "=" + " ".join(words)
            notes.append(f"{key}[{j}]")
        elif r < 0.65:
            notes.append(f"delete line {i}")
            del lines[i]
        elif r < 0.75:
            j = rng.randrange(len(lines))
            notes.append(f"copy line {j} to {i}")
            lines.insert(i, lines[j])
        elif r < 0.85:
            key = rng.choice(LGB_LINE_KEYS)
            notes.append(f"insert {key}")
            lines.insert(i, f"{key}=" + " ".join(rng.choice(LGB_WORDS) for _ in range(rng.randrange(4))))
        elif r < 0.93 and "=" in lines[i]:
            key, _, value = lines[i].partition("=")
            other = rng.choice(LGB_LINE_KEYS)
            notes.append(f"rename {key} to {other}")
            lines[i] = f"{other}={value}"
        else:
            notes.append(f"cut line {i}")
            lines[i] = lines[i][:rng.randrange(len(lines[i]) + 1)]
    text = "\n".join(lines).encode("utf-8", "surrogatepass")
    if b"tree_sizes=" in text and rng.random() < 0.5:
        text, note = _lightgbm_sizes(text, rng)
        notes.append(note)
    return text, "; ".join(notes)


def _lightgbm_sizes(text: bytes, rng: random.Random):
    """``tree_sizes`` made to agree with the ``Tree=`` blocks as they now are, or dropped."""
    head, sep, rest = text.partition(b"\n\nTree=")
    if not sep or rng.random() < 0.3:
        import re

        return re.sub(rb"tree_sizes=[^\n]*\n", b"", text, count=1), "drop tree_sizes"
    body = b"Tree=" + rest
    end = body.find(b"end of trees")
    trees = body[:end] if end >= 0 else body
    starts = [m.start() for m in __import__("re").finditer(rb"(?m)^Tree=", trees)] + [len(trees)]
    sizes = [b - a for a, b in zip(starts, starts[1:])]
    lines = head.split(b"\n")
    lines = [b"tree_sizes=" + b" ".join(str(s).encode() for s in sizes) if line.startswith(b"tree_sizes=") else line
             for line in lines]
    return b"\n".join(lines) + b"\n\n" + body, "tree_sizes recomputed"


# --- .apr: the container's bytes, with and without its CRC32 (and signature) made right again ------

def apr_mutation(data: bytes, rng: random.Random, others: list):
    r = rng.random()
    if r < 0.15:  # the checksum left as it was: the CRC32 check must catch it
        return byte_mutation(data, rng, others)
    if r < 0.3:  # the header's sizes, codes and flags, checksum fixed
        out, note = same_length_mutation(data[:32], rng)
        return reference_apr.fix_crc(out + data[32:], rng.random() < 0.7), "header: " + note + " (crc fixed)"
    if r < 0.45:
        out, note = byte_mutation(data, rng, others)
        return reference_apr.fix_crc(out, rng.random() < 0.7), note + " (crc fixed)"
    comp, signed, payload = reference_apr.parts(data)
    payload, note = mutate("xgbrs", payload, rng, [])
    if rng.random() < 0.15:
        comp = rng.choice([reference_apr.NONE, reference_apr.ZSTD, reference_apr.ZSTD_MAX, reference_apr.LZ4])
    return reference_apr.pack(payload, comp, sign=signed), f"payload ({comp}): {note}"
