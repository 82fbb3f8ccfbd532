"""``gbinfer serve``: models over HTTP with the KServe v2 / Open Inference Protocol.

Built on Starlette (the ASGI application) and uvicorn (the HTTP server), installed by the
``serve`` extra; nothing here is imported by the rest of gbinfer, and ``command`` (the CLI's
arguments) imports neither. Modules: ``protocol`` (v2 tensors, JSON and binary), ``bodies``
(content types), ``inputs`` (tensors -> model input), ``batching``, ``repository`` (versions
and reload), ``sharing`` (one copy of the arrays for all workers), ``metadata``, ``metrics``,
``app`` (endpoints), ``infer`` (the inference route, in front of Starlette), ``watch`` (file
polling), ``server`` (sockets and worker processes), ``background`` (the server in a thread, for
tests and notebooks).
"""
