"""The HTTP endpoints: v2 health, server and model metadata, readiness, the repository extension's
``load`` and ``/metrics`` (a Starlette application), and inference (``infer.InferFront``, a bare
ASGI application in front of it).

Every refusal is answered in the v2 error form ``{"error": "..."}``: a ``RequestError`` with its
own status, any other ``GbinferError`` (bad input for the model, a bad model file) with 400, and
anything unexpected with 500 (logged with its traceback, never sent to the client).
"""

from __future__ import annotations

import asyncio
import gc
import logging
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import dataclass

import orjson
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.responses import Response
from starlette.routing import Route

from .. import __version__
from . import bodies, protocol
from .infer import InferFront
from .metrics import Metrics
from .protocol import RequestError
from .repository import Repository

log = logging.getLogger("gbinfer.serve")
EXTENSIONS = ["binary_tensor_data", "model_repository", "arrow_stream", "msgpack"]


@dataclass(frozen=True)
class Settings:
    batch_window: float = 0.0005  # seconds a queued request may be held to gather others
    max_batch_rows: int = 65536  # rows of one kernel call, and of one request
    max_body_bytes: int = 64 << 20
    nthread: int | None = 1  # kernel threads per worker process
    follow_interval: float = 0.1  # seconds between looks at the other workers' loads
    inline_rows: int = 16  # batches of at most this many rows run on the event loop itself
    freeze_heap: bool = False  # after warmup, keep what is loaded out of the garbage collector's full passes


def create_app(models: dict, state_dir: str, *, settings: Settings = Settings(), trusted_key=None) -> InferFront:
    """The application serving ``models`` ({name: (path, loaded Model)}) as their version 1, and
    every later version the state directory names (a worker started after a reload catches up
    before it takes requests). Inference goes straight to ``InferFront``, the rest through
    Starlette (its ``state`` holds the repository and the metrics)."""
    metrics = Metrics()
    executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="gbinfer-predict")
    repo = Repository(state_dir, trusted_key=trusted_key, settings=settings, executor=executor, metrics=metrics)
    for name, (path, model) in models.items():
        repo.install(name, 1, path, model)

    @asynccontextmanager
    async def lifespan(app):
        loop = asyncio.get_running_loop()
        for name in repo.names():  # compile or load from cache before saying ready
            await loop.run_in_executor(executor, repo.entry(name).model.warmup)
        await repo.sync()
        if settings.freeze_heap:
            # the modules, Numba and the models are a quarter million objects that live as long
            # as the process: a full collection walks them all (35-120 ms here) and stalls every
            # request in flight, every few seconds under load. Frozen, they are never walked.
            gc.collect()
            gc.freeze()
        repo.ready = True
        follower = loop.create_task(repo.follow(settings.follow_interval))
        try:
            yield
        finally:
            follower.cancel()
            executor.shutdown(wait=False)

    handlers = _Handlers(repo, metrics, settings)
    routes = [
        Route("/v2/health/live", handlers.live),
        Route("/v2/health/ready", handlers.ready),
        Route("/v2", handlers.server),
        Route("/v2/models/{name}", handlers.model),
        Route("/v2/models/{name}/versions/{version}", handlers.model),
        Route("/v2/models/{name}/ready", handlers.model_ready),
        Route("/v2/models/{name}/versions/{version}/ready", handlers.model_ready),
        Route("/v2/repository/index", handlers.index, methods=["POST", "GET"]),
        Route("/v2/repository/models/{name}/load", handlers.load, methods=["POST"]),
        Route("/metrics", handlers.scrape),
    ]
    app = Starlette(routes=routes, lifespan=lifespan, exception_handlers={HTTPException: _http_error})
    app.state.repository = repo
    app.state.metrics = metrics
    return InferFront(app, repo, metrics, settings)


def _json(doc, status: int = 200) -> Response:
    return Response(orjson.dumps(doc), status, media_type="application/json")


async def _http_error(request, exc: HTTPException) -> Response:
    """Starlette's own refusals (no such route, wrong method) in the v2 error form too."""
    return Response(protocol.error_body(f"{request.method} {request.url.path}: {exc.detail}"), exc.status_code,
                    media_type="application/json")


def _error(exc: Exception) -> Response:
    status, body = protocol.refusal(exc)
    return Response(body, status, media_type="application/json")


class _Handlers:
    def __init__(self, repo: Repository, metrics: Metrics, settings: Settings):
        self.repo, self.metrics, self.settings = repo, metrics, settings

    async def live(self, request):
        return _json({"live": True})

    async def ready(self, request):
        return _json({"ready": self.repo.ready}, 200 if self.repo.ready else 503)

    async def server(self, request):
        return _json({"name": "gbinfer", "version": __version__, "extensions": EXTENSIONS})

    async def model(self, request):
        try:
            entry = self.repo.entry(request.path_params["name"], request.path_params.get("version"))
        except RequestError as exc:
            return _error(exc)
        return _json({**entry.metadata, "versions": self.repo.versions(entry.name)})

    async def model_ready(self, request):
        try:
            entry = self.repo.entry(request.path_params["name"], request.path_params.get("version"))
        except RequestError as exc:
            return _error(exc)
        return _json({"name": entry.name, "version": str(entry.version), "ready": self.repo.ready},
                     200 if self.repo.ready else 503)

    async def index(self, request):
        return _json([{"name": n, "version": str(self.repo.entry(n).version), "state": "READY"}
                      for n in self.repo.names()])

    async def load(self, request):
        name = request.path_params["name"]
        try:
            body = await bodies.read(request.headers, request.stream(), 1 << 20)
            doc = orjson.loads(body) if body.strip() else {}
            path = ((doc.get("parameters") or {}).get("path") if isinstance(doc, dict) else None)
            if path is not None and not isinstance(path, str):
                raise RequestError("parameters.path must be a string: the model file to load")
            entry = await self.repo.load(name, path)
        except orjson.JSONDecodeError as exc:
            return _error(RequestError(f"the request body is not valid JSON: {exc}"))
        except Exception as exc:  # noqa: BLE001 - answered in the v2 error form
            return _error(exc)
        return _json({"name": name, "version": str(entry.version)})

    async def scrape(self, request):
        body, content_type = self.metrics.exposition()
        return Response(body, headers={"content-type": content_type})
