"""The benchmark's engine registry: every way of predicting that ``compare.py`` times.

An engine is a small class, instantiated once per model:

    available() -> (ok, reason)      can the engine's library be imported here (imports lazily)
    supports(spec) -> (ok, reason)   does it read this model at all (library, categorical, DART, size)
    prepare(spec)                    load / convert / compile; anything not to be timed
    predict(X, nthread) -> ndarray   the timed call: float32 rows in, the model's transformed output out

``info`` collects facts worth reporting (conversion or compile time, cache use). Register with
``@register_engine``; ``compare.py --engines`` picks by ``name``. Only gbinfer and xgboost are
imported at module level — treelite, tl2cgen, onnxmltools and onnxruntime are imported inside
the engines, so the script runs with xgboost alone and lists the others as skipped.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from compare_models import CACHE, ModelSpec, cb_model, lgb_booster, xgb_booster, xgb_dmatrix

HERE = Path(__file__).resolve().parent

ENGINES: dict[str, type["Engine"]] = {}


class Unsupported(Exception):
    """Raised by ``prepare`` when the engine does not read this model (yet): the report lists the
    cell as unsupported, with the reason, and the run goes on."""


def register_engine(cls):
    ENGINES[cls.name] = cls
    return cls


class Engine:
    name = ""
    note = ""  # shown in the report's engine list: what the timed call includes
    libraries = ("xgboost",)  # model libraries this engine reads
    module = None  # the import that must succeed, checked by available()

    def __init__(self, options=None):
        self.options = options or {}
        self.info: dict = {}

    @classmethod
    def available(cls) -> tuple[bool, str]:
        if cls.module is None:
            return True, ""
        try:
            __import__(cls.module)
        except Exception as exc:  # ImportError, or a broken install
            return False, f"cannot import {cls.module}: {type(exc).__name__}: {exc}"
        return True, ""

    def supports(self, spec: ModelSpec) -> tuple[bool, str]:
        if spec.library not in self.libraries:
            return False, f"reads {'/'.join(self.libraries)} models only"
        return True, ""

    def prepare(self, spec: ModelSpec) -> None:
        raise NotImplementedError

    def predict(self, X: np.ndarray, nthread: int) -> np.ndarray:
        raise NotImplementedError


def _squeeze_outputs(out) -> np.ndarray:
    """(rows,) for one output, (rows, k) for k outputs — the shape xgboost's predict gives."""
    out = np.asarray(out)
    out = out.reshape(out.shape[0], -1)
    return out[:, 0] if out.shape[1] == 1 else out


# ---------------------------------------------------------------- gbinfer

@register_engine
class Gbinfer(Engine):
    name = "gbinfer"
    note = "`gbinfer.load(file).predict(X, nthread=t)`"
    libraries = ("xgboost", "lightgbm", "catboost")
    module = "gbinfer"

    def prepare(self, spec):
        import gbinfer
        from gbinfer.errors import UnsupportedModelError

        t0 = time.perf_counter()
        try:
            self.model = gbinfer.load(spec.path)
        except UnsupportedModelError as exc:
            raise Unsupported(str(exc)) from None
        self.info["load_s"] = time.perf_counter() - t0

    def predict(self, X, nthread):
        return self.model.predict(X, nthread=nthread)


# ---------------------------------------------------------------- lightgbm

@register_engine
class LightGBMPredict(Engine):
    name = "lgb-predict"
    note = "lightgbm `Booster.predict(X, num_threads=t)`"
    libraries = ("lightgbm",)
    module = "lightgbm"

    def prepare(self, spec):
        import lightgbm as lgb

        self.bst = lgb.Booster(model_file=str(spec.path))

    def predict(self, X, nthread):
        return self.bst.predict(X, num_threads=nthread)


# ---------------------------------------------------------------- catboost

@register_engine
class CatBoostPredict(Engine):
    name = "cb-predict"
    note = "catboost `CatBoost.predict(X, prediction_type=\"Probability\", thread_count=t)`"
    libraries = ("catboost",)
    module = "catboost"

    def prepare(self, spec):
        self.model = cb_model(spec)
        self.task = spec.task

    def predict(self, X, nthread):
        p = self.model.predict(X, prediction_type="Probability", thread_count=nthread)
        return p[:, 1] if self.task == "binary" else p


# ---------------------------------------------------------------- xgboost

class _XGBoost(Engine):
    module = "xgboost"

    def prepare(self, spec):
        self.spec = spec
        self.bst = xgb_booster(spec)
        self.nthread = None

    def _threads(self, nthread):
        if nthread != self.nthread:
            self.bst.set_param({"nthread": nthread})
            self.nthread = nthread


@register_engine
class XGBoostInplace(_XGBoost):
    name = "xgb-inplace"
    note = "xgboost `Booster.inplace_predict(X)`, `nthread` set with `set_param`"

    def predict(self, X, nthread):
        self._threads(nthread)
        return self.bst.inplace_predict(X)


@register_engine
class XGBoostDMatrix(_XGBoost):
    name = "xgb-dmatrix"
    note = "xgboost `Booster.predict(DMatrix(X, nthread=t))` — **DMatrix construction included in the time**"

    def predict(self, X, nthread):
        self._threads(nthread)
        return self.bst.predict(xgb_dmatrix(self.spec, X, nthread))


# ---------------------------------------------------------------- treelite GTIL

def _treelite_model(spec: ModelSpec):
    import treelite

    if spec.library == "xgboost":
        bst = xgb_booster(spec)
        frontend = getattr(treelite, "frontend", None)
        if frontend is not None and hasattr(frontend, "from_xgboost"):
            return frontend.from_xgboost(bst)
        return treelite.Model.from_xgboost(bst)
    if spec.library == "lightgbm":
        return treelite.frontend.load_lightgbm_model(str(spec.path))
    raise ValueError(f"no treelite frontend wired for {spec.library}")


@register_engine
class TreeliteGTIL(Engine):
    name = "treelite-gtil"
    note = "treelite `gtil.predict(model, X, nthread=t)` (the reference interpreter, no compile)"
    libraries = ("xgboost", "lightgbm")
    module = "treelite"

    def prepare(self, spec):
        t0 = time.perf_counter()
        self.model = _treelite_model(spec)
        self.info["convert_s"] = time.perf_counter() - t0

    def predict(self, X, nthread):
        import treelite

        return _squeeze_outputs(treelite.gtil.predict(self.model, X, nthread=nthread))


# ---------------------------------------------------------------- onnxruntime

@register_engine
class OnnxRuntime(Engine):
    name = "onnxruntime"
    note = ("onnxmltools `convert_xgboost` / `convert_lightgbm`, or catboost's own `save_model(format=\"onnx\")` "
            "(its ZipMap node removed: probabilities as a tensor) → onnxruntime `InferenceSession.run` "
            "(intra_op_num_threads=t)")
    libraries = ("xgboost", "lightgbm", "catboost")
    module = "onnxruntime"

    @classmethod
    def available(cls):
        for mod in ("onnxruntime", "onnxmltools", "onnx"):
            try:
                __import__(mod)
            except Exception as exc:
                return False, f"cannot import {mod}: {type(exc).__name__}: {exc}"
        return True, ""

    def supports(self, spec):
        ok, reason = super().supports(spec)
        if not ok:
            return ok, reason
        return True, ""  # whether the model converts is found out in prepare

    def prepare(self, spec):
        t0 = time.perf_counter()
        if spec.library == "catboost":
            self.onnx_bytes = _catboost_onnx(spec)
        else:
            from onnxmltools import convert_lightgbm, convert_xgboost
            from onnxmltools.convert.common.data_types import FloatTensorType

            types = [("input", FloatTensorType([None, spec.num_features]))]
            try:
                if spec.library == "lightgbm":
                    onx = convert_lightgbm(lgb_booster(spec), initial_types=types, zipmap=False)
                else:
                    onx = convert_xgboost(xgb_booster(spec), initial_types=types)
            except Exception as exc:
                kind = "DART " if spec.booster == "dart" else "categorical " if spec.has_categorical else ""
                raise RuntimeError(f"onnxmltools convert_{spec.library} cannot convert this {kind}model "
                                   f"({type(exc).__name__}: {exc})") from None
            self.onnx_bytes = onx.SerializeToString()
        self.info["convert_s"] = time.perf_counter() - t0
        self.task = spec.task
        self.sessions = {}

    def _session(self, nthread):
        sess = self.sessions.get(nthread)
        if sess is None:
            import onnxruntime as ort

            so = ort.SessionOptions()
            so.intra_op_num_threads = nthread
            so.inter_op_num_threads = 1
            sess = ort.InferenceSession(self.onnx_bytes, so, providers=["CPUExecutionProvider"])
            names = [o.name for o in sess.get_outputs()]
            prob = next((n for n in names if "prob" in n.lower()), names[-1])
            self.sessions[nthread] = sess = (sess, sess.get_inputs()[0].name, prob)
        return sess

    def predict(self, X, nthread):
        sess, inp, out = self._session(nthread)
        p = sess.run([out], {inp: X})[0]
        if isinstance(p, list):  # ZipMap output: a list of {label: prob}
            p = np.array([[row[k] for k in sorted(row)] for row in p], dtype=np.float32)
        if self.task == "binary" and p.ndim == 2 and p.shape[1] == 2:
            p = p[:, 1]
        return _squeeze_outputs(p)


def _catboost_onnx(spec: ModelSpec) -> bytes:
    """CatBoost's own ONNX export, its ZipMap output replaced by the probability tensor it maps."""
    import tempfile

    import onnx

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "model.onnx"
        try:
            cb_model(spec).save_model(str(path), format="onnx")
        except Exception as exc:
            why = "categorical features" if spec.has_categorical else type(exc).__name__
            raise Unsupported(f"catboost's ONNX export refuses this model ({why}: "
                              f"{str(exc).strip().splitlines()[-1][:160]})") from None
        onx = onnx.load(str(path))
    graph = onx.graph
    zipmaps = [n for n in graph.node if n.op_type == "ZipMap"]
    if zipmaps:
        tensor = zipmaps[0].input[0]
        graph.node.remove(zipmaps[0])
        for out in list(graph.output):
            if out.name == zipmaps[0].output[0]:
                graph.output.remove(out)
        graph.output.append(onnx.helper.make_tensor_value_info(tensor, onnx.TensorProto.FLOAT, None))
    return onx.SerializeToString()


# ---------------------------------------------------------------- TL2cgen

@register_engine
class TL2cgen(Engine):
    name = "tl2cgen"
    note = ("TL2cgen: treelite model → C → gcc -O3 shared library, `Predictor(lib, nthread=t).predict("
            "tl2cgen.DMatrix(X))` (DMatrix wrap included); compiled in a subprocess, cached")
    libraries = ("xgboost", "lightgbm")
    module = "tl2cgen"

    def supports(self, spec):
        ok, reason = super().supports(spec)
        if not ok:
            return ok, reason
        ok, reason = TreeliteGTIL.available()
        if not ok:
            return ok, reason
        nodes = spec.stats()["num_nodes"]
        bound = self.options.get("max_nodes", 50_000)
        if bound and nodes > bound and not self._cached(spec):
            return False, (f"{nodes:,} nodes > compile bound {bound:,} (compile skipped; "
                           f"--tl2cgen-all to compile anyway)")
        return True, ""

    def _paths(self, spec):
        import tl2cgen

        stem = CACHE / f"{spec.name}.tl2cgen-{tl2cgen.__version__}"
        return stem.with_suffix(".so"), stem.with_suffix(".json")

    def _cached(self, spec) -> bool:
        lib, meta = self._paths(spec)
        return lib.exists() and meta.exists() and meta.stat().st_mtime >= spec.path.stat().st_mtime

    def prepare(self, spec):
        import tl2cgen

        lib, meta = self._paths(spec)
        if self._cached(spec):
            self.info.update(json.loads(meta.read_text()), cached=True)
        else:
            timeout = self.options.get("timeout", 600)
            cmd = [sys.executable, str(HERE / "tl2cgen_compile.py"), spec.name, str(lib), str(meta)]
            t0 = time.perf_counter()
            try:
                proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=HERE)
            except subprocess.TimeoutExpired:
                raise RuntimeError(f"compile exceeded the {timeout} s timeout (--tl2cgen-timeout)") from None
            if proc.returncode != 0:
                raise RuntimeError(f"compile failed: {proc.stderr.strip().splitlines()[-1:]}")
            self.info.update(json.loads(meta.read_text()), cached=False,
                             subprocess_s=time.perf_counter() - t0)
        self.lib = lib
        self.tl2cgen = tl2cgen
        self.predictors = {}

    def predict(self, X, nthread):
        pred = self.predictors.get(nthread)
        if pred is None:
            pred = self.predictors[nthread] = self.tl2cgen.Predictor(str(self.lib), nthread=nthread)
        return _squeeze_outputs(pred.predict(self.tl2cgen.DMatrix(X)))
