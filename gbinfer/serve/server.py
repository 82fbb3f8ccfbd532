"""Sockets and processes: bind once, load every model once, then serve from one process or from
``--workers`` forked processes that share the listening socket (the kernel spreads connections
over them).

The models are loaded in the parent before it forks, so the children start with them: a
``.xgbrs`` model's arrays are views of its read-only memory map (page cache, shared by every
process), and what loading built is shared the same way (``sharing``). The parent imports the
server and kernel modules for its workers but runs no kernel (Numba's thread pools must not cross
a fork); each worker warms its kernels from Numba's on-disk cache before it reports ready. A
worker that dies is replaced.
"""

from __future__ import annotations

import gc
import logging
import os
import shutil
import signal
import socket
import sys
import tempfile
import time

from ..errors import DataError
from .repository import file_stamp, load_model, write_control
from .sharing import share

log = logging.getLogger("gbinfer.serve")


def parse_models(specs: list) -> dict:
    """``name=path`` arguments as {name: absolute path}."""
    out = {}
    for spec in specs:
        name, sep, path = spec.partition("=")
        if not sep or not name or not path:
            raise DataError(f"model {spec!r}: expected NAME=PATH, e.g. churn=models/churn.xgbrs")
        if "/" in name or name in out:
            raise DataError(f"model name {name!r} must be unique and contain no '/'")
        out[name] = os.path.abspath(path)
    return out


def load_all(paths: dict, trusted_key, state_dir: str) -> dict:
    """Load every model ({name: (path, Model)}, its arrays in shared files) and record them as
    version 1 in ``state_dir``."""
    stamps = {name: file_stamp(path) for name, path in paths.items()}
    models = {name: (path, share(load_model(path, trusted_key), state_dir, name, 1)) for name, path in paths.items()}
    write_control(state_dir, {name: {"path": path, "version": 1, "stamp": stamps[name]}
                              for name, path in paths.items()})
    return models


def serve(args) -> int:
    from .app import Settings

    if args.workers < 1 or args.threads < 1 or args.max_batch_rows < 1 or args.batch_window_us < 0:
        raise DataError("--workers, --threads and --max-batch-rows must be at least 1, --batch-window-us >= 0")
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(process)d %(levelname)s %(message)s")
    settings = Settings(batch_window=args.batch_window_us / 1e6, max_batch_rows=args.max_batch_rows,
                        max_body_bytes=int(args.max_body_mb * (1 << 20)), nthread=args.threads, freeze_heap=True)
    paths = parse_models(args.models)
    state_dir = tempfile.mkdtemp(prefix="gbinfer-serve-")
    try:
        if args.workers > 1:  # before prometheus_client is imported: it picks its storage then
            os.environ["PROMETHEUS_MULTIPROC_DIR"] = os.path.join(state_dir, "metrics")
            os.mkdir(os.environ["PROMETHEUS_MULTIPROC_DIR"])
        models = load_all(paths, args.trusted_key, state_dir)
        if args.workers > 1:  # imported once for all workers (pages shared until written); nothing runs yet
            import prometheus_client  # noqa: F401
            import uvicorn  # noqa: F401

            import gbinfer.predict  # noqa: F401 - Numba and the kernel modules

            gc.collect()
            gc.freeze()  # the workers' collections never walk (and so never copy) the pages they share
        sock = socket.socket(socket.AF_INET6 if ":" in args.host else socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((args.host, args.port))
        except OSError as exc:
            raise DataError(f"cannot listen on {args.host}:{args.port}: {exc.strerror}") from None
        sock.listen(2048)
        log.info("serving %s on http://%s:%d with %d worker(s)", ", ".join(paths), args.host,
                 sock.getsockname()[1], args.workers)  # the port the system chose for --port 0
        if args.workers == 1:
            app = _app(models, state_dir, settings, args.trusted_key)
            if args.watch:
                from . import watch

                watch.start(state_dir, args.trusted_key, args.watch_interval, app.state.metrics)
            # uvicorn stops gracefully on these, then raises the signal again under the handler it
            # found: make that an ordinary exit, so that the state directory is removed
            signal.signal(signal.SIGTERM, _exit)
            signal.signal(signal.SIGINT, _exit)
            _run(app, sock, args.log_level)
        else:
            _supervise(args, models, state_dir, settings, sock)
    finally:
        shutil.rmtree(state_dir, ignore_errors=True)
    return 0


def _exit(signum, frame):
    raise SystemExit(0)


def _app(models, state_dir, settings, trusted_key):
    from .app import create_app

    return create_app(models, state_dir, settings=settings, trusted_key=trusted_key)


def _run(app, sock, log_level: str) -> None:
    import uvicorn

    # no access log, no Server header, and no X-Forwarded-* rewriting of the client address
    # (nothing here reads it): one layer and a few header bytes less on every request
    config = uvicorn.Config(app, log_level=log_level, access_log=False, lifespan="on", timeout_graceful_shutdown=5,
                            proxy_headers=False, server_header=False)
    uvicorn.Server(config).run(sockets=[sock])


def _supervise(args, models, state_dir, settings, sock) -> None:
    """Fork the workers, replace any that dies, and stop them all on SIGINT / SIGTERM."""
    children: dict[int, float] = {}
    stopping = False

    def spawn() -> None:
        pid = os.fork()
        if pid == 0:  # the worker
            signal.signal(signal.SIGINT, signal.SIG_DFL)
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            code = 0
            try:
                _run(_app(models, state_dir, settings, args.trusted_key), sock, args.log_level)
            except BaseException:  # noqa: BLE001 - a worker reports and exits, the parent replaces it
                log.exception("worker failed")
                code = 1
            finally:
                sys.stdout.flush()
                sys.stderr.flush()
                os._exit(code)
        children[pid] = time.monotonic()

    def stop(signum, frame) -> None:
        nonlocal stopping
        stopping = True
        for pid in list(children):
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    for _ in range(args.workers):
        spawn()
    if args.watch:
        from . import watch
        from .metrics import Metrics

        watch.start(state_dir, args.trusted_key, args.watch_interval, Metrics())
    while children:
        try:
            pid, status = os.wait()
        except ChildProcessError:
            break
        except InterruptedError:
            continue
        started = children.pop(pid, None)
        if started is None or stopping:
            continue
        log.error("worker %d exited (status %d); starting another", pid, status)
        if time.monotonic() - started < 1.0:
            time.sleep(1.0)  # a worker that dies at once would otherwise be restarted in a tight loop
        spawn()
