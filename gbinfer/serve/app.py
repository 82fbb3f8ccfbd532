"""The HTTP endpoints (a Starlette application): v2 health, server and model metadata, readiness,
inference, the repository extension's ``load``, and ``/metrics``.

Every refusal is answered in the v2 error form ``{"error": "..."}``: a ``RequestError`` with its
own status, any other ``GbinferError`` (bad input for the model, a bad model file) with 400, and
anything unexpected with 500 (logged with its traceback, never sent to the client).
"""

from __future__ import annotations

import asyncio
import logging
import time
import zlib
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import dataclass

import orjson
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.responses import Response
from starlette.routing import Route

from .. import __version__
from ..errors import GbinferError
from . import bodies, inputs, protocol
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


def create_app(models: dict, state_dir: str, *, settings: Settings = Settings(), trusted_key=None) -> Starlette:
    """The application serving ``models`` ({name: (path, loaded Model)}) as their version 1, and
    every later version the state directory names (a worker started after a reload catches up
    before it takes requests)."""
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
        Route("/v2/models/{name}/infer", handlers.infer, methods=["POST"]),
        Route("/v2/models/{name}/versions/{version}/infer", handlers.infer, methods=["POST"]),
        Route("/v2/repository/index", handlers.index, methods=["POST", "GET"]),
        Route("/v2/repository/models/{name}/load", handlers.load, methods=["POST"]),
        Route("/metrics", handlers.scrape),
    ]
    app = Starlette(routes=routes, lifespan=lifespan, exception_handlers={HTTPException: _http_error})
    app.state.repository = repo
    app.state.metrics = metrics
    return app


def _json(doc, status: int = 200) -> Response:
    return Response(orjson.dumps(doc), status, media_type="application/json")


async def _http_error(request, exc: HTTPException) -> Response:
    """Starlette's own refusals (no such route, wrong method) in the v2 error form too."""
    return Response(protocol.error_body(f"{request.method} {request.url.path}: {exc.detail}"), exc.status_code,
                    media_type="application/json")


def _error(exc: Exception) -> Response:
    if isinstance(exc, RequestError):
        return Response(protocol.error_body(str(exc)), exc.status, media_type="application/json")
    if isinstance(exc, GbinferError):
        return Response(protocol.error_body(str(exc)), 400, media_type="application/json")
    log.exception("unexpected error", exc_info=exc)
    return Response(protocol.error_body(f"internal error: {type(exc).__name__}"), 500, media_type="application/json")


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
            body = await _read_body(request, 1 << 20)
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

    async def infer(self, request):
        start = time.perf_counter()
        name = request.path_params["name"]
        try:
            entry = self.repo.entry(name, request.path_params.get("version"))
            body = await _read_body(request, self.settings.max_body_bytes)
            kind = bodies.kind_of(request.headers.get("content-type", ""))
            req = bodies.parse(kind, body, request.headers, request.query_params, entry.model)
            rows = inputs.rows_of(entry.model, req.inputs)
            if rows.n > self.settings.max_batch_rows:
                raise RequestError(f"the request has {rows.n} rows; this server takes at most "
                                   f"{self.settings.max_batch_rows} a request (--max-batch-rows)", 413)
            names = inputs.requested(req)
            margin = inputs.output_margin_of(req.parameters)
            result = await entry.batcher.submit((rows.key, names, margin), (rows, names, margin), rows.n)
            content, headers = bodies.respond(kind, entry, req, names, result)
        except Exception as exc:  # noqa: BLE001 - answered in the v2 error form
            response = _error(exc)
            known = name if name in self.repo.names() else "-"  # label values never come from the client
            self.metrics.errors.labels(known, str(response.status_code)).inc()
            return response
        self.metrics.latency.labels(name).observe(time.perf_counter() - start)
        return Response(content, headers=headers)


async def _read_body(request, limit: int) -> bytes:
    """The body, refused with 413 beyond ``limit`` bytes (before reading it when Content-Length
    says so); a gzip or deflate body is inflated under the same limit."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise RequestError(f"the body is {declared} bytes; this server takes at most {limit} (--max-body-mb)", 413)
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise RequestError(f"the body is over {limit} bytes, the most this server takes (--max-body-mb)", 413)
        chunks.append(chunk)
    body = b"".join(chunks)
    encoding = request.headers.get("content-encoding", "").lower()
    if encoding in ("gzip", "deflate"):
        inflater = zlib.decompressobj(wbits=31 if encoding == "gzip" else 15)
        try:
            body = inflater.decompress(body, limit + 1)
        except zlib.error as exc:
            raise RequestError(f"the {encoding} body does not inflate: {exc}") from None
        if len(body) > limit or inflater.unconsumed_tail:
            raise RequestError(f"the inflated body is over {limit} bytes (--max-body-mb)", 413)
    elif encoding not in ("", "identity"):
        raise RequestError(f"Content-Encoding {encoding!r:.40} is not supported (gzip, deflate)", 415)
    return body
