"""The ``gbinfer`` command: predict from files, and describe a model."""

from __future__ import annotations

import argparse
import os
import sys

from . import __version__, load
from .apr import cli as apr_cli
from .errors import GbinferError
from .model import Linear
from .oblivious import Oblivious
from .serve import command as serve_command


def main(argv=None) -> int:
    """Run one command; 0 on success, else 2 with one line ``gbinfer: error: ...`` on standard error
    (argparse's own code and form for a usage mistake), never a traceback."""
    parser = argparse.ArgumentParser(prog="gbinfer", description="Exact, fast inference for gradient-boosted trees")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("predict", help="predict rows from a .csv, .parquet, .arrow/.feather, .npy or libsvm file")
    p.add_argument("model")
    p.add_argument("data", help=".csv, .parquet, .arrow/.feather (columns matched to the model's feature names), "
                                ".npy or libsvm (.libsvm/.svm/.txt)")
    p.add_argument("-o", "--output", help=".csv, .npy, .parquet or .arrow/.feather; default: CSV on standard output")
    what = p.add_mutually_exclusive_group()
    what.add_argument("--margin", action="store_true", help="raw margins instead of transformed outputs")
    what.add_argument("--leaf", action="store_true", help="leaf index per tree instead of predictions")
    header = p.add_mutually_exclusive_group()
    header.add_argument("--header", dest="header", action="store_const", const=True,
                        help="the CSV's first line names its columns (the default when the model has feature names)")
    header.add_argument("--no-header", dest="header", action="store_const", const=False,
                        help="the CSV has no header: read its columns by position (the default when the model has "
                             "no feature names)")
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
    serve_command.add_command(sub)

    args = parser.parse_args(argv)
    try:
        code = _run(args)
        sys.stdout.flush()  # here, not at exit, so that a closed pipe is reported like any error
        return code
    except GbinferError as exc:
        return _fail(str(exc))
    except BrokenPipeError:
        _quiet_stdout()
        return _fail("standard output was closed before all output was written (broken pipe)")
    except OSError as exc:  # an output or file the operating system refused: say which, without a traceback
        return _fail(f"{exc.filename}: {exc.strerror}" if exc.filename and exc.strerror else str(exc))


def _run(args) -> int:
    if getattr(args, "apr_command", None):
        return args.apr_command(args)
    if args.command in ("convert", "inspect") and apr_cli.handles(args):
        return apr_cli.convert(args) if args.command == "convert" else apr_cli.inspect(args)
    if args.command == "predict":
        return _predict(args)
    if args.command == "warmup":
        return _warmup(args)
    if args.command == "serve":
        return serve_command.run(args)
    if args.command == "convert":
        return _convert(args)
    return _inspect(args)


def _fail(message: str) -> int:
    """Every error ends the same way: one line on standard error, exit code 2 (as argparse's own)."""
    message = " ".join(line.strip() for line in str(message).splitlines() if line.strip())  # one line, always
    try:
        print(f"gbinfer: error: {message}", file=sys.stderr)
    except OSError:
        pass  # standard error is gone too: the exit code still tells
    return 2


def _quiet_stdout() -> None:
    """Point standard output at /dev/null so the interpreter's flush at exit does not fail again
    on the closed pipe (and print a second, unhelpful message)."""
    try:
        fd = sys.stdout.fileno()
    except (AttributeError, OSError, ValueError):
        return  # not a real file (a test's capture): nothing will be flushed to a pipe
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, fd)
    os.close(devnull)


def _predict(args) -> int:
    from . import tabular
    from .data import DataMatrix
    from .tabular.progress import track

    tabular.check_output(args.output)
    model = load(args.model)
    chunks = track(tabular.read(args.data, model, header=args.header, one_based=args.one_based),
                   f"gbinfer: {args.data}")

    def predictions():
        for rows in chunks:
            dm = DataMatrix(rows, missing=args.missing)
            if args.leaf:
                yield model.predict_leaf(dm, iteration_range=args.iteration_range, nthread=args.nthread)
            else:
                yield model.predict(dm, output_margin=args.margin, iteration_range=args.iteration_range,
                                    nthread=args.nthread)

    tabular.write(predictions(), args.output, "leaf" if args.leaf else "margin" if args.margin else "prediction")
    return 0


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
    elif isinstance(booster, Oblivious):
        sizes = booster.tree_offsets[1:] - booster.tree_offsets[:-1]
        if booster.symmetric:
            lines += ["booster:     oblivious (symmetric trees)", f"trees:       {booster.num_trees}",
                      f"depth:       min {sizes.min() if len(sizes) else 0}, max {sizes.max() if len(sizes) else 0}"]
        else:
            leaves = (booster.leaf_offsets[1:] - booster.leaf_offsets[:-1]) // booster.num_outputs
            lines += ["booster:     non-symmetric trees (Depthwise / Lossguide)", f"trees:       {booster.num_trees}",
                      f"nodes:       {int(sizes.sum())} ({int(leaves.sum())} leaves)"]
        lines += [f"one-hot:     {len(booster.cat_column)} categorical features",
                  f"CTRs:        {len(booster.ctrs)}"]
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
