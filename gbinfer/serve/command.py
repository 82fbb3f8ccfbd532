"""The ``gbinfer serve`` subcommand's arguments (argparse only: the server's packages are imported
when the command runs, so ``gbinfer --help`` works without the ``serve`` extra)."""

from __future__ import annotations


def add_command(sub) -> None:
    s = sub.add_parser("serve", help="serve models over HTTP: KServe v2 / Open Inference Protocol")
    s.add_argument("models", nargs="+", metavar="NAME=PATH", help="a model to serve and the name to serve it by")
    s.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1: this machine only)")
    s.add_argument("--port", type=int, default=8080)
    s.add_argument("--workers", type=int, default=1, help="processes sharing the listening socket")
    s.add_argument("--threads", type=int, default=1, help="kernel threads per worker process (default 1)")
    s.add_argument("--trusted-key", help="Ed25519 public key (PEM) that signed .apr files must be signed by")
    s.add_argument("--watch", action="store_true", help="reload a model when its file changes (mtime polling)")
    s.add_argument("--watch-interval", type=float, default=1.0, metavar="SECONDS")
    s.add_argument("--batch-window-us", type=int, default=500,
                   help="how long a queued request may be held to share a kernel call (microseconds)")
    s.add_argument("--max-batch-rows", type=int, default=65536, help="rows of one kernel call and of one request")
    s.add_argument("--max-body-mb", type=float, default=64.0, help="largest request body (MiB)")
    s.add_argument("--log-level", default="info", choices=("critical", "error", "warning", "info", "debug"))


def run(args) -> int:
    from importlib.util import find_spec

    from ..errors import MissingDependency

    for module in ("starlette", "uvicorn", "prometheus_client"):  # found, not imported: see server.serve
        if find_spec(module) is None:
            raise MissingDependency(module, "serve", "gbinfer serve")
    from .server import serve

    return serve(args)
