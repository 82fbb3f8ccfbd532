"""Serving benchmark: ``gbinfer serve`` against MLServer (XGBoost runtime) on the same XGBoost model,
on this machine, over loopback, driven by the same client — Triton's ``tritonclient[http]`` asyncio
client, whose v2 request bodies are sent as it writes them (see ``serve_load.py``).

Each server is started in turn with 1 and 2 workers (gbinfer's ``--workers``, MLServer's
``parallel_workers``), checked against XGBoost's own predictions, warmed up, and then measured with
one-row requests:

- open loop at fixed request rates (Poisson arrivals by default) for ``--duration`` seconds each:
  p50 / p99 latency from the scheduled send time, and errors;
- closed loop with ``--concurrency`` requests in flight: throughput at saturation.

gbinfer is measured with JSON bodies and with the binary-tensor extension; MLServer with JSON
bodies only (its REST server does not read the binary extension). Everything is repeated
``--repeats`` times, servers interleaved, and the median per cell is reported with the ratio
gbinfer / MLServer. The load generator runs on the same cores as the server: its CPU is measured
and reported, as is the server's CPU per request and the machine load (``uptime``).

Setup: ``bash benchmarks/setup_mlserver.sh`` (MLServer in its own venv), ``pip install
'tritonclient[http]'``. Run: ``python benchmarks/bench_serve.py`` (about 15 minutes) or
``--quick``. Writes ``benchmarks/results/serve.md`` (``--out NAME`` for another name).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from serve_load import request_headers  # noqa: E402
from serve_servers import ROOT, Server, free_port, gbinfer_command, mlserver_command  # noqa: E402
from serve_stats import (closed_loop_summary, median_of, open_loop_summary, percentile, ratio,  # noqa: E402
                         send_offsets, split_schedule)

HERE = Path(__file__).resolve().parent
CACHE = HERE / ".cache"
MODEL_NAME = "bench"
TARGET_P99_MS = 5.0
TARGET_RATE = 1000
TARGET_THROUGHPUT_RATIO = 5.0


# ----------------------------------------------------------------------------------------- model
def _data(n: int, features: int, seed: int, missing: float) -> tuple[np.ndarray, np.ndarray]:
    """A seeded binary task with interactions and a fraction of missing values."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, features)).astype(np.float32)
    logit = x[:, 0] * x[:, 1] + np.sin(3 * x[:, 2]) + 0.5 * x[:, 3:8].sum(axis=1) - (x[:, 8] > 0.5)
    y = (logit + rng.normal(scale=0.5, size=n) > 0).astype(np.float32)
    x[rng.random(size=x.shape) < missing] = np.nan
    return x, y


def model_file(trees: int, depth: int, features: int) -> Path:
    """XGBoost JSON model, trained once and cached (both servers read this very file)."""
    import xgboost as xgb

    path = CACHE / f"serve-xgb-{trees}x{depth}-{features}f.json"
    if not path.exists():
        CACHE.mkdir(parents=True, exist_ok=True)
        x, y = _data(20000, features, seed=0, missing=0.02)
        bst = xgb.train({"objective": "binary:logistic", "max_depth": depth, "eta": 0.05, "nthread": 2,
                         "tree_method": "hist", "seed": 0}, xgb.DMatrix(x, y), trees)
        tmp = path.with_name(path.stem + ".tmp.json")  # the suffix tells xgboost to write JSON
        bst.save_model(str(tmp))
        os.replace(tmp, path)
    return path


# ------------------------------------------------------------------------------------- running
def run_clients(specs: list[dict], folder: Path, timeout: float) -> list[dict]:
    """Start one ``serve_load.py`` process per spec, wait (bounded), return their results."""
    procs, results = [], []
    try:
        for k, spec in enumerate(specs):
            spec_path, result_path = folder / f"spec{k}.json", folder / f"result{k}.npz"
            result_path.unlink(missing_ok=True)
            spec_path.write_text(json.dumps(spec), encoding="utf-8")
            procs.append((subprocess.Popen([sys.executable, str(HERE / "serve_load.py"), str(spec_path),
                                            str(result_path)], start_new_session=True), result_path))
        deadline = time.monotonic() + timeout
        for proc, result_path in procs:
            code = proc.wait(timeout=max(1.0, deadline - time.monotonic()))
            if code != 0:
                raise RuntimeError(f"load generator exited with {code}")
            with np.load(result_path) as data:
                results.append({k: data[k] for k in data.files})
    finally:
        for proc, _ in procs:
            if proc.poll() is None:
                os.killpg(proc.pid, 9)
                proc.wait(timeout=10)
    return results


def check_outputs(server: Server, spec: dict, rows: np.ndarray, expected: np.ndarray) -> float:
    """Largest |server - XGBoost| over a few rows sent one at a time with the same client (sync)."""
    from tritonclient.http import InferenceServerClient, InferInput, InferRequestedOutput
    from tritonclient.utils import triton_to_np_dtype

    client = InferenceServerClient(server.url, network_timeout=30.0)
    try:
        worst = 0.0
        for i in range(16):
            tensor = InferInput(spec["input_name"], [1, rows.shape[1]], spec["datatype"])
            tensor.set_data_from_numpy(rows[i:i + 1].astype(triton_to_np_dtype(spec["datatype"])),
                                       binary_data=spec["binary"])
            out = client.infer(MODEL_NAME, [tensor], headers=request_headers(spec["binary"]),
                               outputs=[InferRequestedOutput(spec["outputs"][0], binary_data=spec["binary"])])
            got = np.asarray(out.as_numpy(spec["outputs"][0]), dtype=np.float64).ravel()
            worst = max(worst, float(np.max(np.abs(got - expected[i]))))
        return worst
    finally:
        client.close()


def measure_server(server: Server, bodies: list[str], args, rows_path: Path, rows: np.ndarray,
                   expected: np.ndarray, folder: Path, seed: int) -> dict:
    """All phases for one running server: {(body, phase): summary}."""
    meta = server.metadata()
    base = {"url": server.url, "model": MODEL_NAME, "input_name": meta["inputs"][0]["name"],
            "datatype": meta["inputs"][0]["datatype"], "outputs": [meta["outputs"][0]["name"]],
            "rows": str(rows_path), "grace": args.grace, "request_timeout": args.grace,
            "conn_limit": 100}
    out = {}
    for body in bodies:
        spec = dict(base, binary=body == "binary")
        out[(body, "check")] = {"max_abs_diff": check_outputs(server, spec, rows, expected)}
        # Warm-up: connections, first calls, caches; not counted.
        run_clients([dict(spec, mode="closed", concurrency=args.concurrency, duration=args.warmup,
                          start_at=time.time() + 1.0)], folder, args.warmup + args.grace + 60)
        for rate in args.rates:
            offsets = send_offsets(rate, args.duration, args.arrivals, seed=seed)
            start_at = time.time() + args.client_start
            specs = [dict(spec, mode="open", offsets=part.tolist(), start_at=start_at)
                     for part in split_schedule(offsets, args.clients)]
            cpu0 = server.cpu_seconds()
            results = run_clients(specs, folder, args.client_start + args.duration + args.grace + 60)
            server_cpu = server.cpu_seconds() - cpu0
            lat = np.concatenate([r["from_schedule"] for r in results])
            summary = open_loop_summary(lat, np.concatenate([r["lag"] for r in results]),
                                        sent=offsets.size, errors=sum(int(r["errors"]) for r in results),
                                        duration=args.duration,
                                        client_cpu=sum(float(r["cpu"]) for r in results))
            summary["p99_send_ms"] = percentile(np.concatenate([r["from_send"] for r in results]), 99) * 1e3
            summary["server_us_per_req"] = server_cpu / max(lat.size, 1) * 1e6
            summary["other_cores"], summary["steal_cores"] = other_cores(results, server_cpu, args.duration)
            summary["failures"] = [str(f) for r in results for f in r["failures"]][:3]
            out[(body, f"open@{rate}")] = summary
            time.sleep(1.0)  # let an overloaded server drain before the next phase
        start_at = time.time() + args.client_start
        specs = [dict(spec, mode="closed", concurrency=max(1, args.concurrency // args.clients),
                      duration=args.duration, start_at=start_at) for _ in range(args.clients)]
        cpu0 = server.cpu_seconds()
        results = run_clients(specs, folder, args.client_start + args.duration + args.grace + 60)
        server_cpu = server.cpu_seconds() - cpu0
        lat = np.concatenate([r["from_send"] for r in results])
        elapsed = max(float(r["elapsed"]) for r in results)
        summary = closed_loop_summary(lat, errors=sum(int(r["errors"]) for r in results), duration=elapsed,
                                      client_cpu=sum(float(r["cpu"]) for r in results))
        summary["server_us_per_req"] = server_cpu / max(lat.size, 1) * 1e6
        summary["server_cores"] = server_cpu / elapsed
        summary["other_cores"], summary["steal_cores"] = other_cores(results, server_cpu, elapsed)
        summary["failures"] = [str(f) for r in results for f in r["failures"]][:3]
        out[(body, "saturation")] = summary
        time.sleep(1.0)
    return out


def other_cores(results: list[dict], server_cpu: float, duration: float) -> tuple[float, float]:
    """(cores other programs used, cores stolen by the hypervisor) during a phase: the machine's
    busy CPU over the phase (as the first client saw it) less the clients' and the server's
    (counted over a slightly longer window, so this errs low), and its steal time. The machine is
    shared: a phase run beside other work is marked by this, not hidden."""
    busy, stolen = (float(v) for v in results[0]["machine_cpu"])
    return max(0.0, busy - sum(float(r["cpu"]) for r in results) - server_cpu) / duration, stolen / duration


def start_server(kind: str, workers: int, model: Path, features: int, args, folder: Path) -> Server:
    port = free_port()
    log = folder / f"{kind}-{workers}.log"
    if kind == "gbinfer":
        env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
        command = gbinfer_command(MODEL_NAME, model, port, workers) + shlex.split(args.gbinfer_args)
        server = Server(f"gbinfer serve --workers {workers}", command, port, MODEL_NAME, log, ROOT, env)
    else:
        ml_folder = folder / f"mlserver-{workers}"
        command = mlserver_command(Path(args.mlserver_venv), MODEL_NAME, model, features, port, workers,
                                   ml_folder)
        # XGBoost's OpenMP pool is as wide as the machine by default; on one-row requests its
        # threads only wait on each other (30 ms a call instead of 2 ms here under load), so each
        # inference worker gets one thread unless --mlserver-omp-threads says otherwise.
        env = dict(os.environ, OMP_NUM_THREADS=str(args.mlserver_omp_threads)) if args.mlserver_omp_threads else None
        server = Server(f"MLServer parallel_workers={workers}", command, port, MODEL_NAME, log, ml_folder, env)
    try:
        server.wait_ready(args.start_timeout)
    except BaseException:
        server.stop()
        raise
    return server


# ------------------------------------------------------------------------------------- reporting
def _fmt(value: float, digits: int = 2) -> str:
    return "—" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.{digits}f}"


def _others(m: dict) -> str:
    return f"{_fmt(m['other_cores'])} / {_fmt(m['steal_cores'])}"


CONFIGS = [("gbinfer", "json"), ("gbinfer", "binary"), ("mlserver", "json")]
LABEL = {"gbinfer": "gbinfer serve", "mlserver": "MLServer"}


def tables(runs: dict, args) -> tuple[list[str], dict]:
    """Markdown tables of medians over repeats, and the headline figures."""
    med = {}
    for key, reps in runs.items():
        med[key] = {field: median_of(reps, field) for field in reps[0] if isinstance(reps[0][field], float)
                    or isinstance(reps[0][field], int)}
    lines = [f"Open loop ({args.arrivals} arrivals, {args.duration:g} s per rate), one row per request. "
             "Latency from the scheduled send time; p99 (sent) from when the client sent it; client lag: "
             "how late the client sent, behind its schedule. "
             f"Medians of {args.repeats} repeats.", "",
             "| server | workers | body | rate req/s | answered req/s | p50 ms | p99 ms | p99 (sent) ms | errors "
             "| server CPU µs/req | client CPU (cores) | client lag p99 ms | other programs' CPU / steal (cores) |",
             "|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for workers in args.workers:
        for kind, body in CONFIGS:
            for rate in args.rates:
                m = med.get((kind, workers, body, f"open@{rate}"))
                if m is None:
                    continue
                lines.append(f"| {LABEL[kind]} | {workers} | {body} | {rate} | {_fmt(m['achieved_rps'], 0)} | "
                             f"{_fmt(m['p50_ms'])} | {_fmt(m['p99_ms'])} | {_fmt(m['p99_send_ms'])} | "
                             f"{_fmt(m['errors'], 0)} | {_fmt(m['server_us_per_req'], 0)} | "
                             f"{_fmt(m['client_cpu'])} | {_fmt(m['lag_p99_ms'])} | {_others(m)} |")
    lines += ["", f"Saturation (closed loop, {args.concurrency} requests in flight, {args.duration:g} s). "
              "Ratio = gbinfer throughput / MLServer throughput at the same worker count; CPU ratio = MLServer's "
              "server CPU per request / gbinfer's (how much less CPU gbinfer spends on a request).", "",
              "| server | workers | body | throughput req/s | ratio | p50 ms | p99 ms | errors | server CPU µs/req "
              "| CPU ratio | server CPU (cores) | client CPU (cores) | other programs' CPU / steal (cores) |",
              "|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    headline = {}
    for workers in args.workers:
        mls = med.get(("mlserver", workers, "json", "saturation"), {})
        for kind, body in CONFIGS:
            m = med.get((kind, workers, body, "saturation"))
            if m is None:
                continue
            r = ratio(m["throughput_rps"], mls.get("throughput_rps", math.nan)) if kind == "gbinfer" else math.nan
            cpu_r = ratio(mls.get("server_us_per_req", math.nan), m["server_us_per_req"]) if kind == "gbinfer" \
                else math.nan
            if kind == "gbinfer":
                headline[(workers, body, "ratio")] = r
            lines.append(f"| {LABEL[kind]} | {workers} | {body} | {_fmt(m['throughput_rps'], 0)} | "
                         f"{_fmt(r, 1) + '×' if not math.isnan(r) else '—'} | {_fmt(m['p50_ms'])} | "
                         f"{_fmt(m['p99_ms'])} | {_fmt(m['errors'], 0)} | {_fmt(m['server_us_per_req'], 0)} | "
                         f"{_fmt(cpu_r, 1) + '×' if not math.isnan(cpu_r) else '—'} | "
                         f"{_fmt(m['server_cores'])} | {_fmt(m['client_cpu'])} | {_others(m)} |")
    for workers in args.workers:
        for body in ("json", "binary"):
            m = med.get(("gbinfer", workers, body, f"open@{TARGET_RATE}"))
            if m is not None:
                headline[(workers, body, "p99")] = m["p99_ms"]
    return lines, headline


def target_lines(headline: dict, args, runs: dict) -> list[str]:
    out = []
    if TARGET_RATE in args.rates:
        for (workers, body, what), value in sorted(headline.items()):
            if what == "p99":
                verdict = "met" if value < TARGET_P99_MS else "NOT met"
                each = ", ".join(_fmt(r["p99_ms"]) for r in runs[("gbinfer", workers, body, f"open@{TARGET_RATE}")])
                out.append(f"- p99 at {TARGET_RATE} req/s, gbinfer {body}, {workers} worker(s): "
                           f"{_fmt(value)} ms (target < {TARGET_P99_MS:g} ms: {verdict}; the repeats: {each} ms)")
    for (workers, body, what), value in sorted(headline.items()):
        if what == "ratio" and not math.isnan(value):  # NaN: MLServer not run
            verdict = "met" if value >= TARGET_THROUGHPUT_RATIO else "NOT met"
            out.append(f"- saturated throughput, gbinfer {body} / MLServer json, {workers} worker(s): "
                       f"{_fmt(value, 1)}× (target ≥ {TARGET_THROUGHPUT_RATIO:g}×: {verdict})")
    return out


def write_report(path: Path, lines: list[str]) -> None:
    tmp = path.with_suffix(".md.tmp")
    tmp.write_text("\n".join(lines) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def _shown_command(server: Server, folder: Path) -> str:
    """The server's command line, with MLServer's settings files inlined and the temp dir elided."""
    text = " ".join(shlex.quote(str(a)) for a in server.command).replace(str(ROOT) + "/", "")
    if "mlserver" in server.label.lower():
        settings_dir = Path(server.command[-1])
        text += " with settings.json " + (settings_dir / "settings.json").read_text() + " and model-settings.json " \
            + (settings_dir / MODEL_NAME / "model-settings.json").read_text().replace(str(ROOT) + "/", "")
    return text.replace(str(folder), "$TMP").replace(sys.executable, "python")


def _uptime() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True, timeout=10).stdout.strip()


def _versions(args) -> str:
    from importlib.metadata import version

    import xgboost

    ml = subprocess.run([str(Path(args.mlserver_venv) / "bin" / "python"), "-c",
                         "import mlserver, xgboost; print(mlserver.__version__, xgboost.__version__)"],
                        capture_output=True, text=True, timeout=120).stdout.split()
    return (f"Python {platform.python_version()}, xgboost {xgboost.__version__} (training, reference), "
            f"tritonclient {version('tritonclient')}, "
            f"MLServer {ml[0] if ml else '?'} with xgboost {ml[1] if len(ml) > 1 else '?'}; "
            f"CPU: {_cpu_name()}, {os.cpu_count()} cores")


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "?"


# ------------------------------------------------------------------------------------------ main
def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ints = lambda s: [int(v) for v in s.split(",")]  # noqa: E731
    p.add_argument("--rates", type=ints, default=[200, 500, 1000], help="open-loop request rates, req/s")
    p.add_argument("--duration", type=float, default=6.0, help="seconds per phase")
    p.add_argument("--warmup", type=float, default=2.0, help="closed-loop warm-up seconds per body")
    p.add_argument("--concurrency", type=int, default=16, help="requests in flight at saturation")
    p.add_argument("--clients", type=int, default=1, help="load-generator processes sharing each phase")
    p.add_argument("--arrivals", choices=["poisson", "uniform"], default="poisson")
    p.add_argument("--workers", type=ints, default=[1, 2])
    p.add_argument("--servers", default="gbinfer,mlserver")
    p.add_argument("--bodies", default="json,binary", help="gbinfer bodies; MLServer always gets json")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--trees", type=int, default=500)
    p.add_argument("--depth", type=int, default=6)
    p.add_argument("--features", type=int, default=32)
    p.add_argument("--grace", type=float, default=5.0, help="seconds an answer may come after the last send")
    p.add_argument("--client-start", type=float, default=2.0, help="seconds given to clients to start")
    p.add_argument("--start-timeout", type=float, default=180.0, help="seconds a server may take to be ready")
    p.add_argument("--mlserver-venv", default=os.environ.get("MLSERVER_VENV", "/work/venvs/mlserver"))
    p.add_argument("--gbinfer-args", default="", help="more options for gbinfer serve, e.g. '--batch-window-us 0'")
    p.add_argument("--mlserver-omp-threads", type=int, default=1,
                   help="OMP_NUM_THREADS for MLServer (XGBoost's threads); 0 leaves XGBoost's default")
    p.add_argument("--out", default="serve", help="report name under benchmarks/results/")
    p.add_argument("--quick", action="store_true", help="one repeat of 3 s phases")
    args = p.parse_args(argv)
    if args.quick:
        args.repeats, args.duration, args.warmup = 1, 3.0, 1.0
    args.servers = args.servers.split(",")
    args.bodies = args.bodies.split(",")
    return args


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = parse_args(argv)
    import xgboost as xgb

    uptime_before = _uptime()
    print(uptime_before, flush=True)
    model = model_file(args.trees, args.depth, args.features)
    # Request rows have no missing value: JSON has no NaN (the client writes a bare `NaN`, which
    # MLServer's JSON parser refuses).
    rows = _data(1024, args.features, seed=1, missing=0.0)[0]
    expected = xgb.Booster(model_file=str(model)).predict(xgb.DMatrix(rows)).astype(np.float64)
    runs: dict = {}
    checks: dict = {}
    commands: dict = {}
    with tempfile.TemporaryDirectory(prefix="bench-serve-") as tmp:
        folder = Path(tmp)
        rows_path = folder / "rows.npy"
        np.save(rows_path, rows)
        plan = [(kind, w) for kind in args.servers for w in args.workers]
        for rep in range(args.repeats):
            for kind, workers in (plan if rep % 2 == 0 else plan[::-1]):  # alternate order against drift
                print(f"[repeat {rep + 1}/{args.repeats}] {kind} workers={workers}", flush=True)
                server = start_server(kind, workers, model, args.features, args, folder)
                commands[(kind, workers)] = _shown_command(server, folder)
                try:
                    bodies = args.bodies if kind == "gbinfer" else ["json"]
                    result = measure_server(server, bodies, args, rows_path, rows, expected, folder, seed=rep)
                finally:
                    server.stop()
                for (body, phase), summary in result.items():
                    if phase == "check":
                        checks[(kind, workers, body)] = max(checks.get((kind, workers, body), 0.0),
                                                            summary["max_abs_diff"])
                        continue
                    runs.setdefault((kind, workers, body, phase), []).append(summary)
                    if summary["errors"]:
                        print(f"  {body} {phase}: {summary['errors']} errors, e.g. {summary['failures'][:1]}")
                    extra = (f"p50 {summary['p50_ms']:.2f} ms p99 {summary['p99_ms']:.2f} ms"
                             if phase.startswith("open") else f"{summary['throughput_rps']:.0f} req/s")
                    print(f"  {body:6} {phase:12} {extra} (other programs {summary['other_cores']:.2f}, "
                          f"steal {summary['steal_cores']:.2f} cores)",
                          flush=True)
    uptime_after = _uptime()

    table, headline = tables(runs, args)
    targets = target_lines(headline, args, runs)
    command = "python benchmarks/bench_serve.py " + " ".join(shlex.quote(a) for a in argv)
    report = [
        "# Serving: gbinfer serve vs MLServer (KServe v2 / Open Inference Protocol)", "",
        f"Model: XGBoost binary:logistic, {args.trees} trees of depth {args.depth}, {args.features} float "
        "features (trained with 2% missing), one JSON file read by both servers. Requests: one row each "
        "(no missing value: JSON has no NaN), sent by "
        "`tritonclient.http.aio` (Triton's client) over 127.0.0.1; bodies are the client's JSON or its "
        "binary-tensor extension (MLServer reads only JSON); JSON requests carry "
        "`Content-Type: application/json` (the asyncio client's default `application/octet-stream` makes "
        "MLServer refuse them). MLServer: `debug` and metrics off, `parallel_workers` = workers (inference "
        f"processes beside its HTTP process), OMP_NUM_THREADS={args.mlserver_omp_threads or 'unset'}.", "",
        "The load generator runs on the same 2 cores as the server: its CPU use has a column "
        "(1.0 = one core). Server CPU is summed over every process of the server. Other programs' CPU: "
        "the machine's busy CPU during the phase less the server's and the client's (the machine is shared; "
        "a phase run beside other work shows here); steal: time the hypervisor gave this virtual machine's "
        "cores to others.", "",
        f"Command: `{command}`  ", f"Machine: {_versions(args)}  ",
        *[f"{LABEL[k]} with {w} worker(s): `{c}`  " for (k, w), c in sorted(commands.items())],
        f"Load before: `{uptime_before}`  ", f"Load after: `{uptime_after}`", "",
        "Outputs checked against XGBoost's `predict` before timing (max |diff| over 16 rows): "
        + ", ".join(f"{LABEL[k]} {b} w{w}: {v:.2g}" for (k, w, b), v in sorted(checks.items())), "",
        *table, "", "Targets:", *targets, "",
    ]
    print("\n".join(table + [""] + targets))
    out = HERE / "results" / f"{args.out}.md"
    out.parent.mkdir(exist_ok=True)
    write_report(out, report)
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
