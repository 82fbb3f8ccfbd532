"""``--watch``: poll each model file's status and announce a new version when it changes.

A changed file is loaded here first (the same checks as every load: format, checksums, the
trusted signer), and only a file that loads is announced to the workers; a bad one is logged and
counted in ``gbinfer_model_load_failures``, and the version serving stays. Polling ``os.stat``
needs no platform API and costs one system call per model per interval.
"""

from __future__ import annotations

import logging
import os
import threading

from ..errors import GbinferError
from .repository import load_model, publish, read_control

log = logging.getLogger("gbinfer.serve")


def _stamp(path: str):
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_mtime_ns, st.st_size, st.st_ino


def start(state_dir: str, trusted_key, interval: float, metrics) -> threading.Event:
    """Start polling in a daemon thread; set the returned event to stop it."""
    stop = threading.Event()
    seen = {name: (spec["path"], _stamp(spec["path"])) for name, spec in read_control(state_dir).items()}

    def poll() -> None:
        while not stop.wait(interval):
            for name, spec in read_control(state_dir).items():
                path = spec["path"]  # a load request may have pointed the model at another file
                stamp = _stamp(path)
                if seen.get(name) == (path, stamp) or stamp is None:
                    continue
                previous = seen.get(name)
                seen[name] = (path, stamp)
                if previous is not None and previous[0] != path:
                    continue  # a load request switched files: that version is already announced
                try:
                    load_model(path, trusted_key)
                except (GbinferError, OSError) as exc:
                    metrics.load_failures.labels(name).inc()
                    log.error("model %r: changed file %s not loaded, the serving version stays: %s", name, path, exc)
                    continue
                version = publish(state_dir, name, path)
                log.info("model %r: %s changed, version %d announced", name, path, version)

    threading.Thread(target=poll, name="gbinfer-watch", daemon=True).start()
    return stop
