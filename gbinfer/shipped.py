"""A model on its way to Dask or Spark workers: its ``.xgbrs`` bytes and their SHA-256, never the
``Model`` object itself.

The bytes are gbinfer's versioned, checksummed format, so a worker running another gbinfer build
reads them or refuses them by name; a pickled ``Model`` would tie both sides to one set of runtime
types. A worker process loads a model once and keeps it by digest: every later partition of that
model, in any job, finds it in ``receive``'s cache.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from dataclasses import dataclass

from .errors import DataError, ModelFormatError
from .model import Model

KEEP = 8  # models a worker process keeps loaded (least recently used first out)


@dataclass(frozen=True, repr=False)
class Shipped:
    """What crosses the wire: the model's ``.xgbrs`` bytes, and their SHA-256 as hex."""

    blob: bytes
    digest: str

    def __repr__(self) -> str:  # a task graph or log line shows this, not megabytes of bytes
        return f"<gbinfer model {self.digest[:12]}, {len(self.blob)} bytes>"


def ship(model) -> Shipped:
    """The bytes a worker rebuilds ``model`` from, with their digest."""
    if not isinstance(model, Model):
        raise DataError(f"expected a gbinfer Model (from gbinfer.load), got {type(model).__name__}")
    from .serialization import binary

    blob = binary.dumps(model)
    return Shipped(blob, hashlib.sha256(blob).hexdigest())


_loaded: "OrderedDict[str, Model]" = OrderedDict()
_lock = threading.Lock()  # a Dask worker runs several tasks at once: load each model once


def receive(digest: str, blob) -> Model:
    """The model whose ``.xgbrs`` bytes have SHA-256 ``digest``, loaded on first use in this process.

    ``blob`` is the bytes, or a function returning them (a Spark broadcast is read only when the
    model is not loaded yet). Bytes that do not match their digest are refused.
    """
    model = _loaded.get(digest)
    if model is not None:
        return model
    with _lock:
        model = _loaded.get(digest)
        if model is None:
            data = blob() if callable(blob) else blob
            if hashlib.sha256(data).hexdigest() != digest:
                raise ModelFormatError("<shipped model>", None, f"the bytes received do not have the SHA-256 "
                                                                 f"{digest} they were sent with")
            from .serialization import binary

            model = binary.loads(bytes(data), "<shipped model>")
            _loaded[digest] = model
            while len(_loaded) > KEEP:
                _loaded.popitem(last=False)
        _loaded.move_to_end(digest)
    return model
