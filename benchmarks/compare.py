"""gbinfer against its peers, in one run: median time per predict call and the ratio to gbinfer.

    python benchmarks/compare.py            # every registered model and engine (~10-15 min on 2 cores)
    python benchmarks/compare.py --quick    # two models, 1 and 200k rows, fewer repeats
    python benchmarks/compare.py --models xgb-100x6 --engines gbinfer,xgb-inplace --batches 1,10000 --threads 2

Models come from ``compare_models.MODELS`` (trained once with xgboost, cached under
``benchmarks/.cache/``), engines from ``compare_engines.ENGINES``. For each model every engine
is first checked against the model library's own predict (max |diff| recorded), then timed on
each (threads, batch): one warm-up call not counted, then repeats until the time budget is
spent, the engines taking turns in ``--rounds`` rounds; the reported number is the median per
call. Writes ``results/<name>.md``, ``.json`` and
``.png``. Ratio = engine time / gbinfer time: how many times faster gbinfer is.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import statistics
import subprocess
import sys
import time
import traceback
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import numpy as np  # noqa: E402

from compare_engines import ENGINES, Unsupported  # noqa: E402
from compare_models import MODELS  # noqa: E402

ROOT = HERE.parent
RESULTS = HERE / "results"
TOLERANCE = 1e-4  # max |diff| of transformed outputs above which an engine is marked wrong
LIBRARIES = ("gbinfer", "numpy", "numba", "xgboost", "lightgbm", "catboost", "pandas", "treelite", "tl2cgen", "onnx", "onnxmltools", "onnxruntime",
             "matplotlib")


# ---------------------------------------------------------------- timing

class Policy:
    """How long to time one (model, engine, threads, batch) cell."""

    def __init__(self, min_time, min_repeats, max_time, max_repeats, slow_warmup):
        self.min_time = min_time  # keep repeating until this much time is spent ...
        self.min_repeats = min_repeats  # ... and at least this many calls were timed,
        self.max_time = max_time  # but stop once this much is spent (slow calls: one timed call)
        self.max_repeats = max_repeats  # or this many calls (1-row batches)
        self.slow_warmup = slow_warmup  # expected seconds per call above which the warm-up uses 10k rows


    def share(self, rounds: int) -> "Policy":
        """The budget of one of ``rounds`` rounds."""
        return Policy(self.min_time / rounds, -(-self.min_repeats // rounds), self.max_time / rounds,
                      -(-self.max_repeats // rounds), self.slow_warmup)


def measure(fn, X, policy: Policy, expected: float | None, warm_X, times: list, warmup: bool) -> dict:
    """Time calls of ``fn(X)`` into ``times`` until ``policy`` is satisfied (after one untimed
    warm-up call when ``warmup``); the stats cover every call in ``times``, earlier rounds too."""
    gc.collect()
    gc.disable()
    warm, slice_warmup = None, False
    try:
        if warmup:
            slice_warmup = expected is not None and expected > policy.slow_warmup and warm_X is not None
            t0 = time.perf_counter()
            fn(warm_X if slice_warmup else X)
            warm = time.perf_counter() - t0
        first = len(times)
        start = time.perf_counter()
        while True:
            t0 = time.perf_counter()
            fn(X)
            t1 = time.perf_counter()
            times.append(t1 - t0)
            spent = t1 - start
            done = len(times) - first
            if (done >= policy.max_repeats or spent >= policy.max_time
                    or (spent >= policy.min_time and done >= policy.min_repeats)):
                break
    finally:
        gc.enable()
    stats = {"median_s": statistics.median(times), "min_s": min(times), "repeats": len(times)}
    if warmup:
        stats.update(warmup_s=warm, warmup_rows=len(warm_X) if slice_warmup else len(X))
    return stats


# ---------------------------------------------------------------- machine

def _version(mod):
    try:
        m = __import__(mod)
        return getattr(m, "__version__", "?")
    except Exception:
        return None


def _loadavg():
    try:
        return [round(v, 2) for v in os.getloadavg()]
    except OSError:
        return None


def machine_info() -> dict:
    cpu = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = "?"
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                mem = f"{int(line.split()[1]) / 2**20:.1f} GiB"
    except OSError:
        pass
    try:
        gcc = subprocess.run(["gcc", "--version"], capture_output=True, text=True).stdout.splitlines()[0]
    except Exception:
        gcc = None
    commit = None
    try:
        commit = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True,
                                text=True).stdout.strip() or None
        dirty = subprocess.run(["git", "-C", str(ROOT), "status", "--porcelain", "--", "gbinfer"],
                               capture_output=True, text=True).stdout.strip()
        if commit and dirty:
            commit += " (gbinfer/ has uncommitted changes)"
    except Exception:
        pass
    info = {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "usable_cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "memory": mem,
        "platform": platform.platform(),
        "python": platform.python_version(),
        "gcc": gcc,
        "gbinfer_commit": commit,
        "versions": {lib: _version(lib) for lib in LIBRARIES},
        "loadavg_start": _loadavg(),
    }
    try:
        import numba

        info["numba_threading_layer"] = numba.config.THREADING_LAYER
        info["NUMBA_NUM_THREADS"] = numba.config.NUMBA_NUM_THREADS
    except Exception:
        pass
    return info


# ---------------------------------------------------------------- gbinfer cold start

COLD = r"""
import json, sys, time
sys.path.insert(0, {here!r})
import numpy as np
from compare_models import MODELS
spec = MODELS[{name!r}]
X = spec.inputs(spec.data({rows}))
t0 = time.perf_counter(); import gbinfer; t1 = time.perf_counter()
m = gbinfer.load(spec.path); t2 = time.perf_counter()
m.predict(X[:1], nthread={threads}); t3 = time.perf_counter()
m.predict(X[:1], nthread={threads}); t4 = time.perf_counter()
m.predict(X, nthread={threads}); t5 = time.perf_counter()
m.predict(X, nthread={threads}); t6 = time.perf_counter()
print(json.dumps(dict(import_s=t1 - t0, load_s=t2 - t1, first_1row_s=t3 - t2, second_1row_s=t4 - t3,
                      first_batch_s=t5 - t4, second_batch_s=t6 - t5, batch_rows={rows})))
"""


def gbinfer_cold_start(spec, threads, rows=10_000) -> dict:
    """A fresh process: import, load, first and second predict on 1 row and on ``rows`` rows."""
    code = COLD.format(here=str(HERE), name=spec.name, rows=rows, threads=threads)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=900)
    if proc.returncode != 0:
        return {"error": (proc.stderr.strip().splitlines() or ["?"])[-1]}
    return json.loads(proc.stdout.strip().splitlines()[-1])


# ---------------------------------------------------------------- run

def parse_list(text, conv=str):
    return [conv(v) for v in text.split(",") if v.strip()] if text else None


def parse_rows(v: str) -> int:
    v = v.strip().lower().replace("_", "")
    mult = {"k": 1_000, "m": 1_000_000}.get(v[-1], 1)
    return int(float(v[:-1] if mult > 1 else v) * mult)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="models marked quick, batches 1 and 200k, fewer repeats")
    ap.add_argument("--models", help=f"comma list of: {', '.join(MODELS)}")
    ap.add_argument("--engines", help=f"comma list of: {', '.join(ENGINES)}")
    ap.add_argument("--batches", help="comma list of batch sizes, e.g. 1,100,10k,200k")
    ap.add_argument("--threads", help="comma list of thread counts (default 1,2)")
    ap.add_argument("--min-time", type=float, help="seconds to spend per cell at least (default 0.5; quick 0.2)")
    ap.add_argument("--min-repeats", type=int, default=5, help="timed calls per cell at least (default 5)")
    ap.add_argument("--rounds", type=int, default=3,
                    help="turns the engines of a cell take, splitting its budget (default 3)")
    ap.add_argument("--max-time", type=float, help="stop a cell after this many seconds (default 3; quick 1.5)")
    ap.add_argument("--max-repeats", type=int, help="timed calls per cell at most (default 2000; quick 500)")
    ap.add_argument("--slow-warmup", type=float, default=2.0,
                    help="expected seconds per call above which the warm-up call uses 10k rows (default 2)")
    ap.add_argument("--max-call", type=float, default=60.0,
                    help="skip a cell whose call is expected (from the 10k-row cell) to take longer (default 60 s)")
    ap.add_argument("--check-rows", type=int, help="rows for the output check (default 10000; quick 2000)")
    ap.add_argument("--tl2cgen-all", action="store_true", help="compile every model with TL2cgen, whatever its size")
    ap.add_argument("--tl2cgen-max-nodes", type=int, default=50_000, help="TL2cgen compile bound (default 50000)")
    ap.add_argument("--tl2cgen-timeout", type=float, default=600, help="seconds per TL2cgen compile (default 600)")
    ap.add_argument("--no-cold-start", action="store_true", help="skip gbinfer's fresh-process first-call timing")
    ap.add_argument("--out", help="result file stem under benchmarks/results (default results / results-quick)")
    ap.add_argument("--list", action="store_true", help="list models and engines, then exit")
    ap.add_argument("--report-only", metavar="JSON", help="rewrite the .md and .png of an earlier run's .json, no timing")
    args = ap.parse_args(argv)

    if args.report_only:
        src = Path(args.report_only)
        report = json.loads(src.read_text())
        src.with_suffix(".md").write_text(markdown(report, plot_name=src.with_suffix(".png").name))
        plot(report, src.with_suffix(".png"))
        print(summary_table(report) + f"\n\nwrote {src.with_suffix('.md')} and .png")
        return 0

    if args.list:
        for s in MODELS.values():
            print(f"model  {s.name:14} {'quick ' if s.quick else '      '}{s.description}")
        for e in ENGINES.values():
            ok, why = e.available()
            print(f"engine {e.name:14} {'ok' if ok else 'unavailable: ' + why}")
        return 0

    q = args.quick
    models = parse_list(args.models) or [n for n, s in MODELS.items() if s.quick or not q]
    engines = parse_list(args.engines) or list(ENGINES)
    batches = parse_list(args.batches, parse_rows) or ([1, 200_000] if q else [1, 100, 10_000, 200_000])
    threads = parse_list(args.threads, int) or [1, 2]
    for n in models:
        if n not in MODELS:
            ap.error(f"unknown model {n!r}; known: {', '.join(MODELS)}")
    for n in engines:
        if n not in ENGINES:
            ap.error(f"unknown engine {n!r}; known: {', '.join(ENGINES)}")
    batches = sorted(set(batches))
    policy = Policy(min_time=args.min_time or (0.2 if q else 0.5), min_repeats=args.min_repeats,
                    max_time=args.max_time or (1.5 if q else 3.0), max_repeats=args.max_repeats or (500 if q else 2000),
                    slow_warmup=args.slow_warmup)
    check_rows = args.check_rows or (2_000 if q else 10_000)
    stem = args.out or ("results-quick" if q else "results")
    engine_options = {"tl2cgen": {"max_nodes": 0 if args.tl2cgen_all else args.tl2cgen_max_nodes,
                                  "timeout": args.tl2cgen_timeout}}

    run_start = time.perf_counter()
    report = {"machine": machine_info(), "settings": {
        "models": models, "engines": engines, "batches": batches, "threads": threads, "check_rows": check_rows,
        "min_time_s": policy.min_time, "min_repeats": policy.min_repeats, "max_time_s": policy.max_time,
        "max_repeats": policy.max_repeats, "rounds": args.rounds, "slow_warmup_s": policy.slow_warmup, "max_call_s": args.max_call, "tolerance": TOLERANCE,
        "quick": q, "argv": sys.argv[1:]},
        "engine_notes": {n: ENGINES[n].note for n in engines}, "models": {}, "skipped": [], "checks": [],
        "engine_info": [], "cold_start": {}, "results": []}
    print(f"machine: {report['machine']['cpu']}, {report['machine']['usable_cores']} cores", flush=True)

    for mname in models:
        spec = MODELS[mname]
        t0 = time.perf_counter()
        fresh = not (Path(spec.path.parent) / spec.filename).exists()
        path = spec.path
        stats = spec.stats()
        report["models"][mname] = {"description": spec.description, "library": spec.library, **stats,
                                   "file_bytes": path.stat().st_size, "num_features": spec.num_features}
        print(f"\n== {mname}: {spec.description} — {stats['num_trees']} trees, {stats['num_nodes']:,} nodes"
              f"{' (trained in %.1f s)' % (time.perf_counter() - t0) if fresh else ''}", flush=True)
        X_all = spec.inputs(spec.data(max(batches + [check_rows])))
        X_check = X_all[:check_rows]
        reference = spec.reference(X_check)

        if "gbinfer" in engines and not args.no_cold_start:
            cs = gbinfer_cold_start(spec, max(threads), rows=min(10_000, max(batches)))
            report["cold_start"][mname] = cs
            print(f"  gbinfer fresh process: {json.dumps({k: round(v, 4) if isinstance(v, float) else v for k, v in cs.items()})}",
                  flush=True)

        ready = {}
        for ename in engines:
            cls = ENGINES[ename]
            ok, why = cls.available()
            eng = cls(engine_options.get(ename)) if ok else None
            if ok:
                ok, why = eng.supports(spec)
            if ok:
                try:
                    eng.prepare(spec)
                except Unsupported as exc:
                    ok, why = False, f"unsupported: {exc}"
                except Exception as exc:
                    ok, why = False, f"prepare failed: {type(exc).__name__}: {exc}"
                    if os.environ.get("BENCH_DEBUG"):
                        traceback.print_exc()
            if ok:
                try:
                    out = eng.predict(X_check, max(threads))
                    diff = float(np.max(np.abs(np.asarray(out, dtype=np.float64).reshape(reference.shape)
                                               - reference))) if out.size == reference.size else float("inf")
                except Exception as exc:
                    ok, why = False, f"predict failed: {type(exc).__name__}: {exc}"
            if not ok:
                report["skipped"].append({"model": mname, "engine": ename, "reason": why})
                print(f"  skip {ename}: {why}", flush=True)
                continue
            correct = diff <= TOLERANCE
            report["checks"].append({"model": mname, "engine": ename, "max_abs_diff": diff, "ok": correct})
            if eng.info:
                report["engine_info"].append({"model": mname, "engine": ename, **eng.info})
            print(f"  {ename}: max |diff| vs {spec.library} = {diff:.3g}{'' if correct else '  <-- WRONG'}"
                  f"{'  ' + json.dumps({k: round(v, 3) if isinstance(v, float) else v for k, v in eng.info.items()}) if eng.info else ''}",
                  flush=True)
            ready[ename] = (eng, correct)

        per_row = {}  # (engine, threads) -> seconds per row at the largest batch timed so far
        for t in threads:
            for b in batches:
                X = X_all[:b]
                warm_X = X_all[:10_000] if b > 10_000 else None
                cell, times, timed = {}, {}, []
                for ename, (eng, correct) in ready.items():
                    expected = per_row.get((ename, t), None)
                    expected = expected * b if expected is not None else None
                    if expected is not None and expected > args.max_call:
                        report["skipped"].append({"model": mname, "engine": ename, "reason":
                                                  f"{fmt_rows(b)} rows x {t} threads: expected ~{expected:.0f} s "
                                                  f"per call > --max-call {args.max_call:g} s"})
                        print(f"  skip {ename} at {b} rows x {t} threads: expected ~{expected:.0f} s per call",
                              flush=True)
                        continue
                    timed.append((ename, eng, correct, expected))
                # Engines take turns, a share of the budget each per round: a shared machine's speed
                # drifts over minutes, and turns make that drift hit every engine of a cell alike.
                # Engines slower per call than the whole cell's budget are timed in the first round only.
                share = policy.share(args.rounds)
                for k in range(args.rounds):
                    for ename, eng, correct, expected in timed:
                        if ename not in times and k > 0:
                            continue  # failed earlier
                        if k > 0 and cell[ename]["median_s"] > policy.max_time:
                            continue
                        try:
                            m = measure(lambda data, eng=eng: eng.predict(data, t), X, share, expected, warm_X,
                                        times.setdefault(ename, []), warmup=k == 0)
                        except Exception as exc:
                            report["skipped"].append({"model": mname, "engine": ename,
                                                      "reason": f"failed at {b} rows x {t} threads: {exc}"})
                            times.pop(ename, None)
                            cell.pop(ename, None)
                            continue
                        cell[ename] = {**cell.get(ename, {}), **m}
                for ename, eng, correct, expected in timed:
                    if ename not in cell:
                        continue
                    m = cell[ename]
                    if b >= 1000:  # per-call overhead dominates smaller batches: no extrapolation from them
                        per_row[(ename, t)] = m["median_s"] / b
                    report["results"].append({"model": mname, "rows": b, "threads": t, "engine": ename,
                                              "output_ok": correct, **m})
                g = cell.get("gbinfer")
                line = "  ".join(f"{e}={fmt_time(m['median_s'])}"
                                 + (f" ({m['median_s'] / g['median_s']:.2f}x)" if g and e != "gbinfer" else "")
                                 for e, m in cell.items())
                print(f"  rows={b:<7} threads={t}: {line}", flush=True)
        for r in report["results"]:
            if r["model"] == mname:
                g = next((x for x in report["results"] if x["model"] == mname and x["rows"] == r["rows"]
                          and x["threads"] == r["threads"] and x["engine"] == "gbinfer"), None)
                r["ratio"] = r["median_s"] / g["median_s"] if g else None
        del ready, X_all
        gc.collect()

    report["total_s"] = time.perf_counter() - run_start
    report["machine"]["loadavg_end"] = _loadavg()
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"{stem}.json").write_text(json.dumps(report, indent=1))
    md = markdown(report, plot_name=f"{stem}.png")
    (RESULTS / f"{stem}.md").write_text(md)
    plotted = plot(report, RESULTS / f"{stem}.png")
    print("\n" + summary_table(report))
    print(f"\nwrote {RESULTS / (stem + '.md')}, {stem}.json{', ' + stem + '.png' if plotted else ''}"
          f" — total {report['total_s'] / 60:.1f} min")
    return 0


# ---------------------------------------------------------------- output

def fmt_time(s: float) -> str:
    if s < 1e-3:
        return f"{s * 1e6:.1f} µs"
    if s < 1:
        return f"{s * 1e3:.2f} ms"
    return f"{s:.2f} s"


def fmt_rows(b: int) -> str:
    return f"{b // 1000}k" if b >= 1000 and b % 1000 == 0 else str(b)


def summary_table(report) -> str:
    """One row per (model, rows, threads), one column per engine: median time (ratio to gbinfer)."""
    engines = [e for e in report["settings"]["engines"] if any(r["engine"] == e for r in report["results"])]
    head = "| model | rows | threads | " + " | ".join(engines) + " |"
    lines = [head, "|" + "---|" * (3 + len(engines))]
    keys = []
    for r in report["results"]:
        k = (r["model"], r["rows"], r["threads"])
        if k not in keys:
            keys.append(k)
    for k in keys:
        cells = []
        for e in engines:
            r = next((x for x in report["results"] if (x["model"], x["rows"], x["threads"]) == k
                      and x["engine"] == e), None)
            if r is None:
                cells.append("—")
                continue
            c = fmt_time(r["median_s"])
            if e != "gbinfer" and r.get("ratio"):
                c += f" ({r['ratio']:.2f}×)"
            if not r["output_ok"]:
                c += " ⚠"
            cells.append(c)
        lines.append(f"| {k[0]} | {fmt_rows(k[1])} | {k[2]} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def markdown(report, plot_name) -> str:
    m, s = report["machine"], report["settings"]
    out = ["# gbinfer benchmark: gbinfer vs its peers", ""]
    out += [f"Generated by `{' '.join(['python benchmarks/compare.py'] + s['argv'])}` in "
            f"{report['total_s'] / 60:.1f} min. **Numbers depend on the machine**; rerun to compare on yours.", ""]
    out += ["**Ratio = engine time / gbinfer time** — how many times faster gbinfer is (below 1: the engine is "
            "faster). Each cell is the **median** time per `predict` call over the repeats, after one warm-up call "
            "that is not counted. ⚠ marks an engine whose output differs from the model library's own predict "
            f"by more than {s['tolerance']:g}.", ""]
    out += ["## Machine", ""]
    out += [f"- CPU: {m['cpu']} — {m['cores']} logical cores ({m['usable_cores']} usable), memory {m['memory']}",
            f"- {m['platform']}, Python {m['python']}, {m.get('gcc') or 'gcc: not found'}",
            f"- gbinfer commit: {m.get('gbinfer_commit') or '?'}; numba threading layer "
            f"{m.get('numba_threading_layer', '?')}, NUMBA_NUM_THREADS={m.get('NUMBA_NUM_THREADS', '?')}",
            f"- load average (1/5/15 min) at start {m.get('loadavg_start')}, at end {m.get('loadavg_end')}" +
            (" — **other processes were using the CPU during the run; multi-threaded and 1-row timings are the "
             "most affected**" if max((m.get('loadavg_start') or [0])[:1] + (m.get('loadavg_end') or [0])[:1])
             > 0.5 * m['usable_cores'] else ""),
            "- versions: " + ", ".join(f"{k} {v}" for k, v in m["versions"].items() if v) +
            ("; not installed: " + ", ".join(k for k, v in m["versions"].items() if not v)
             if any(not v for v in m["versions"].values()) else ""), ""]
    out += ["## Method", ""]
    out += [f"- Data: float32 rows, {int(0.02 * 100)}% NaN, seeded; a batch of *n* rows is the first *n* rows "
            "of one 200k-row C-contiguous array.",
            f"- Timing: per (model, threads, batch, engine) one warm-up call, then repeated calls until "
            f"≥ {s['min_time_s']} s and ≥ {s['min_repeats']} calls, stopping early at {s['max_repeats']} calls or "
            f"after {s['max_time_s']} s (so a slow engine on a big batch may be timed once); median reported. "
            f"A cell whose call is expected (extrapolated linearly from the previous batch of ≥ 1k rows) to take over "
            f"{s.get('max_call_s', 60):g} s is skipped. "
            f"When a call is expected to take over {s['slow_warmup_s']} s, its warm-up call uses 10k rows instead. "
            f"The engines of a cell take turns in {s.get('rounds', 1)} rounds, each with that share of the budget "
            f"(engines slower than {s['max_time_s']} s per call: first round only), so that the machine's drift "
            "affects them alike. The garbage collector is off while timing.",
            f"- Threads: {', '.join(map(str, s['threads']))}; the same count is given to every engine. "
            "gbinfer runs batches under 256 rows on the calling thread whatever `nthread` is.",
            f"- Output check: before timing, each engine predicts {s['check_rows']:,} rows with "
            f"{max(s['threads'])} threads; max |diff| against the model library's own `predict` (transformed "
            "outputs: probabilities).", ""]
    out += ["### Engines", ""] + [f"- **{e}**: {n}" for e, n in report["engine_notes"].items()] + [""]
    out += ["### Models", "", "| model | description | trees | nodes | file |", "|---|---|---|---|---|"]
    for name, mi in report["models"].items():
        out.append(f"| {name} | {mi['description']} | {mi['num_trees']:,} | {mi['num_nodes']:,} | "
                   f"{mi['file_bytes'] / 2**20:.1f} MiB |")
    out += ["", "## Results: median time per call (ratio to gbinfer)", "", summary_table(report), ""]
    out += [f"![ratio plot]({plot_name})", ""]
    if report["skipped"]:
        out += ["## Skipped", "", "| model | engine | reason |", "|---|---|---|"]
        out += [f"| {x['model']} | {x['engine']} | {x['reason']} |" for x in report["skipped"]] + [""]
    out += ["## Output check (max |diff| vs the model library's predict)", "", "| model | " +
            " | ".join(s["engines"]) + " |", "|" + "---|" * (1 + len(s["engines"]))]
    for name in report["models"]:
        row = []
        for e in s["engines"]:
            c = next((c for c in report["checks"] if c["model"] == name and c["engine"] == e), None)
            row.append("skipped" if c is None else f"{c['max_abs_diff']:.2g}{'' if c['ok'] else ' ⚠'}")
        out.append(f"| {name} | " + " | ".join(row) + " |")
    out.append("")
    if report["cold_start"]:
        out += ["## gbinfer first call (fresh process)", "",
                "A new Python process per model: `import gbinfer`, `gbinfer.load`, then predict twice on 1 row "
                "(serial kernel) and twice on a 10k-row batch (parallel kernel). A first call includes Numba's "
                "compile, or loading its on-disk cache when one is valid. The in-process warm-up times are in the "
                "JSON file.", "",
                "| model | import | load | 1 row: 1st | 1 row: 2nd | batch: 1st | batch: 2nd |", "|---|---|---|---|---|---|---|"]
        for name, c in report["cold_start"].items():
            if "error" in c:
                out.append(f"| {name} | failed: {c['error']} | | | | | |")
            else:
                out.append(f"| {name} | {fmt_time(c['import_s'])} | {fmt_time(c['load_s'])} | "
                           f"{fmt_time(c['first_1row_s'])} | {fmt_time(c['second_1row_s'])} | "
                           f"{fmt_time(c['first_batch_s'])} | {fmt_time(c['second_batch_s'])} |")
        out.append("")
    tl = [i for i in report["engine_info"] if i["engine"] == "tl2cgen"]
    if tl:
        out += ["## TL2cgen compile", "", "| model | compile (gcc -O3, parallel_comp) | treelite convert | from cache |",
                "|---|---|---|---|"]
        out += [f"| {i['model']} | {fmt_time(i['compile_s'])} ({i['compile_jobs']} jobs, "
                f"parallel_comp={i['params'].get('parallel_comp')}) | {fmt_time(i['treelite_convert_s'])} | "
                f"{'yes (time of the cached compile)' if i.get('cached') else 'no'} |" for i in tl] + [""]
    other = [i for i in report["engine_info"] if i["engine"] != "tl2cgen"]
    if other:
        out += ["## Preparation (not timed)", "", "| model | engine | time |", "|---|---|---|"]
        for i in other:
            what = "; ".join(f"{k.removesuffix('_s')} {fmt_time(v)}" for k, v in i.items()
                             if k.endswith("_s") and isinstance(v, float))
            out.append(f"| {i['model']} | {i['engine']} | {what} |")
        out.append("")
    out += ["## All cells", "", "| model | rows | threads | engine | median / call | ratio (engine / gbinfer) | "
            "min / call | repeats | warm-up call |", "|---|---|---|---|---|---|---|---|---|"]
    for r in report["results"]:
        ratio = f"{r['ratio']:.2f}" if r.get("ratio") else "—"
        warm = fmt_time(r["warmup_s"]) + (f" ({fmt_rows(r['warmup_rows'])} rows)" if r["warmup_rows"] != r["rows"]
                                          else "")
        out.append(f"| {r['model']} | {fmt_rows(r['rows'])} | {r['threads']} | {r['engine']}"
                   f"{'' if r['output_ok'] else ' ⚠'} | {fmt_time(r['median_s'])} | {ratio} | {fmt_time(r['min_s'])} | "
                   f"{r['repeats']} | "
                   f"{warm} |")
    return "\n".join(out) + "\n"


def plot(report, path: Path) -> bool:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except Exception as exc:
        print(f"no plot: cannot import matplotlib ({exc})")
        return False
    models = list(report["models"])
    threads = report["settings"]["threads"]
    engines = [e for e in report["settings"]["engines"] if e != "gbinfer"
               and any(r["engine"] == e for r in report["results"])]
    if not models or not report["results"]:
        return False
    fig, axes = plt.subplots(len(models), len(threads), figsize=(5.2 * len(threads), 3.2 * len(models)),
                             squeeze=False, sharex=True)
    colors = {e: f"C{i}" for i, e in enumerate(engines)}
    for i, mname in enumerate(models):
        for j, t in enumerate(threads):
            ax = axes[i][j]
            for e in engines:
                pts = sorted((r["rows"], r["ratio"]) for r in report["results"]
                             if r["model"] == mname and r["threads"] == t and r["engine"] == e and r.get("ratio"))
                if pts:
                    ax.plot(*zip(*pts), "o-", color=colors[e], label=e)
            ax.axhline(1.0, color="k", lw=1, ls="--")
            ax.set_xscale("log")
            ax.set_yscale("log")
            ax.set_title(f"{mname}, {t} thread{'s' if t > 1 else ''}", fontsize=10)
            ax.grid(True, which="both", alpha=0.3)
            if j == 0:
                ax.set_ylabel("engine time / gbinfer time")
            if i == len(models) - 1:
                ax.set_xlabel("batch rows")
    handles, labels = axes[0][0].get_legend_handles_labels()
    for row in axes:
        for ax in row:
            h, lab = ax.get_legend_handles_labels()
            for hh, ll in zip(h, lab):
                if ll not in labels:
                    handles.append(hh)
                    labels.append(ll)
    top = 1 - 0.9 / fig.get_figheight()
    fig.suptitle("Engine time / gbinfer time: how many times faster gbinfer is (above 1: gbinfer faster)",
                 y=0.995, fontsize=11)
    fig.legend(handles, labels, loc="upper center", bbox_to_anchor=(0.5, 1 - 0.35 / fig.get_figheight()),
               ncol=len(labels), frameon=False)
    fig.tight_layout(rect=(0, 0, 1, top))
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


if __name__ == "__main__":
    sys.exit(main())
