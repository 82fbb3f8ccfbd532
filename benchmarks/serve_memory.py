"""Resident memory of ``gbinfer serve`` per worker process, for one large model.

Starts the server with 1, 2 and 4 workers (each run bounded by a timeout), predicts a few
requests so that every worker has walked the model, then reads PSS (proportional set size: a page
shared by k processes counts 1/k in each) from ``/proc/<pid>/smaps_rollup`` of the parent and its
workers. The cost of one more worker is the growth of the total PSS per added worker.

    python benchmarks/serve_memory.py MODEL.xgbrs [--workers 1 2 4]
"""

from __future__ import annotations

import argparse
import http.client
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import orjson

ROOT = Path(__file__).resolve().parent.parent
FIELDS = ("Rss", "Pss", "Shared_Clean", "Shared_Dirty", "Private_Clean", "Private_Dirty")


def rollup(pid: int) -> dict:
    out = {}
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
        key, _, rest = line.partition(":")
        if key in FIELDS:
            out[key] = int(rest.split()[0]) / 1024  # MiB
    return out


def children(pid: int) -> list:
    return [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]


def request(port: int, method: str, path: str, body=None):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        conn.request(method, path, body=body)
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


def measure(model: str, workers: int, timeout: float) -> dict:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-m", "gbinfer", "serve", f"big={model}", "--port", str(port),
                             "--workers", str(workers), "--log-level", "warning"],
                            env={**os.environ, "PYTHONPATH": str(ROOT)})
    try:
        deadline = time.monotonic() + timeout
        while True:
            if proc.poll() is not None:
                raise SystemExit("the server exited")
            try:
                forked = 0 if workers == 1 else workers  # one worker runs in the parent itself
                if request(port, "GET", "/v2/health/ready")[0] == 200 and len(children(proc.pid)) == forked:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise SystemExit("the server did not become ready")
            time.sleep(0.2)
        meta = orjson.loads(request(port, "GET", "/v2/models/big")[1])
        width = meta["inputs"][0]["shape"][1]
        doc = orjson.dumps({"inputs": [{"name": "input", "shape": [64, width], "datatype": "FP32",
                                        "data": [0.1 * (i % 17) for i in range(64 * width)]}]})
        for _ in range(20 * workers):  # connections are spread over the workers by the kernel
            status, body = request(port, "POST", "/v2/models/big/infer", doc)
            assert status == 200, body
        pids = [proc.pid] + children(proc.pid)
        figures = {pid: rollup(pid) for pid in pids}
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--timeout", type=float, default=180.0)
    args = parser.parse_args()
    print(f"model: {args.model} ({os.path.getsize(args.model) / 2**20:.1f} MiB)")
    print(f"load: {os.getloadavg()}")
    totals = {}
    for n in args.workers:
        figures = measure(args.model, n, args.timeout)
        total = sum(f["Pss"] for f in figures.values())
        totals[n] = total
        print(f"\n--workers {n}: total PSS {total:.1f} MiB")
        for i, (pid, f) in enumerate(figures.items()):
            role = "server" if n == 1 else ("parent" if i == 0 else f"worker {i}")
            print(f"  {role:<9} " + "  ".join(f"{k} {f[k]:.1f}" for k in FIELDS))
    ns = sorted(totals)
    for a, b in zip(ns, ns[1:]):
        print(f"PSS per added worker, {a} -> {b} workers: {(totals[b] - totals[a]) / (b - a):.1f} MiB")


if __name__ == "__main__":
    main()
