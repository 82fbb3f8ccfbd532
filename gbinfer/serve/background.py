"""The server in a thread of the calling process, on a free loopback port: for tests, notebooks,
and applications that embed it. One worker; the same application and reload machinery as
``gbinfer serve``."""

from __future__ import annotations

import shutil
import socket
import tempfile
import threading
import time

from .app import Settings, create_app
from .server import load_all


class BackgroundServer:
    """``with BackgroundServer({"churn": "churn.xgbrs"}) as s: ... s.url ...``"""

    def __init__(self, paths: dict, *, settings: Settings = Settings(), trusted_key=None, watch_interval=None):
        import uvicorn

        self.state_dir = tempfile.mkdtemp(prefix="gbinfer-serve-")
        models = load_all(paths, trusted_key, self.state_dir)
        self.app = create_app(models, self.state_dir, settings=settings, trusted_key=trusted_key)
        self._stop_watch = None
        if watch_interval is not None:
            from . import watch

            self._stop_watch = watch.start(self.state_dir, trusted_key, watch_interval, self.app.state.metrics)
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(512)
        self.port = self._sock.getsockname()[1]
        self.url = f"127.0.0.1:{self.port}"
        self._server = uvicorn.Server(uvicorn.Config(self.app, log_level="warning", lifespan="on"))
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [self._sock]}, daemon=True)

    def __enter__(self) -> "BackgroundServer":
        self._thread.start()
        deadline = time.monotonic() + 120
        while not (self._server.started and self.app.state.repository.ready):
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.close()
                raise RuntimeError("the server did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        if self._stop_watch is not None:
            self._stop_watch.set()
        self._server.should_exit = True
        self._thread.join(timeout=30)
        self._sock.close()
        shutil.rmtree(self.state_dir, ignore_errors=True)
