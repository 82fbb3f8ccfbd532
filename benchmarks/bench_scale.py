"""Batch scoring at scale, against XGBoost's own distributed paths, in one run:

* Dask: ``gbinfer.dask.predict`` vs ``xgboost.dask.inplace_predict`` on the same LocalCluster (2 worker
  processes, 1 thread each), 10M rows x 50 float32 features (2% NaN) generated on the workers and
  kept there (``persist``), so neither side pays for data creation or shipping rows from the client.
* Spark: ``gbinfer.spark.predict_udf`` vs a plain pandas UDF calling ``Booster.inplace_predict``
  (its booster also loaded once per Python worker, from broadcast bytes), on local[2], 1M rows
  cached in Spark, written to the ``noop`` sink; beside them a pandas UDF that returns zeros, which
  is what Spark's own transfer of the rows to Python costs.

The model: XGBoost binary:logistic, 500 trees of depth 6, 50 features (trained once, cached under
``benchmarks/.cache/``). Both engines' outputs are compared for equality on every row before timing.
Each engine is timed ``--rounds`` times, taking turns; the median is reported, and the ratio
(xgboost time / gbinfer time). Every measurement has a deadline (``--deadline`` seconds for the
whole run): past it the run stops and reports what it has.

    python benchmarks/bench_scale.py                      # ~5-10 min on 2 cores
    python benchmarks/bench_scale.py --rows 1000000 --spark-rows 200000 --rounds 1   # a quick look
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
CACHE = HERE / ".cache"
RESULTS = HERE / "results"
FEATURES = 50
NAN_RATE = 0.02


class OutOfTime(Exception):
    pass


class Clock:
    """The run's deadline: a step that would start after it is not started."""

    def __init__(self, seconds: float):
        self.end = time.monotonic() + seconds

    def check(self, what: str) -> None:
        if time.monotonic() > self.end:
            raise OutOfTime(f"deadline reached before {what}")


def load_average() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()


def train_model():
    """500 trees of depth 6 on 50 features, binary:logistic; cached as UBJ."""
    import xgboost

    path = CACHE / "scale-500x6.ubj"
    if not path.exists():
        CACHE.mkdir(exist_ok=True)
        rng = np.random.default_rng(7)
        X = rng.standard_normal((50_000, FEATURES), dtype=np.float32)
        X[rng.random(X.shape) < NAN_RATE] = np.nan
        w = rng.standard_normal(FEATURES)
        y = (np.nan_to_num(X) @ w + np.sin(3 * np.nan_to_num(X[:, 0])) > 0).astype(int)
        booster = xgboost.train({"objective": "binary:logistic", "max_depth": 6, "eta": 0.1, "nthread": 2},
                                xgboost.DMatrix(X, y), 500)
        tmp = path.with_name(f".{path.stem}.tmp.ubj")
        booster.save_model(tmp)
        os.replace(tmp, path)
    booster = xgboost.Booster(model_file=str(path))
    return booster


def timed(run) -> float:
    start = time.perf_counter()
    run()
    return time.perf_counter() - start


def take_turns(engines: dict, rounds: int, clock: Clock) -> dict:
    """name -> list of seconds, the engines timed in turn, ``rounds`` times."""
    times = {name: [] for name in engines}
    for r in range(rounds):
        for name, run in engines.items():
            clock.check(f"{name}, round {r + 1}")
            times[name].append(timed(run))
            print(f"  {name} round {r + 1}: {times[name][-1]:.2f} s", flush=True)
    return times


# ---------------------------------------------------------------- Dask

def bench_dask(booster, rows: int, chunk: int, rounds: int, clock: Clock) -> dict:
    import dask.array as da
    import xgboost.dask
    from distributed import Client, LocalCluster, wait

    import gbinfer
    import gbinfer.dask

    model = gbinfer.load(booster)
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                      worker_dashboard_address=None) as cluster, Client(cluster) as client:
        rng = da.random.default_rng(11)
        X = rng.standard_normal((rows, FEATURES), chunks=(chunk, FEATURES), dtype=np.float32)
        X = da.where(rng.random((rows, FEATURES), chunks=(chunk, FEATURES)) < NAN_RATE, np.float32(np.nan), X)
        X = X.persist()
        wait(X)  # made on the workers, kept there
        print(f"dask: {rows} rows x {FEATURES} in {X.numblocks[0]} chunks on 2 workers", flush=True)

        def ours(data=X):
            out = gbinfer.dask.predict(model, data).persist()
            wait(out)
            return out

        def theirs(data=X):
            out = xgboost.dask.inplace_predict(client, booster, data).persist()
            wait(out)
            return out

        warm = X[: 2 * chunk]
        ours(warm), theirs(warm)  # kernels compiled or loaded, models on the workers
        clock.check("the dask equality check")
        same = bool(da.all(ours() == theirs()).compute())  # float32, NaN-free: exact equality
        print(f"dask: outputs identical on all {rows} rows: {same}", flush=True)
        times = take_turns({"gbinfer.dask.predict": ours, "xgboost.dask.inplace_predict": theirs}, rounds, clock)
    return {"rows": rows, "chunk": chunk, "identical": same, "times": times}


# ---------------------------------------------------------------- Spark

def xgboost_udf(spark, booster):
    """The plain way: a pandas UDF that rebuilds the Booster from broadcast bytes once per Python
    worker and calls ``inplace_predict`` with the task's single thread."""
    import pandas as pd
    from pyspark.sql.functions import pandas_udf

    raw = spark.sparkContext.broadcast(bytes(booster.save_raw("ubj")))
    cache = {}

    def score(*columns):
        import xgboost

        if "booster" not in cache:
            b = xgboost.Booster()
            b.load_model(bytearray(raw.value))
            b.set_param({"nthread": 1})
            cache["booster"] = b
        X = pd.concat(columns, axis=1).to_numpy(dtype=np.float32)
        return pd.Series(cache["booster"].inplace_predict(X).astype(np.float64))

    score.__annotations__ = {"columns": pd.Series, "return": pd.Series}  # objects: Spark reads the hints
    return pandas_udf(score, "double")


def zeros_udf():
    """A pandas UDF that only receives the batches and returns zeros: what Spark itself costs
    (the JVM-to-Python Arrow transfer of 50 columns), the floor under both engines."""
    import pandas as pd
    from pyspark.sql.functions import pandas_udf

    def score(*columns):
        return pd.Series(np.zeros(len(columns[0])))

    score.__annotations__ = {"columns": pd.Series, "return": pd.Series}
    return pandas_udf(score, "double")


def bench_spark(booster, rows: int, partitions: int, rounds: int, clock: Clock) -> dict:
    from pyspark.sql import SparkSession
    from pyspark.sql import functions as F

    import gbinfer
    import gbinfer.spark

    os.environ["PYSPARK_PYTHON"] = sys.executable
    spark = (SparkSession.builder.master("local[2]").appName("bench-scale").config("spark.ui.enabled", "false")
             .config("spark.driver.memory", "4g").config("spark.sql.execution.arrow.pyspark.enabled", "true")
             .getOrCreate())
    spark.sparkContext.setLogLevel("ERROR")
    try:
        names = [f"f{j}" for j in range(FEATURES)]
        columns = [F.when(F.rand(seed=1000 + j) < NAN_RATE, F.lit(float("nan")))
                   .otherwise(F.randn(seed=j)).cast("float").alias(names[j]) for j in range(FEATURES)]
        df = spark.range(rows, numPartitions=partitions).select(*columns).cache()
        df.count()  # made and cached in Spark before anything is timed
        print(f"spark: {rows} rows x {FEATURES} in {partitions} partitions, cached", flush=True)
        model = gbinfer.load(booster)
        ours_col = gbinfer.spark.predict_udf(model)(*names)
        theirs_col = xgboost_udf(spark, booster)(*names)

        def run(column):
            return lambda: df.select(column.alias("score")).write.format("noop").mode("overwrite").save()

        clock.check("the spark equality check")
        both = df.select(ours_col.alias("ours"), theirs_col.alias("theirs")).toPandas()
        same = bool(np.array_equal(both.ours.to_numpy(), both.theirs.to_numpy()))
        print(f"spark: outputs identical on all {rows} rows: {same}", flush=True)
        times = take_turns({"gbinfer.spark.predict_udf": run(ours_col), "xgboost pandas_udf": run(theirs_col),
                            "zeros pandas_udf (Spark's own cost)": run(zeros_udf()(*names))}, rounds, clock)
    finally:
        spark.stop()
    return {"rows": rows, "partitions": partitions, "identical": same, "times": times}


# ---------------------------------------------------------------- report

def report(results: dict, loads: list, args) -> str:
    import dask
    import distributed
    import pyspark
    import xgboost

    import gbinfer

    lines = ["# Batch scoring on Dask and Spark", "",
             f"`python benchmarks/bench_scale.py{''.join(' ' + a for a in sys.argv[1:])}`: XGBoost binary:logistic, 500 trees of depth 6, 50 float32 features with 2% NaN.",
             f"Machine: {os.cpu_count()} cores; gbinfer {gbinfer.__version__}, xgboost {xgboost.__version__}, "
             f"dask {dask.__version__}, distributed {distributed.__version__}, pyspark {pyspark.__version__}, "
             f"Python {sys.version.split()[0]}.", "",
             "| setting | rows | engine | median | runs | ratio (xgboost / gbinfer) |", "|---|---|---|---|---|---|"]
    for setting, res in results.items():
        names = list(res["times"])
        medians = {n: statistics.median(t) for n, t in res["times"].items() if t}
        for n in names:
            if n not in medians:
                continue
            ratio = f"{medians[names[1]] / medians[names[0]]:.2f}×" if n == names[1] and len(medians) >= 2 else ""
            runs = ", ".join(f"{t:.2f}" for t in res["times"][n])
            lines.append(f"| {setting} | {res['rows']:,} | {n} | {medians[n]:.2f} s | {runs} | {ratio} |")
    lines += ["", "Outputs identical on every row: " + ", ".join(f"{s}: {r['identical']}" for s, r in results.items()),
              "", "Load (`uptime`) during the run:", ""] + [f"- {what}: `{text}`" for what, text in loads]
    return "\n".join(lines) + "\n"


def write_report(results: dict, loads: list, args) -> str:
    """Write ``results/<out>.md`` atomically; return its text."""
    text = report(results, loads, args)
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"{args.out}.md"
    tmp = out.with_name(f".{out.name}.tmp")
    tmp.write_text(text)
    os.replace(tmp, out)
    return text


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000_000, help="Dask rows (default 10M)")
    parser.add_argument("--chunk", type=int, default=250_000, help="rows per Dask chunk")
    parser.add_argument("--spark-rows", type=int, default=1_000_000, help="Spark rows (default 1M)")
    parser.add_argument("--spark-partitions", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=3, help="timed runs of each engine")
    parser.add_argument("--deadline", type=float, default=1500, help="seconds for the whole run")
    parser.add_argument("--only", choices=("dask", "spark"), help="run one of the two")
    parser.add_argument("--out", default="scale", help="results/<out>.md")
    args = parser.parse_args()
    clock = Clock(args.deadline)
    booster = train_model()
    loads = [("start", load_average())]
    results = {}
    try:
        if args.only in (None, "dask"):
            results["Dask, 2 workers x 1 thread"] = bench_dask(booster, args.rows, args.chunk, args.rounds, clock)
            loads.append(("after Dask", load_average()))
            write_report(results, loads, args)  # kept even if the Spark part fails
        if args.only in (None, "spark"):
            results["Spark, local[2]"] = bench_spark(booster, args.spark_rows, args.spark_partitions, args.rounds,
                                                     clock)
            loads.append(("after Spark", load_average()))
    except OutOfTime as exc:
        print(f"stopped: {exc}", flush=True)
        loads.append(("stopped", load_average()))
    print(write_report(results, loads, args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
