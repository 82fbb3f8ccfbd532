"""Where a ``gbinfer serve`` worker spends its CPU under the serving benchmark's load: py-spy samples
the server while ``serve_load.py`` drives it (closed loop, or open loop at ``--rate``), and the
samples are summed per function (self time) and per layer of the stack (HTTP server, Starlette,
gbinfer's request handling, the prediction kernel, asyncio).

    pip install py-spy
    python benchmarks/serve_profile.py [--workers 1] [--body json|binary] [--rate 1000] [--seconds 10]

Prints the tables and keeps py-spy's collapsed stacks in ``--raw`` (a flame graph tool reads them).
``--server-args '--batch-window-us 0'`` passes options to the server, to measure their effect
(with ``--no-profile`` for CPU figures that sampling does not inflate).
"""

from __future__ import annotations

import argparse
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_serve import MODEL_NAME, _data, model_file, run_clients, start_server  # noqa: E402
from serve_stats import percentile, send_offsets  # noqa: E402


# (layer, substring of a frame "function (file:line)") — first match from the leaf upwards wins
LAYERS = [
    ("prediction kernel (numba)", "gbinfer/predict/"),
    ("gbinfer model.predict / data", "gbinfer/model.py"),
    ("gbinfer model.predict / data", "gbinfer/data.py"),
    ("gbinfer model.predict / data", "gbinfer/encode/"),
    ("gbinfer serve: batching", "gbinfer/serve/batching.py"),
    ("gbinfer serve: body parsing / responses", "gbinfer/serve/bodies.py"),
    ("gbinfer serve: body parsing / responses", "gbinfer/serve/protocol.py"),
    ("gbinfer serve: inputs", "gbinfer/serve/inputs.py"),
    ("gbinfer serve: metrics (prometheus_client)", "prometheus_client/"),
    ("gbinfer serve: metrics (prometheus_client)", "gbinfer/serve/metrics.py"),
    ("gbinfer serve: handler", "gbinfer/serve/infer.py"),
    ("gbinfer serve: handler", "gbinfer/serve/app.py"),
    ("gbinfer serve: repository", "gbinfer/serve/repository.py"),
    ("Starlette", "starlette/"),
    ("uvicorn / httptools (HTTP)", "uvicorn/"),
    ("uvicorn / httptools (HTTP)", "httptools"),
    ("executor thread hand-off", "concurrent/futures"),
    ("executor thread hand-off", "threading.py"),
    ("asyncio event loop", "asyncio/"),
    ("asyncio event loop", "uvloop"),
]


# The executor thread blocked in ``work_queue.get``: py-spy samples it as busy, but it uses no CPU.
IDLE_WAIT = "_worker (concurrent/futures/thread.py:81)"


def layer_of(stack: list[str]) -> str:
    for frame in reversed(stack):
        for layer, needle in LAYERS:
            if needle in frame:
                return layer
    return "other"


def summarise(raw: Path, top: int) -> list[str]:
    """Tables of samples per layer and per leaf function, from py-spy's ``--format raw`` output."""
    by_layer, by_leaf, by_frame = Counter(), Counter(), Counter()
    total = waiting = 0
    for line in raw.read_text(encoding="utf-8", errors="replace").splitlines():
        stack_text, _, count = line.rpartition(" ")
        if not count.isdigit():
            continue
        n = int(count)
        stack = stack_text.split(";")
        if IDLE_WAIT in stack[-1]:
            waiting += n
            continue
        total += n
        by_layer[layer_of(stack)] += n
        by_leaf[stack[-1]] += n
        for frame in set(stack):
            by_frame[frame] += n
    if not total:
        return ["no samples"]
    out = [f"{total} samples of busy threads; {waiting} more of the kernel thread blocked on its empty queue "
           "(py-spy does not see that wait as idle), left out", "", "| layer (innermost match) | share |", "|---|---:|"]
    out += [f"| {name} | {100 * n / total:.1f}% |" for name, n in by_layer.most_common()]
    out += ["", "| leaf function (self) | share |", "|---|---:|"]
    out += [f"| `{name[:110]}` | {100 * n / total:.1f}% |" for name, n in by_leaf.most_common(top)]
    out += ["", "| function (inclusive) | share |", "|---|---:|"]
    out += [f"| `{name[:110]}` | {100 * n / total:.1f}% |" for name, n in by_frame.most_common(top)]
    return out


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--workers", type=int, default=1)
    p.add_argument("--body", choices=["json", "binary"], default="json")
    p.add_argument("--rate", type=float, default=0, help="open-loop req/s; 0: closed loop")
    p.add_argument("--concurrency", type=int, default=16)
    p.add_argument("--seconds", type=float, default=10.0)
    p.add_argument("--sample-rate", type=int, default=250, help="py-spy samples per second")
    p.add_argument("--raw", default=None, help="where to keep py-spy's collapsed stacks")
    p.add_argument("--top", type=int, default=25)
    p.add_argument("--out", default=None, help="also write the output (markdown) to this file")
    p.add_argument("--no-profile", dest="profile", action="store_false", help="measure only, no py-spy")
    p.add_argument("--server-args", default="", help="more options for gbinfer serve")
    args = p.parse_args(argv)
    py_spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    opts = argparse.Namespace(start_timeout=180.0, mlserver_venv=None, mlserver_omp_threads=0,
                              gbinfer_args=args.server_args)
    features = 32
    model = model_file(500, 6, features)
    rows = _data(1024, features, seed=1, missing=0.0)[0]
    with tempfile.TemporaryDirectory(prefix="serve-profile-") as tmp:
        folder = Path(tmp)
        rows_path = folder / "rows.npy"
        np.save(rows_path, rows)
        raw = Path(args.raw) if args.raw else folder / "profile.txt"
        server = start_server("gbinfer", args.workers, model, features, opts, folder)
        spy = None
        try:
            meta = server.metadata()
            spec = {"url": server.url, "model": MODEL_NAME, "input_name": meta["inputs"][0]["name"],
                    "datatype": meta["inputs"][0]["datatype"], "outputs": [meta["outputs"][0]["name"]],
                    "rows": str(rows_path), "grace": 5.0, "request_timeout": 5.0, "conn_limit": 100,
                    "binary": args.body == "binary"}
            run_clients([dict(spec, mode="closed", concurrency=args.concurrency, duration=2.0,
                              start_at=time.time() + 0.5)], folder, 60)  # warm-up
            start_at = time.time() + 2.0
            if args.rate:
                load = dict(spec, mode="open", start_at=start_at,
                            offsets=send_offsets(args.rate, args.seconds + 1.0, seed=0).tolist())
            else:
                load = dict(spec, mode="closed", concurrency=args.concurrency, duration=args.seconds + 1.0,
                            start_at=start_at)
            spy = None if not args.profile else subprocess.Popen([py_spy, "record", "--pid", str(server.process.pid), "--duration",
                                    str(int(args.seconds)), "--rate", str(args.sample_rate), "--format", "raw",
                                    "--output", str(raw), "--subprocesses"],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
            time.sleep(max(0.0, start_at - time.time()))
            cpu0 = server.cpu_seconds()
            result = run_clients([load], folder, args.seconds + 70)[0]
            cpu = server.cpu_seconds() - cpu0
            if spy is not None:
                spy.wait(timeout=60)
        finally:
            if spy is not None and spy.poll() is None:
                spy.kill()
                spy.wait(timeout=10)
            server.stop()
        latencies = result.get("from_schedule", result["from_send"])
        done = latencies.size
        lines = [f"gbinfer serve --workers {args.workers} {args.server_args}, {args.body} bodies, "
              f"{'open loop %g req/s' % args.rate if args.rate else 'closed loop x%d' % args.concurrency}: "
              f"{done} answered, {int(result['errors'])} errors, p50 {percentile(latencies, 50) * 1e3:.2f} ms, "
              f"p99 {percentile(latencies, 99) * 1e3:.2f} ms; server CPU {cpu / max(done, 1) * 1e6:.0f} µs/request "
              f"{'(sampled, so a little above the unprofiled figure)' if args.profile else ''}; "
              f"client CPU {float(result['cpu']):.2f} s"]
        if args.profile:
            lines += ["", *summarise(raw, args.top)]
    print("\n".join(lines))
    if args.out:
        uptime = subprocess.run(["uptime"], capture_output=True, text=True, timeout=10).stdout.strip()
        command = "python benchmarks/serve_profile.py " + " ".join(shlex.quote(a) for a in argv)
        out = Path(args.out)
        tmp = out.with_name(out.name + ".tmp")
        tmp.write_text("\n".join([f"Command: `{command}`  ", f"Load after: `{uptime}`", "", *lines]) + "\n",
                       encoding="utf-8")
        os.replace(tmp, out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
