"""One copy of each model's arrays for all worker processes.

A ``.xgbrs`` file's leaf values are already views of its read-only memory map, but the node
arrays the kernels walk are packed on load (and a model from any other format is built in memory
altogether), so each process that loads a model would hold its own copy. ``share`` writes those
arrays once into a file in the server's state directory, keyed by model name and version, and
gives back the same model whose arrays are read-only views of that file's memory map: every
worker that loads the version maps the same page-cache pages. A process that finds the file
already written checks it byte for byte against the arrays it has just built and validated
itself before it uses the views, so the file is trusted for nothing.
"""

from __future__ import annotations

import copy
import dataclasses
import mmap
import os

import numpy as np

ALIGN = 64
MIN_BYTES = 4096  # smaller arrays are not worth a page of their own


def share(model, directory: str, name: str, version: int):
    """``model`` with its large in-memory arrays replaced by views of a shared file."""
    found = []
    _collect(model, found)
    if not found:
        return model
    layout, end = [], 0
    for arr in found:
        offset = -(-end // ALIGN) * ALIGN
        layout.append(offset)
        end = offset + arr.nbytes
    path = os.path.join(directory, f"{name}.{version}.arrays")
    if not _matches(path, end):
        _write(path, found, layout)
    with open(path, "rb") as fh:
        buf = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ)
    views = {}
    for arr, offset in zip(found, layout):
        view = np.frombuffer(buf, dtype=arr.dtype, count=arr.size, offset=offset).reshape(arr.shape)
        if not np.array_equal(_bytes(view), _bytes(arr)):
            return model  # another writer's file that differs: keep this process's own arrays
        views[id(arr)] = view
    return _replace(model, views)


def _matches(path: str, size: int) -> bool:
    try:
        return os.stat(path).st_size == size
    except OSError:
        return False


def _write(path: str, arrays: list, layout: list) -> None:
    tmp = f"{path}.{os.getpid()}.tmp"
    with open(tmp, "wb") as fh:
        pos = 0
        for arr, offset in zip(arrays, layout):
            fh.write(bytes(offset - pos))
            fh.write(memoryview(_bytes(arr)))
            pos = offset + arr.nbytes
    os.replace(tmp, path)


def _bytes(arr: np.ndarray) -> np.ndarray:
    return arr.reshape(-1).view(np.uint8)


def _file_backed(arr: np.ndarray) -> bool:
    base = arr
    while base is not None:
        if isinstance(base, mmap.mmap) or (isinstance(base, memoryview) and isinstance(base.obj, mmap.mmap)):
            return True
        base = getattr(base, "base", None)
    return False


def _candidate(value) -> bool:
    return (isinstance(value, np.ndarray) and value.nbytes >= MIN_BYTES and not value.dtype.hasobject
            and value.flags.c_contiguous and not _file_backed(value))


def _children(obj):
    """(field name, value) of a runtime dataclass."""
    return [(f.name, getattr(obj, f.name)) for f in dataclasses.fields(obj)]


def _collect(obj, out: list, seen=None) -> None:
    seen = set() if seen is None else seen
    if id(obj) in seen:
        return
    seen.add(id(obj))
    if _candidate(obj):
        out.append(obj)
    elif dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        for _, value in _children(obj):
            _collect(value, out, seen)
    elif isinstance(obj, (list, tuple)):
        for value in obj:
            _collect(value, out, seen)


def _replace(obj, views: dict):
    """A copy of ``obj`` with every array in ``views`` swapped for its view (frozen dataclasses
    are copied and their field set directly: the values are the same bytes)."""
    if isinstance(obj, np.ndarray):
        return views.get(id(obj), obj)
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        changed = {}
        for name, value in _children(obj):
            new = _replace(value, views)
            if new is not value:
                changed[name] = new
        if not changed:
            return obj
        clone = copy.copy(obj)
        for name, value in changed.items():
            object.__setattr__(clone, name, value)
        return clone
    if isinstance(obj, (list, tuple)):
        items = [_replace(value, views) for value in obj]
        if all(a is b for a, b in zip(items, obj)):
            return obj
        return type(obj)(items) if isinstance(obj, list) or type(obj) is tuple else obj
    return obj
