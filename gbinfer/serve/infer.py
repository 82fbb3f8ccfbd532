"""The inference route, ``POST /v2/models/{name}[/versions/{version}]/infer``, as a bare ASGI
application in front of Starlette, which answers every other request.

Inference is the request a server answers thousands of times a second, and under load most of a
worker's CPU went to the HTTP stack around it: Starlette's routing (a regex per route), its
middleware layers, and the Request and Response objects built for each request. Here the path is
split once, the headers read from the ASGI scope, and the answer sent as two ASGI messages; the
body is read, parsed, batched and answered by the same helpers as before, with the same refusals
in the v2 error form and the same metrics.
"""

from __future__ import annotations

import time

from starlette.datastructures import QueryParams
from starlette.requests import ClientDisconnect

from . import bodies, inputs, protocol
from .protocol import RequestError

PREFIX, SUFFIX = "/v2/models/", "/infer"
JSON = b"application/json"


def route(path: str):
    """(name, version or None) when ``path`` is an inference path, else None (matching what
    Starlette's ``/v2/models/{name}/infer`` and ``.../versions/{version}/infer`` routes match)."""
    if not (path.startswith(PREFIX) and path.endswith(SUFFIX)):
        return None
    parts = path[len(PREFIX):-len(SUFFIX)].split("/")
    if len(parts) == 1 and parts[0]:
        return parts[0], None
    if len(parts) == 3 and parts[1] == "versions" and parts[0] and parts[2]:
        return parts[0], parts[2]
    return None


class InferFront:
    """ASGI application: inference requests answered here, everything else by ``app``."""

    def __init__(self, app, repo, metrics, settings):
        self.app, self.repo, self.metrics, self.settings = app, repo, metrics, settings
        self.state = app.state
        self._latencies: dict = {}

    def _latency(self, name: str):
        """The latency histogram of a served model (looked up once: ``labels`` takes a lock)."""
        child = self._latencies.get(name)
        if child is None:
            child = self._latencies[name] = self.metrics.latency.labels(name)
        return child

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "http":
            target = route(scope["path"])
            if target is not None:
                if scope["method"] != "POST":  # what Starlette answers for a route's other methods
                    message = f"{scope['method']} {scope['path']}: Method Not Allowed"
                    return await _answer(send, 405, protocol.error_body(message), ((b"content-type", JSON),))
                return await self.infer(scope, receive, send, *target)
        await self.app(scope, receive, send)

    async def infer(self, scope, receive, send, name: str, version) -> None:
        start = time.perf_counter()
        try:
            entry = self.repo.entry(name, version)
            headers = _headers(scope["headers"])
            body = await bodies.read(headers, _chunks(receive), self.settings.max_body_bytes)
            kind = bodies.kind_of(headers.get("content-type", ""))
            query = QueryParams(scope["query_string"]) if kind == bodies.ARROW else None  # only Arrow reads it
            req = bodies.parse(kind, body, headers, query, entry.model)
            rows = inputs.rows_of(entry.model, req.inputs)
            if rows.n > self.settings.max_batch_rows:
                raise RequestError(f"the request has {rows.n} rows; this server takes at most "
                                   f"{self.settings.max_batch_rows} a request (--max-batch-rows)", 413)
            names = inputs.requested(req)
            margin = inputs.output_margin_of(req.parameters)
            result = await entry.batcher.submit((rows.key, names, margin), (rows, names, margin), rows.n)
            content, extra = bodies.respond(kind, entry, req, names, result)
        except Exception as exc:  # noqa: BLE001 - answered in the v2 error form
            status, content = protocol.refusal(exc)
            known = name if name in self.repo.names() else "-"  # label values never come from the client
            self.metrics.errors.labels(known, str(status)).inc()
            return await _answer(send, status, content, ((b"content-type", JSON),))
        self._latency(name).observe(time.perf_counter() - start)
        await _answer(send, 200, content, [(k.encode("latin-1"), v.encode("latin-1")) for k, v in extra.items()])


def _headers(raw) -> dict:
    """The request's headers by lower-case name (ASGI gives them lower-cased); the first of repeated ones."""
    out = {}
    for key, value in raw:
        name = key.decode("latin-1")
        if name not in out:
            out[name] = value.decode("latin-1")
    return out


async def _chunks(receive):
    """The body's chunks as the server receives them; a client gone before the end raises."""
    while True:
        message = await receive()
        if message["type"] != "http.request":
            raise ClientDisconnect()
        yield message.get("body", b"")
        if not message.get("more_body", False):
            return


async def _answer(send, status: int, body: bytes, headers) -> None:
    await send({"type": "http.response.start", "status": status,
                "headers": [*headers, (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})
