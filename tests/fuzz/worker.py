"""The fuzz oracle, run in a child process so that a crash, a hang or a runaway allocation in
the loader ends one trial instead of the run (``harness.Worker`` starts it with RLIMIT_AS set).

Protocol: one file path per line on stdin; one JSON verdict per line on stdout:
``{"outcome": "typed" | "exact" | "finding", "kind": ..., "detail": ...}``.
"""

from __future__ import annotations

import json
import resource
import sys
import traceback
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import reference  # noqa: E402
import reference_apr  # noqa: E402
import reference_catboost  # noqa: E402
import reference_lightgbm  # noqa: E402
import reference_cbschema  # noqa: E402

import gbinfer  # noqa: E402
import gbinfer.apr  # noqa: E402
from gbinfer.errors import GbinferError  # noqa: E402

PEAK_LIMIT = 1 << 30  # resident bytes a trial of these small seeds may reach before it is a finding
WIDE = 64  # columns given values; wider models get the rest as missing entries of a sparse matrix


def inputs(ref: reference.RefModel) -> tuple[list, object]:
    """A fixed small input for the model: random values, category-like integers, special values,
    and rows that put a split's feature exactly on its threshold. Returns the rows the reference
    walks (missing past ``WIDE``) and the data handed to gbinfer (dense, or sparse when wide)."""
    nf = ref.num_features
    w = min(nf, WIDE)
    rng = np.random.default_rng(12345)
    blocks = [rng.normal(0, 2, (10, w)), rng.integers(0, 12, (6, w)).astype(np.float64),
              np.full((1, w), np.nan), np.zeros((1, w)), np.full((1, w), -0.0), np.full((1, w), np.inf),
              np.full((1, w), -np.inf), np.full((1, w), 3e38), np.full((1, w), -3.0), np.full((1, w), 16777216.0)]
    X = np.concatenate(blocks).astype(np.float32)
    X[:16][rng.random((16, w)) < 0.15] = np.nan
    splits = [(f, t) for tree in ref.trees for f, t, left in zip(tree.feature, tree.threshold, tree.left)
              if left != -1 and 0 <= f < w]
    extra = []
    for f, t in [splits[i] for i in rng.choice(len(splits), min(8, len(splits)), replace=False)] if splits else []:
        row = rng.normal(0, 2, w).astype(np.float32)
        row[f] = t
        extra.append(row)
    if extra:
        X = np.concatenate([X, np.array(extra, dtype=np.float32)])
    rows = X.astype(np.float64).tolist()  # float32 values, exactly
    if nf <= WIDE:
        return rows, X
    import scipy.sparse as sp

    r, c = np.nonzero(~np.isnan(X))
    sparse = sp.csr_matrix((X[r, c], (r, c)), shape=(X.shape[0], nf), dtype=np.float32)
    return [_Row(row) for row in rows], sparse


class _Row(list):
    """A row whose columns past the dense block are missing."""

    def __getitem__(self, i):
        return list.__getitem__(self, i) if i < len(self) else float("nan")


def verdict(path: str) -> dict:
    data = Path(path).read_bytes()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            if data[:4] == b"APRN":  # signed archives are opened with the key the fuzz seeds are signed with
                trusted = reference_apr.public_key() if reference_apr.is_signed(data) else None
                model = gbinfer.apr.load(path, trusted_key=trusted)
            else:
                model = gbinfer.load(path)
        except GbinferError as exc:
            if path not in str(exc):
                return {"outcome": "finding", "kind": "message without the file name",
                        "detail": f"{type(exc).__name__}: {exc}"[:500]}
            field = getattr(exc, "field", None) or ""
            return {"outcome": "typed", "kind": type(exc).__name__, "field": field.split("/")[-1][:40]}
        except BaseException as exc:  # noqa: BLE001 - every other exception is what we look for
            return {"outcome": "finding", "kind": f"raw {type(exc).__name__}",
                    "detail": "".join(traceback.format_exception(exc)[-6:])[-1500:]}
    if reference_lightgbm.sniff(data):
        return _lightgbm_verdict(model, data, path)
    if _is_catboost(data):
        return _catboost_verdict(model, data, path)
    try:
        if data[:4] == b"APRN":
            data = reference_apr.read(data, reference_apr.public_key() if reference_apr.is_signed(data) else None)
        ref = reference.read(data)
        if isinstance(ref, reference_lightgbm.LgbModel):
            return _lightgbm_compare(model, ref, path)
        if isinstance(ref, reference_cbschema.CbModel):
            return _catboost_compare(model, ref, path)
    except reference.Invalid as exc:
        return {"outcome": "finding", "kind": "loaded a file the reference refuses", "detail": str(exc)[:300]}
    except Exception as exc:  # noqa: BLE001
        return {"outcome": "finding", "kind": f"reference bug {type(exc).__name__}",
                "detail": "".join(traceback.format_exception(exc)[-4:])[-1500:]}
    if (finding := _shape_finding(model, ref)) is not None:
        return finding
    rows, data_in = inputs(ref)
    try:
        got = np.asarray(model.predict(data_in, output_margin=True), dtype=np.float32)
    except BaseException as exc:  # noqa: BLE001
        return _raised(exc)
    want = reference.margins(ref, rows)
    got = got.reshape(want.shape)
    same = (got.view(np.uint32) == want.view(np.uint32)) | (np.isnan(got) & np.isnan(want))
    if (finding := _differ(got, want, same)) is not None:
        return finding
    return _same_walks(model, ref, rows, data_in) or _afterwards(model, data_in, got, path) or {"outcome": "exact"}


def _shape_finding(model, ref) -> dict | None:
    if (model.num_features, model.num_outputs) != (ref.num_features, ref.num_outputs):
        return {"outcome": "finding", "kind": "shape differs",
                "detail": f"gbinfer {(model.num_features, model.num_outputs)}, reference "
                          f"{(ref.num_features, ref.num_outputs)}"}
    return None


def _raised(exc: BaseException) -> dict:
    return {"outcome": "finding", "kind": f"predict raised {type(exc).__name__}",
            "detail": "".join(traceback.format_exception(exc)[-6:])[-1500:]}


def _differ(got, want, same) -> dict | None:
    """The finding for predictions that are not all ``same``, naming the first that differs."""
    if same.all():
        return None
    r, c = np.argwhere(~same)[0]
    return {"outcome": "finding", "kind": "predictions differ",
            "detail": f"{int((~same).sum())} values differ; first at row {r} output {c}: gbinfer "
                      f"{got[r, c]!r}, reference {want[r, c]!r}"}


def _is_catboost(data: bytes) -> bool:
    if data[:2] == b"\x1f\x8b":
        try:
            data = reference_catboost.gunzip(data)
        except reference.Invalid:
            return True  # gbinfer read a gzip stream the reference refuses: the CatBoost verdict says so
    return reference_catboost.sniff(data)


def _catboost_verdict(model, data: bytes, path: str) -> dict:
    """A CatBoost model that loaded: raw values bit-equal (float64) to the reference walk, the
    leaf indexes, then prediction and the saved forms."""
    try:
        ref = reference_catboost.read(data)
    except reference.Invalid as exc:
        return {"outcome": "finding", "kind": "loaded a file the reference refuses", "detail": str(exc)[:300]}
    except Exception as exc:  # noqa: BLE001
        return {"outcome": "finding", "kind": f"reference bug {type(exc).__name__}",
                "detail": "".join(traceback.format_exception(exc)[-4:])[-1500:]}
    if (finding := _shape_finding(model, ref)) is not None:
        return finding
    rows, data_in = reference_catboost.inputs(ref)
    try:
        got = np.asarray(model.predict(data_in, output_margin=True), dtype=np.float64).reshape(len(rows), -1)
        got_leaves = np.asarray(model.predict_leaf(data_in), dtype=np.int64).reshape(len(rows), -1)
    except BaseException as exc:  # noqa: BLE001
        return _raised(exc)
    want = reference_catboost.margins(ref, rows)
    if got.shape != want.shape:
        return {"outcome": "finding", "kind": "predictions differ", "detail": f"shape {got.shape} vs {want.shape}"}
    same = _same64(got, want)
    if (finding := _differ(got, want, same)) is not None:
        return finding
    if not np.array_equal(got_leaves, reference_catboost.leaves(ref, rows)):
        return {"outcome": "finding", "kind": "leaves differ", "detail": ""}
    n = len(ref.trees)
    for begin, end in ((0, 1), (1, n)) if n >= 2 else ():
        part = np.asarray(model.predict(data_in, iteration_range=(begin, end), output_margin=True),
                          dtype=np.float64).reshape(want.shape)
        if not _same64(part, reference_catboost.margins(ref, rows, (begin, end))).all():
            return {"outcome": "finding", "kind": "iteration_range margins differ", "detail": f"({begin}, {end})"}
    return _afterwards(model, data_in, got, path) or {"outcome": "exact"}


def lightgbm_inputs(ref) -> tuple[list, object]:
    """Float64 rows for a LightGBM model: random values, category-like integers, the values
    LightGBM's zero and category rules turn on, and rows on each side of split thresholds.
    Returns the rows the reference walks and the data handed to gbinfer (dense, or sparse with
    absent entries 0.0 when wide)."""
    nf = ref.num_features
    w = min(nf, WIDE)
    rng = np.random.default_rng(54321)
    specials = [np.nan, 0.0, -0.0, 1e-36, -1e-36, 1e-35, -1e-35, reference_lightgbm.ZERO,
                np.nextafter(reference_lightgbm.ZERO, 1.0), np.inf, -np.inf, 1e300, -0.5, -1.0, 2.0**31,
                2.0**31 - 0.5, 31.0, 32.0, 4000.0, 1.5]
    blocks = [rng.normal(0, 2, (10, w)), rng.integers(0, 40, (6, w)).astype(np.float64)]
    blocks += [np.full((1, w), v) for v in specials]
    X = np.concatenate(blocks)
    X[:16][rng.random((16, w)) < 0.15] = np.nan
    splits = [(f, t) for tree in ref.trees if not tree.num_cat
              for f, t in zip(tree.split_feature, tree.threshold) if f < w]
    extra = []
    for f, t in [splits[i] for i in rng.choice(len(splits), min(8, len(splits)), replace=False)] if splits else []:
        for v in (t, np.nextafter(t, np.inf), np.nextafter(t, -np.inf)):
            row = rng.normal(0, 2, w)
            row[f] = v
            extra.append(row)
    if extra:
        X = np.concatenate([X, np.array(extra)])
    if nf <= WIDE:
        return reference_lightgbm.prepare(X.tolist()), X
    import scipy.sparse as sp

    r, c = np.nonzero(X != 0)
    sparse = sp.csr_matrix((X[r, c], (r, c)), shape=(X.shape[0], nf), dtype=np.float64)
    return [_Zeros(row) for row in X.tolist()], sparse


class _Zeros(list):
    """A sparse row: columns past the stored block are absent, and absent is 0.0 to LightGBM."""

    def __getitem__(self, i):
        return list.__getitem__(self, i) if i < len(self) else 0.0


def _same64(got, want) -> np.ndarray:
    return (got.view(np.uint64) == want.view(np.uint64)) | (np.isnan(got) & np.isnan(want))


def _lightgbm_verdict(model, data: bytes, path: str) -> dict:
    """A LightGBM text model that loaded, against the reference's reading of the text."""
    try:
        ref = reference_lightgbm.read(data)
    except reference.Invalid as exc:
        return {"outcome": "finding", "kind": "loaded a file the reference refuses", "detail": str(exc)[:300]}
    except Exception as exc:  # noqa: BLE001
        return {"outcome": "finding", "kind": f"reference bug {type(exc).__name__}",
                "detail": "".join(traceback.format_exception(exc)[-4:])[-1500:]}
    return _lightgbm_compare(model, ref, path)


def _lightgbm_compare(model, ref, path: str) -> dict:
    """A LightGBM forest that loaded (from text or a saved form): raw scores bit-equal (float64) to
    the reference walk, the leaves, the rounds and ranges of rounds, then prediction and the
    saved forms."""
    if (finding := _shape_finding(model, ref)) is not None:
        return finding
    if getattr(model.booster.forest, "average_output", None) != ref.average_output:
        return {"outcome": "finding", "kind": "average_output differs", "detail": ""}
    rows, data_in = lightgbm_inputs(ref)
    try:
        got = np.asarray(model.predict(data_in, output_margin=True), dtype=np.float64).reshape(len(rows), -1)
        got_leaves = np.asarray(model.predict_leaf(data_in), dtype=np.float64).reshape(len(rows), -1)
    except BaseException as exc:  # noqa: BLE001
        return _raised(exc)
    want = reference_lightgbm.margins(ref, rows)
    if got.shape != want.shape:
        return {"outcome": "finding", "kind": "predictions differ", "detail": f"shape {got.shape} vs {want.shape}"}
    same = _same64(got, want)
    if (finding := _differ(got, want, same)) is not None:
        return finding
    if not np.array_equal(got_leaves, reference_lightgbm.leaves(ref, rows)):
        return {"outcome": "finding", "kind": "leaves differ", "detail": ""}
    indptr = ref.indptr
    if list(model.booster.iteration_indptr) != indptr:
        return {"outcome": "finding", "kind": "rounds differ", "detail": f"{list(model.booster.iteration_indptr)[:8]}"}
    rounds = len(indptr) - 1
    for a, b in ((0, 1), (1, rounds)) if rounds >= 2 else ():
        got = np.asarray(model.predict(data_in, iteration_range=(a, b), output_margin=True),
                         dtype=np.float64).reshape(len(rows), -1)
        if not _same64(got, reference_lightgbm.margins(ref, rows, (a, b))).all():
            return {"outcome": "finding", "kind": "iteration_range margins differ", "detail": f"({a}, {b})"}
    margin = np.asarray(model.predict(data_in, output_margin=True), dtype=np.float64)
    return _afterwards(model, data_in, margin, path) or {"outcome": "exact"}


def _catboost_compare(model, ref, path: str) -> dict:
    """A CatBoost model saved in gbinfer's schema that loaded: raw values bit-equal (float64) to
    the reference's, the leaves, then prediction and the saved forms."""
    if (finding := _shape_finding(model, ref)) is not None:
        return finding
    rows, data_in = reference_cbschema.inputs(ref, np.random.default_rng(2024))
    try:
        got = np.asarray(model.predict(data_in, output_margin=True), dtype=np.float64).reshape(len(rows), -1)
        got_leaves = np.asarray(model.predict_leaf(data_in)).reshape(len(rows), -1)
    except BaseException as exc:  # noqa: BLE001
        return _raised(exc)
    object_rows = data_in.dtype == object
    want = reference_cbschema.margins(ref, rows, object_rows)
    same = _same64(got, want)
    if (finding := _differ(got, want, same)) is not None:
        return finding
    if not np.array_equal(got_leaves, reference_cbschema.leaves(ref, rows, object_rows)):
        return {"outcome": "finding", "kind": "leaves differ", "detail": ""}
    return _afterwards(model, data_in, got, path) or {"outcome": "exact"}


def _same_walks(model, ref, rows, data_in) -> dict | None:
    """The leaves reached (as the source numbers them) and the margins of the first and the later
    boosting rounds, where the file states its rounds, against the reference."""
    if ref.linear is not None:
        return None
    try:
        got = np.asarray(model.predict_leaf(data_in), dtype=np.float32).reshape(len(rows), -1)
    except BaseException as exc:  # noqa: BLE001
        return {"outcome": "finding", "kind": f"predict_leaf raised {type(exc).__name__}",
                "detail": "".join(traceback.format_exception(exc)[-6:])[-1500:]}
    want = reference.leaves(ref, rows)
    if got.shape != want.shape or not np.array_equal(got, want):
        return {"outcome": "finding", "kind": "leaves differ", "detail": f"gbinfer {got.shape}, reference {want.shape}"}
    indptr = ref.indptr
    if indptr is None or len(indptr) < 3:
        return None
    if list(model.booster.iteration_indptr) != indptr:
        return {"outcome": "finding", "kind": "rounds differ", "detail": f"{list(model.booster.iteration_indptr)[:8]} "
                                                                         f"vs {indptr[:8]}"}
    for begin, end in ((0, 1), (1, len(indptr) - 1)):
        got = np.asarray(model.predict(data_in, iteration_range=(begin, end), output_margin=True), dtype=np.float32)
        want = reference.margins(ref, rows, (indptr[begin], indptr[end]))
        got = got.reshape(want.shape)
        if not ((got.view(np.uint32) == want.view(np.uint32)) | (np.isnan(got) & np.isnan(want))).all():
            return {"outcome": "finding", "kind": "iteration_range margins differ", "detail": f"({begin}, {end})"}
    return None


def _afterwards(model, data_in, margin, path) -> dict | None:
    """A model that loaded must also predict its outputs and leaves, and survive a save in both of
    gbinfer's formats with the same margins: a load that lets through what these trip on is a
    defect of the loader too."""
    step = "predict"
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model.predict(data_in)
            if hasattr(model.booster, "forest"):
                step = "predict_leaf"
                model.predict_leaf(data_in)
                if model.booster.num_iterations >= 1:
                    step = "iteration_range"
                    model.predict(data_in, iteration_range=(0, 1), output_margin=True)
            for suffix in (".json", ".xgbrs"):
                step = f"save {suffix}"
                copy = Path(path).with_name("roundtrip" + suffix)
                gbinfer.save(model, copy)
                step = f"reload {suffix}"
                again = gbinfer.load(copy).predict(data_in, output_margin=True)
                again = np.asarray(again, dtype=margin.dtype).reshape(margin.shape)
                if not np.array_equal(again, margin, equal_nan=True):
                    return {"outcome": "finding", "kind": f"round trip through {suffix} changes predictions",
                            "detail": ""}
    except BaseException as exc:  # noqa: BLE001 - a typed error here is a finding as well: the load let it through
        return {"outcome": "finding", "kind": f"{step} raised {type(exc).__name__}",
                "detail": "".join(traceback.format_exception(exc)[-6:])[-1500:]}
    return None


def main():
    for line in sys.stdin:
        path = line.strip()
        if not path:
            continue
        try:
            out = verdict(path)
        except MemoryError:
            out = {"outcome": "finding", "kind": "raw MemoryError", "detail": "outside the loader's own handlers"}
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        if peak > PEAK_LIMIT:  # the peak never falls: report it once, and let a fresh worker go on
            out = {"outcome": "finding", "kind": "huge allocation",
                   "detail": f"the process reached {peak >> 20} MiB resident ({out['outcome']})", "restart": True}
        sys.stdout.write(json.dumps(out) + "\n")
        sys.stdout.flush()
        if out.get("restart"):
            return


if __name__ == "__main__":
    main()
