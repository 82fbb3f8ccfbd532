"""``--watch``: poll each model file's status and announce a new version when it changes.

A changed file is loaded here first (the same checks as every load: format, checksums, the
trusted signer), and only a file that loads is announced to the workers; a bad one is logged and
counted in ``gbinfer_model_load_failures``, and the version serving stays. A file counts as changed
when its modification time, size or inode differ from what the serving version was read from
(recorded with each version in the control file). Polling ``os.stat`` needs no platform API and
costs one system call per model per interval.
"""

from __future__ import annotations

import logging
import threading

from ..errors import GbinferError
from .repository import file_stamp, load_model, publish, read_control

log = logging.getLogger("gbinfer.serve")


def start(state_dir: str, trusted_key, interval: float, metrics) -> threading.Event:
    """Start polling in a daemon thread; set the returned event to stop it."""
    stop = threading.Event()
    refused = {}  # name -> the stamp of a file that did not load: not tried again until it changes

    def poll() -> None:
        while not stop.wait(interval):
            for name, spec in read_control(state_dir).items():
                path = spec["path"]  # a load request may have pointed the model at another file
                stamp = file_stamp(path)
                if stamp is None or stamp == spec.get("stamp") or stamp == refused.get(name):
                    continue
                try:
                    load_model(path, trusted_key)
                except (GbinferError, OSError) as exc:
                    refused[name] = stamp
                    metrics.load_failures.labels(name).inc()
                    log.error("model %r: changed file %s not loaded, the serving version stays: %s", name, path, exc)
                    continue
                version = publish(state_dir, name, path, stamp)
                log.info("model %r: %s changed, version %d announced", name, path, version)

    threading.Thread(target=poll, name="gbinfer-watch", daemon=True).start()
    return stop
