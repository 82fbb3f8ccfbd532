"""The ``gbinfer`` command: predict from files, and describe a model."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from . import load
from .apr import cli as apr_cli
from .errors import GbinferError
from .model import Linear


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="gbinfer", description="Exact, fast inference for gradient-boosted trees")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("predict", help="predict rows from a .npy, .csv or libsvm file")
    p.add_argument("model")
    p.add_argument("data", help=".npy, .csv (with or without a header row) or libsvm (.libsvm/.svm/.txt)")
    p.add_argument("-o", "--output", help=".npy or .csv; default: CSV on standard output")
    p.add_argument("--margin", action="store_true", help="raw margins instead of transformed outputs")
    p.add_argument("--leaf", action="store_true", help="leaf index per tree instead of predictions")
    p.add_argument("--iteration-range", nargs=2, type=int, metavar=("BEGIN", "END"))
    p.add_argument("--nthread", type=int)
    p.add_argument("--missing", type=float, default=float("nan"), help="value meaning missing (NaN always is)")
    p.add_argument("--one-based", action="store_true", help="libsvm feature indices start at 1")

    w = sub.add_parser("warmup", help="compile the kernels a model needs into Numba's on-disk cache")
    w.add_argument("model", nargs="+")

    i = sub.add_parser("inspect", help="describe a model: source, objective, booster, trees, features")
    i.add_argument("model")

    c = sub.add_parser("convert", help="convert any loadable model to .xgbrs or native .json")
    c.add_argument("src", help="any model gbinfer loads (XGBoost JSON/UBJ/binary, .xgbrs, native JSON)")
    c.add_argument("dst", help="output path; .xgbrs or .json picks the format")
    c.add_argument("--format", choices=("xgbrs", "json"), help="override the format the suffix implies")
    c.add_argument("--name", help="user metadata: a name for the model")
    c.add_argument("--description", help="user metadata: a description")
    apr_cli.add_commands(sub, convert=c, inspect=i)

    args = parser.parse_args(argv)
    try:
        if getattr(args, "apr_command", None):
            return args.apr_command(args)
        if args.command in ("convert", "inspect") and apr_cli.handles(args):
            return apr_cli.convert(args) if args.command == "convert" else apr_cli.inspect(args)
        if args.command == "predict":
            return _predict(args)
        if args.command == "warmup":
            return _warmup(args)
        if args.command == "convert":
            return _convert(args)
        return _inspect(args)
    except GbinferError as exc:
        print(f"gbinfer: error: {exc}", file=sys.stderr)
        return 2


def _predict(args) -> int:
    from .data import DataMatrix

    model = load(args.model)
    X = read_rows(args.data, model.num_features, one_based=args.one_based)
    dm = DataMatrix(X, missing=args.missing)
    if args.leaf:
        out = model.predict_leaf(dm, iteration_range=args.iteration_range, nthread=args.nthread)
    else:
        out = model.predict(dm, output_margin=args.margin, iteration_range=args.iteration_range,
                            nthread=args.nthread)
    write_rows(out, args.output)
    return 0


def read_rows(path: str, num_features: int, *, one_based: bool = False) -> np.ndarray:
    """Rows of a .npy, .csv or libsvm file as float32 with NaN for missing entries."""
    from .errors import DataError

    suffix = Path(path).suffix.lower()
    try:
        if suffix == ".npy":
            return np.load(path, allow_pickle=False)
        if suffix == ".csv":
            return _read_csv(path)
        if suffix in (".libsvm", ".svm", ".txt"):
            return _read_libsvm(path, num_features, one_based)
    except OSError as exc:
        raise DataError(f"{path}: cannot read: {exc.strerror or exc}") from None
    except ValueError as exc:
        raise DataError(f"{path}: {exc}") from None
    raise DataError(f"{path}: unknown data format {suffix!r}; expected .npy, .csv, .libsvm, .svm or .txt")


def _read_csv(path):
    with open(path, encoding="utf-8") as fh:
        first = fh.readline()
    try:
        [float(v) if v.strip() else 0.0 for v in first.split(",")]
        skip = 0
    except ValueError:
        skip = 1  # a header row
    data = np.genfromtxt(path, delimiter=",", skip_header=skip, dtype=np.float32, filling_values=np.nan,
                         missing_values="", ndmin=2)
    return data


def _read_libsvm(path, num_features, one_based):
    rows = []
    with open(path, encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, 1):
            line = line.split("#", 1)[0].strip()
            if not line:
                continue
            row = np.full(num_features, np.nan, dtype=np.float32)
            for item in line.split()[1:]:
                key, _, value = item.partition(":")
                if not _:
                    raise ValueError(f"line {lineno}: expected index:value, got {item!r}")
                idx = int(key) - (1 if one_based else 0)
                if not 0 <= idx < num_features:
                    raise ValueError(f"line {lineno}: feature index {key} is outside the model's "
                                     f"{num_features} features")
                row[idx] = float(value)
            rows.append(row)
    return np.vstack(rows) if rows else np.empty((0, num_features), np.float32)


def write_rows(out: np.ndarray, path: str | None) -> None:
    if path and path.lower().endswith(".npy"):
        np.save(path, out)
        return
    fmt = "%.9g"
    if path:
        np.savetxt(path, out.reshape(len(out), -1), delimiter=",", fmt=fmt)
    else:
        np.savetxt(sys.stdout, out.reshape(len(out), -1), delimiter=",", fmt=fmt)


def describe(model, archive: dict | None = None) -> list[str]:
    """Human-readable lines describing ``model`` (and, for .xgbrs / native JSON, the file's ``archive`` info)."""
    meta = model.meta
    lines = []
    if archive:
        prov = archive.get("provenance") or {}
        fmt = archive["container"] + (f" {archive['format_version']}" if "format_version" in archive else "")
        lines += [
            f"container:   {fmt}, schema {archive['schema_version']}, {archive['file_size']} bytes, "
            f"{archive['arrays']} arrays",
            f"written by:  {prov.get('writer', '?')}",
        ]
    lines += [
        f"source:      {meta.source_library} {'.'.join(map(str, meta.source_version))}",
        f"objective:   {model.objective.name} (output transform {model.objective.transform.name.lower()})",
        f"features:    {meta.num_features}",
        f"outputs:     {meta.num_outputs}",
        f"base margin: {', '.join(f'{v:.9g}' for v in meta.base_score[:8])}{' ...' if meta.num_outputs > 8 else ''}",
    ]
    booster = model.booster
    if isinstance(booster, Linear):
        lines.append("booster:     gblinear")
    else:
        forest = booster.forest
        kind = type(booster).__name__.lower()
        depths = forest.tree_depth
        leaves = int((forest.left_child < 0).sum())
        lines += [
            f"booster:     {'dart' if kind == 'dart' else 'gbtree'}",
            f"trees:       {forest.num_trees} in {booster.num_iterations} boosting rounds",
            f"nodes:       {forest.num_nodes} ({leaves} leaves)",
            f"depth:       min {depths.min() if len(depths) else 0}, "
            f"mean {depths.mean() if len(depths) else 0:.2f}, max {depths.max() if len(depths) else 0}",
            f"leaf size:   {forest.leaf_size}",
            f"categorical: {int(forest.is_categorical.sum())} set splits",
        ]
    if meta.best_iteration is not None:
        lines.append(f"best iter:   {meta.best_iteration}")
    names = model.features.names
    if names:
        types = model.features.types or ("q",) * len(names)
        shown = ", ".join(f"{n}:{t}" for n, t in list(zip(names, types))[:20])
        lines.append(f"feature names: {shown}{' ...' if len(names) > 20 else ''}")
    user = getattr(meta, "user_metadata", None) or {}
    for key in ("name", "description"):
        if user.get(key):
            lines.append(f"{key + ':':<13}{user[key]}")
    for key in ("hyperparameters", "metrics", "custom"):
        if user.get(key):
            shown = ", ".join(f"{k}={v!r}" for k, v in list(user[key].items())[:20])
            lines.append(f"{key + ':':<13}{shown}{' ...' if len(user[key]) > 20 else ''}")
    return lines


def _warmup(args) -> int:
    import time

    for path in args.model:
        start = time.perf_counter()
        load(path).warmup()
        print(f"{path}: kernels ready in {time.perf_counter() - start:.2f} s")
    return 0


def _inspect(args) -> int:
    from .serialization import archive_info

    model = load(args.model)
    print(f"model:       {args.model}")
    print("\n".join(describe(model, archive_info(args.model))))
    return 0


def _convert(args) -> int:
    from .saver import save

    model = load(args.src)
    metadata = {k: v for k, v in (("name", args.name), ("description", args.description)) if v is not None}
    save(model, args.dst, format=args.format, metadata=metadata)
    print(f"wrote {args.dst}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
