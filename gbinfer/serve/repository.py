"""The models a server holds, by name and version, and how a new version replaces the old one.

A version is immutable: its model, its batcher and its metadata are built, warmed up and checked
before it is installed, and installing it is one dict assignment on the event loop. A request
takes the entry it will use once, at the start, so it is answered entirely by one version, and
the old version serves every request that already holds it. A file that fails to load (malformed,
unsigned where a trusted key is required, signed by another key) is logged and counted, and the
version serving stays.

Several worker processes agree on versions through one small JSON file in the server's state
directory (``{name: {"path", "version"}}``, replaced atomically under a lock): whoever loads a
new version (a ``load`` request in any worker, or the ``--watch`` poller) writes it there, and
every worker polls the file and loads what it lacks.
"""

from __future__ import annotations

import asyncio
import fcntl
import logging
import os
import time
from dataclasses import dataclass

import numpy as np
import orjson

from ..errors import GbinferError, KeyRequired, ModelFormatError
from . import inputs
from .batching import Batcher
from .protocol import RequestError
from .sharing import share

log = logging.getLogger("gbinfer.serve")
KEEP_VERSIONS = 2  # the serving version and the one before it stay addressable by number
CONTROL = "models.json"


def load_model(path: str, trusted_key=None):
    """A model file: ``.apr`` through ``gbinfer.apr.load`` (which refuses a signed file unless
    ``trusted_key`` is the signer), others through ``gbinfer.load`` (``.xgbrs`` memory-mapped).
    With a trusted key every model must be an ``.apr`` file signed by it: a format that carries
    no signature would let an unsigned model in."""
    import gbinfer

    with open(path, "rb") as fh:
        magic = fh.read(4)
    if magic == b"APRN" or trusted_key is not None:
        from gbinfer import apr

        if magic != b"APRN":
            raise ModelFormatError(str(path), None, "is not an .apr file; with --trusted-key every model must be an "
                                                    ".apr file signed by that key")
        try:
            return apr.load(path, trusted_key=trusted_key)
        except KeyRequired as exc:
            raise KeyRequired(f"{exc}; for gbinfer serve: --trusted-key PUBLIC_KEY.pem") from None
    return gbinfer.load(path)


@dataclass(frozen=True, eq=False)
class Entry:
    """One loaded version of a model."""

    name: str
    version: int
    path: str
    model: object
    batcher: Batcher
    metadata: dict


class Repository:
    def __init__(self, state_dir: str, *, trusted_key, settings, executor, metrics):
        self.state_dir = state_dir
        self.trusted_key = trusted_key
        self.settings = settings
        self.executor = executor
        self.metrics = metrics
        self._versions: dict[str, dict[int, Entry]] = {}
        self._failed: set = set()  # (name, version) the control file names but that did not load here
        self._control_mtime = None
        self.ready = False

    # --- lookup ---------------------------------------------------------------------------------

    def names(self) -> list:
        return list(self._versions)

    def entry(self, name: str, version: str | None = None) -> Entry:
        versions = self._versions.get(name)
        if not versions:
            raise RequestError(f"model {name!r} is not served; served: {', '.join(self._versions) or 'none'}", 404)
        if version is None:
            return versions[max(versions)]
        try:
            return versions[int(version)]
        except (ValueError, KeyError):
            raise RequestError(f"model {name!r} has no version {version!r:.40}; loaded: "
                               f"{', '.join(map(str, versions))}", 404) from None

    def versions(self, name: str) -> list:
        return [str(v) for v in sorted(self._versions.get(name, ()))]

    # --- install --------------------------------------------------------------------------------

    def install(self, name: str, version: int, path: str, model) -> Entry:
        """Make ``model`` the serving version of ``name`` (on the event loop, or before it runs)."""
        from .metadata import model_metadata

        s = self.settings
        batcher = Batcher(_runner(model, s.nthread), window=s.batch_window, max_rows=s.max_batch_rows,
                          executor=self.executor, on_batch=self.metrics.batch(name), inline_rows=s.inline_rows)
        entry = Entry(name, version, path, model, batcher, model_metadata(name, model))
        versions = dict(self._versions.get(name, {}))
        versions[version] = entry
        for old in sorted(versions)[:-KEEP_VERSIONS]:
            del versions[old]
        self._versions[name] = versions  # one assignment: a request sees the old dict or the new one
        self.metrics.version.labels(name).set(version)
        self.metrics.loads.labels(name).inc()
        return entry

    async def load(self, name: str, path: str | None = None) -> Entry:
        """Load a new version of ``name`` (from ``path``, else its current file), announce it to the
        other workers and serve it; a file that fails leaves the serving version in place."""
        path = self._allowed(path) if path else self.entry(name).path
        stamp = file_stamp(path)  # before reading: a change while it is read is a change after it
        model = await self._in_thread(name, path, load_model, path, self.trusted_key)
        version = publish(self.state_dir, name, path, stamp)
        model = await self._in_thread(name, path, self._prepare, model, name, version)
        return self.install(name, version, path, model)

    def _allowed(self, path: str) -> str:
        """A path a load request names: only in a directory a served model was loaded from, so
        that the endpoint cannot be used to probe other files of the machine."""
        real = os.path.realpath(path)
        homes = {os.path.dirname(os.path.realpath(e.path)) for v in self._versions.values() for e in v.values()}
        if os.path.dirname(real) not in homes:
            raise RequestError(f"parameters.path {path!r}: a model can be loaded from the directories the served "
                               "models were loaded from only", 403)
        return real

    async def _in_thread(self, name: str, path: str, function, *args):
        """``function(*args)`` off the event loop; a refused file is logged, counted and a RequestError."""
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(None, function, *args)
        except (GbinferError, OSError) as exc:
            self.metrics.load_failures.labels(name).inc()
            log.error("model %r: %s not loaded, version %s keeps serving: %s", name, path,
                      self.entry(name).version, exc)
            raise RequestError(f"model {name!r}: {path} was not loaded: {exc}") from None

    def _prepare(self, model, name: str, version: int):
        """The version as it will serve: arrays shared with the other workers, kernels warm."""
        model = share(model, self.state_dir, name, version)
        model.warmup()
        return model

    # --- following the other workers ------------------------------------------------------------

    async def follow(self, interval: float) -> None:
        """Poll the control file; load every version it names that this process lacks."""
        while True:
            await asyncio.sleep(interval)
            await self.sync()

    async def sync(self) -> None:
        """Load the versions the control file names that this process lacks (if it changed)."""
        try:
            mtime = os.stat(os.path.join(self.state_dir, CONTROL)).st_mtime_ns
        except OSError:
            return
        if mtime == self._control_mtime:
            return
        self._control_mtime = mtime
        for name, spec in read_control(self.state_dir).items():
            have = self._versions.get(name)
            if not have or spec["version"] <= max(have) or (name, spec["version"]) in self._failed:
                continue
            try:
                model = await self._in_thread(name, spec["path"], load_model, spec["path"], self.trusted_key)
                model = await self._in_thread(name, spec["path"], self._prepare, model, name, spec["version"])
            except RequestError:
                self._failed.add((name, spec["version"]))
                continue
            if spec["version"] > max(self._versions[name]):
                self.install(name, spec["version"], spec["path"], model)


def _runner(model, nthread):
    """The batch function of one model version: stack the requests' rows, predict, split."""

    def run(key, payloads):
        _, names, margin = key
        parts = [p[0] for p in payloads]
        outputs = inputs.compute(model, inputs.stack(model, parts), names, margin, nthread)
        if len(parts) == 1:
            return [outputs]
        cuts = np.cumsum([p.n for p in parts])[:-1]
        split = {name: np.split(arr, cuts) for name, arr in outputs.items()}
        return [{name: split[name][i] for name in names} for i in range(len(parts))]

    return run


# --- the control file ---------------------------------------------------------------------------

def read_control(state_dir: str) -> dict:
    try:
        with open(os.path.join(state_dir, CONTROL), "rb") as fh:
            return orjson.loads(fh.read())
    except (OSError, orjson.JSONDecodeError):
        return {}


def write_control(state_dir: str, doc: dict) -> None:
    path = os.path.join(state_dir, CONTROL)
    tmp = f"{path}.{os.getpid()}.tmp"
    with open(tmp, "wb") as fh:
        fh.write(orjson.dumps(doc))
    os.replace(tmp, path)


def file_stamp(path: str) -> list | None:
    """What tells a file's versions apart: modification time, size and inode (a file renamed
    over another has a new inode even within the same clock tick)."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return [st.st_mtime_ns, st.st_size, st.st_ino]


def publish(state_dir: str, name: str, path: str, stamp) -> int:
    """Record a new version of ``name`` from ``path`` (as it was when it was read: ``stamp``);
    its number, one above the last."""
    with open(os.path.join(state_dir, "lock"), "a+b") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        doc = read_control(state_dir)
        version = doc.get(name, {}).get("version", 0) + 1
        doc[name] = {"path": path, "version": version, "stamp": stamp, "published": time.time()}
        write_control(state_dir, doc)
    return version
