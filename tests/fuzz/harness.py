"""Fuzz campaigns: seed models per format, a worker process per campaign, findings saved to disk.

``run(fmt, trials)`` mutates the format's seeds with a ``random.Random`` seeded from
(format, base seed, trial), hands each file to a ``Worker`` (``worker.py``) under a per-trial
timeout and an address-space limit, and counts the verdicts. A worker that dies or stops
answering is a finding too; it is restarted and the run goes on. Each finding's file is kept
under the findings directory with a JSON note, named by its verdict, for replay with
``python tests/fuzz/run.py --replay FILE``.
"""

from __future__ import annotations

import collections
import json
import os
import random
import resource
import select
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from . import mutators

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "fixtures"
FORMATS = ("xgboost_json", "ubj", "legacy_binary", "xgbrs", "native_json", "lightgbm", "apr", "catboost_cbm",
           "catboost_json")
SUFFIX = {"xgboost_json": ".json", "ubj": ".ubj", "legacy_binary": ".bin", "xgbrs": ".xgbrs",
          "native_json": ".json", "lightgbm": ".txt", "apr": ".apr", "catboost_cbm": ".cbm", "catboost_json": ".json"}
MEMORY_LIMIT = 3 << 30  # address space of the worker: a loader asking for more fails, visibly
TIMEOUT = 120.0  # seconds a trial may take: a mutated file may reach a kernel specialisation no earlier
# trial compiled, and on a fresh machine's cold cache that compile alone can take tens of seconds

_XGB_CASES = [("3.2.0", "binary_logistic"), ("3.2.0", "cat_partition"), ("3.2.0", "cat_onehot"),
              ("3.2.0", "multi_softprob"), ("3.2.0", "dart_binary_logistic"), ("3.2.0", "gblinear_multi_softprob"),
              ("3.2.0", "multi_target_vector_leaf"), ("3.2.0", "count_poisson"),
              ("3.1.3", "parallel_tree_multi_softprob_iter_range"), ("2.0.3", "multi_target_vector_leaf"),
              ("1.7.6", "binary_logistic"), ("1.7.6", "dart_reg_squarederror"), ("1.7.6", "gblinear_binary_logistic")]

_LGB_CASES = [("4.7.0", c) for c in ("binary", "categorical", "linear_tree", "missing_zero", "missing_none",
                                     "multiclass", "random_forest", "regression_sqrt", "cross_entropy_lambda",
                                     "lambdarank")]
_LGB_CASES += [("3.3.5", "categorical"), ("2.1.2", "multiclass"), ("2.1.2", "binary")]


def seeds(fmt: str) -> dict:
    """name -> bytes of the committed models a campaign of ``fmt`` starts from."""
    if fmt in ("xgboost_json", "ubj"):
        ext = ".json" if fmt == "xgboost_json" else ".ubj"
        paths = [FIXTURES / "xgboost" / v / f"{case}{ext}" for v, case in _XGB_CASES]
    elif fmt == "legacy_binary":
        paths = sorted((ROOT / "tests" / "data" / "xgboost_binary").glob("*.bin"))
        paths += [FIXTURES / "xgboost" / "1.7.6" / f"{case}.bin" for case in ("binary_logistic", "gblinear_multi_softprob")]
    elif fmt == "xgbrs":
        paths = sorted((FIXTURES / "schema" / "v1").glob("*.xgbrs"))
    elif fmt == "native_json":
        paths = [p for p in sorted((FIXTURES / "schema" / "v1").glob("*.json")) if not p.name.startswith("schema")]
    elif fmt == "apr":  # archives around the .xgbrs seeds: plain, zstd, LZ4, and signed
        from . import reference_apr as apr

        out = {}
        for i, p in enumerate(sorted((FIXTURES / "schema" / "v1").glob("*.xgbrs"))):
            payload = p.read_bytes()
            for name, comp, sign in (("none", apr.NONE, False), ("zstd", apr.ZSTD, False), ("lz4", apr.LZ4, False),
                                     ("signed-zstd", apr.ZSTD, True), ("signed", apr.NONE, True)):
                if name == "none" or (i + len(name)) % 3 == 0:
                    out[f"{name}/{p.stem}.apr"] = apr.pack(payload, comp, sign=sign)
        return out
    elif fmt == "lightgbm":
        paths = [FIXTURES / "lightgbm" / v / f"{case}.txt" for v, case in _LGB_CASES]
    elif fmt in ("catboost_cbm", "catboost_json"):  # tests/fuzz/generate_catboost_seeds.py, some gzipped
        import gzip

        ext = ".cbm" if fmt == "catboost_cbm" else ".json"
        out = {}
        for i, p in enumerate(p for p in sorted((FIXTURES / "catboost_fuzz").glob(f"*{ext}")) if p.stem != "manifest"):
            out[f"catboost_fuzz/{p.name}"] = p.read_bytes()
            if i % 2 == 0:
                out[f"gzip/{p.name}"] = gzip.compress(p.read_bytes(), mtime=0)
        return out
    else:
        raise ValueError(f"unknown format {fmt!r}; known: {', '.join(FORMATS)}")
    out = {f"{p.parent.name}/{p.name}": p.read_bytes() for p in paths if p.exists()}
    if fmt == "legacy_binary":  # the two wrappings older XGBoost wrote around the same records
        import base64

        raw = out["xgboost_binary/xgb2.0.3_dart.bin"]
        out["bs64/xgb2.0.3_dart"] = b"bs64\n" + base64.encodebytes(raw)
        out["snapshot/xgb2.0.3_dart"] = (b"CONFIG-offset:" + len(raw).to_bytes(8, "little") + raw
                                         + b'{"learner": {"generic_param": {"nthread": "1"}}}')
    return out


class WorkerDied(Exception):
    pass


class Worker:
    """One long-lived oracle process (imports and compiled kernels are paid for once)."""

    def __init__(self, memory_limit: int = MEMORY_LIMIT):
        self.memory_limit = memory_limit
        self.proc = None

    def _start(self):
        def limit():
            resource.setrlimit(resource.RLIMIT_AS, (self.memory_limit, self.memory_limit))

        env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
                   NUMBA_NUM_THREADS="1", OMP_NUM_THREADS="1")
        self.proc = subprocess.Popen([sys.executable, str(Path(__file__).with_name("worker.py"))],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                     preexec_fn=limit, env=env, text=True, bufsize=1)

    def judge(self, path: Path, timeout: float = TIMEOUT) -> dict:
        if self.proc is None or self.proc.poll() is not None:
            self._start()
            timeout = max(timeout, 300.0)  # imports and the first kernels on a busy machine
        self.proc.stdin.write(f"{path}\n")
        self.proc.stdin.flush()
        ready, _, _ = select.select([self.proc.stdout], [], [], timeout)
        if not ready:
            self.close()
            return {"outcome": "finding", "kind": "hang", "detail": f"no verdict within {timeout:.0f} s"}
        line = self.proc.stdout.readline()
        if not line:
            code = self.proc.wait()
            self.proc = None
            return {"outcome": "finding", "kind": "crash", "detail": f"worker exited with {code}"}
        verdict = json.loads(line)
        if verdict.get("restart"):
            self.close()
        return verdict

    def close(self):
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()
            self.proc = None


@dataclass
class Report:
    fmt: str
    trials: int = 0
    outcomes: collections.Counter = field(default_factory=collections.Counter)
    findings: list = field(default_factory=list)  # (kind, detail, saved file)
    refused_at: collections.Counter = field(default_factory=collections.Counter)  # last part of the error's field
    seconds: float = 0.0

    def line(self) -> str:
        kinds = collections.Counter(k for k, _, _ in self.findings)
        return (f"{self.fmt}: {self.trials} trials in {self.seconds:.0f} s: {self.outcomes['typed']} typed errors, "
                f"{self.outcomes['exact']} exact predictions, {self.outcomes['finding']} findings"
                + (f" {dict(kinds)}" if kinds else ""))


def trial_bytes(fmt: str, seed_items: list, base_seed: int, trial: int):
    rng = random.Random(f"{fmt}/{base_seed}/{trial}")
    name, data = rng.choice(seed_items)
    others = [d for n, d in seed_items if n != name]
    mutated, note = mutators.mutate(fmt, data, rng, others)
    return mutated, f"{name}: {note}"


def run(fmt: str, trials: int, *, base_seed: int = 0, findings_dir: Path | None = None, worker: Worker | None = None,
        keep_per_kind: int = 20, progress=None) -> Report:
    seed_items = sorted(seeds(fmt).items())
    findings_dir = Path(findings_dir or tempfile.mkdtemp(prefix=f"gbinfer-fuzz-{fmt}-"))
    findings_dir.mkdir(parents=True, exist_ok=True)
    own_worker = worker is None
    worker = worker or Worker()
    report = Report(fmt)
    start = time.monotonic()
    work = Path(tempfile.mkdtemp(prefix="gbinfer-fuzz-trial-"))
    try:
        for trial in range(trials):
            data, note = trial_bytes(fmt, seed_items, base_seed, trial)
            path = work / f"trial{SUFFIX[fmt]}"
            path.write_bytes(data)
            verdict = worker.judge(path)
            report.trials += 1
            report.outcomes[verdict["outcome"]] += 1
            if verdict["outcome"] == "typed":
                report.refused_at[verdict.get("field") or "<file>"] += 1
            if verdict["outcome"] == "finding":
                kind = verdict["kind"]
                same = sum(1 for k, _, _ in report.findings if k == kind)
                saved = None
                if same < keep_per_kind:
                    saved = findings_dir / f"{fmt}-{base_seed}-{trial}{SUFFIX[fmt]}"
                    shutil.copyfile(path, saved)
                    saved.with_suffix(saved.suffix + ".note.json").write_text(json.dumps(
                        {"format": fmt, "base_seed": base_seed, "trial": trial, "mutation": note, **verdict},
                        indent=1))
                report.findings.append((kind, verdict.get("detail", ""), saved))
            if progress and (trial + 1) % progress == 0:
                report.seconds = time.monotonic() - start
                print(report.line(), flush=True)
    finally:
        if own_worker:
            worker.close()
        shutil.rmtree(work, ignore_errors=True)
    report.seconds = time.monotonic() - start
    return report
