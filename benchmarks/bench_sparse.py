"""Sparse input: gbinfer walking a CSR as it is, against densifying it first and against XGBoost.

Two cases, each with a model trained by XGBoost on data of the same kind:
  (a) 1000 x 100k CSR at 0.05% density (50 stored entries a row), 100 trees of depth 6;
  (b) 10k x 1000 CSR at 10% density, 200 trees of depth 6.
Engines: gbinfer on the CSR; gbinfer after densifying (absent entries as NaN, the densifying
included in the timed call, as the caller would pay it); XGBoost ``inplace_predict`` on the CSR;
XGBoost ``DMatrix(csr)`` + ``predict`` (DMatrix construction included).

Each engine runs in a fresh subprocess: it loads the model and the matrix, makes one untimed
call (kernels compiled or loaded from cache, buffers allocated), then resets the process's
peak-RSS mark (``/proc/self/clear_refs``) and times ``--repeats`` calls. Reported: the median
time per call, the peak RSS increase over the RSS before the timed calls (what the calls
themselves add: input and model are already in memory), and the process's peak RSS during the
calls (interpreter, libraries, model and input included). Every engine's output must equal
XGBoost's DMatrix output exactly. Run: ``python benchmarks/bench_sparse.py [--repeats N]``.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

CASES = {
    "a": {"title": "1000 x 100k, 0.05% density, 100 trees depth 6", "rows": 1000, "cols": 100_000,
          "density": 0.0005, "train_rows": 20_000, "trees": 100},
    "b": {"title": "10k x 1000, 10% density, 200 trees depth 6", "rows": 10_000, "cols": 1000, "density": 0.1,
          "train_rows": 20_000, "trees": 200},
}
ENGINES = ["gbinfer-sparse", "gbinfer-densify", "xgb-inplace", "xgb-dmatrix"]


def _random_csr(rows, cols, density, seed):
    import scipy.sparse as sp

    rng = np.random.default_rng(seed)
    return sp.random(rows, cols, density=density, format="csr", dtype=np.float32, random_state=rng,
                     data_rvs=lambda k: rng.normal(size=k).astype(np.float32))


def _prepare(case, workdir: Path, threads: int) -> None:
    import scipy.sparse as sp
    import xgboost as xgb

    spec = CASES[case]
    train = _random_csr(spec["train_rows"], spec["cols"], spec["density"], seed=1)
    # the label depends on the most often stored columns, so trees split on many features
    weights = np.random.default_rng(2).normal(size=spec["cols"]).astype(np.float32)
    y = (train @ weights > 0).astype(np.float32)
    bst = xgb.train({"objective": "binary:logistic", "max_depth": 6, "nthread": threads, "seed": 0},
                    xgb.DMatrix(train, y), spec["trees"])
    bst.save_model(str(workdir / f"{case}.json"))
    sp.save_npz(workdir / f"{case}.npz", _random_csr(spec["rows"], spec["cols"], spec["density"], seed=3))


def _status(key: str) -> int:
    """A /proc/self/status figure in bytes."""
    for line in open("/proc/self/status"):
        if line.startswith(key + ":"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"no {key} in /proc/self/status")


def _worker(engine: str, case: str, workdir: Path, repeats: int, threads: int) -> None:
    import scipy.sparse as sp

    csr = sp.load_npz(workdir / f"{case}.npz").tocsr()
    model_path = str(workdir / f"{case}.json")
    if engine.startswith("gbinfer"):
        import gbinfer

        model = gbinfer.load(model_path)
        if engine == "gbinfer-sparse":
            def call():
                return model.predict(csr, nthread=threads)
        else:
            def call():
                dense = np.full(csr.shape, np.nan, dtype=np.float32)
                rows = np.repeat(np.arange(csr.shape[0]), np.diff(csr.indptr))
                dense[rows, csr.indices] = csr.data
                return model.predict(dense, nthread=threads)
    else:
        import xgboost as xgb

        bst = xgb.Booster(model_file=model_path)
        bst.set_param({"nthread": threads})
        if engine == "xgb-inplace":
            def call():
                return bst.inplace_predict(csr)
        else:
            def call():
                return bst.predict(xgb.DMatrix(csr, nthread=threads))
    out = call()
    np.save(workdir / f"{case}-{engine}.npy", out)
    open("/proc/self/clear_refs", "w").write("5")  # peak RSS := current RSS
    before = _status("VmRSS")
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        call()
        times.append(time.perf_counter() - t)
    print(json.dumps({"median_s": float(np.median(times)), "peak_increase_bytes": _status("VmHWM") - before,
                      "peak_bytes": _status("VmHWM")}))


def _fmt_time(s: float) -> str:
    return f"{s * 1e3:.2f} ms" if s < 1 else f"{s:.2f} s"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeats", type=int, default=7, help="timed calls per engine (median reported)")
    p.add_argument("--threads", type=int, default=1, help="threads every engine may use (default 1)")
    p.add_argument("--cases", default="a,b", help="comma list of: a, b")
    p.add_argument("--worker", nargs=3, metavar=("ENGINE", "CASE", "DIR"), help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.worker:
        engine, case, workdir = args.worker
        _worker(engine, case, Path(workdir), args.repeats, args.threads)
        return
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        for case in args.cases.split(","):
            spec = CASES[case]
            _prepare(case, workdir, args.threads)
            results = {}
            for engine in ENGINES:
                run = subprocess.run([sys.executable, __file__, "--worker", engine, case, tmp, "--repeats",
                                      str(args.repeats), "--threads", str(args.threads)],
                                     capture_output=True, text=True, check=True)
                results[engine] = json.loads(run.stdout.strip().splitlines()[-1])
            reference = np.load(workdir / f"{case}-xgb-dmatrix.npy")
            print(f"\n({case}) {spec['title']}; {args.threads} thread(s), median of {args.repeats} calls; "
                  "memory = peak RSS increase during the calls")
            print("| engine | time | time / gbinfer-sparse | memory | memory / gbinfer-sparse | peak RSS "
                  "| output = xgboost |")
            print("|---|---|---|---|---|---|---|")
            base = results["gbinfer-sparse"]
            for engine in ENGINES:
                r = results[engine]
                same = np.array_equal(np.load(workdir / f"{case}-{engine}.npy"), reference)
                print(f"| {engine} | {_fmt_time(r['median_s'])} | {r['median_s'] / base['median_s']:.2f} | "
                      f"{r['peak_increase_bytes'] / 2**20:.1f} MiB | "
                      f"{r['peak_increase_bytes'] / max(base['peak_increase_bytes'], 1):.2f} | "
                      f"{r['peak_bytes'] / 2**20:.0f} MiB | {same} |")


if __name__ == "__main__":
    main()
