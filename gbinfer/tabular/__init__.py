"""Rows in and predictions out for the ``gbinfer`` command, in chunks so memory stays bounded.

Input by suffix: ``.csv`` (a header naming the model's features, matched by name), ``.parquet``,
``.arrow`` / ``.feather`` (Arrow IPC; both with the ``arrow`` extra), ``.npy`` and libsvm
(``.libsvm`` / ``.svm`` / ``.txt``), the last two by position. Output by suffix: ``.csv``,
``.npy``, ``.parquet``, ``.arrow`` / ``.feather``, written to a temporary file renamed into place
at the end, or CSV on standard output.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from ..errors import DataError, GbinferError

INPUTS = (".csv", ".parquet", ".arrow", ".feather", ".npy", ".libsvm", ".svm", ".txt")
OUTPUTS = (".csv", ".npy", ".parquet", ".arrow", ".feather")
CHUNK_CELLS = 1 << 21  # values per chunk (8 MiB of float32)
MIN_CHUNK_ROWS = 1024


def read(path: str, model, *, header: bool | None = None, one_based: bool = False):
    """Yield ``(rows, done, total)``: rows in the model's feature order for ``model.predict``, with
    ``done / total`` how far through the file they reach. At least one chunk, maybe empty."""
    from . import arrowfile, csvfile, libsvm, npyfile
    from .columns import category_kinds

    suffix = Path(path).suffix.lower()
    if suffix not in INPUTS:
        raise DataError(f"{path}: unknown data format {suffix!r}; expected one of {', '.join(INPUTS)}")
    if header is not None and suffix != ".csv":
        raise DataError(f"--header / --no-header apply to .csv input, not {path}")
    n = model.num_features
    rows = max(MIN_CHUNK_ROWS, CHUNK_CELLS // max(n, 1))
    kinds = category_kinds(model)
    # LightGBM compares in float64 and reads a value absent from a libsvm line as 0; XGBoost (and
    # CatBoost) round to float32 and read it as missing
    lightgbm = model.meta.source_library == "lightgbm"
    dtype = np.float64 if lightgbm else np.float32
    if suffix == ".csv":
        return csvfile.read(path, model.features, kinds, header, rows, dtype)
    if suffix == ".parquet":
        return arrowfile.read_parquet(path, model.features, kinds, rows, dtype)
    if suffix in (".arrow", ".feather"):
        return arrowfile.read_ipc(path, model.features, kinds, rows, dtype)
    if suffix == ".npy":
        return npyfile.read(path, rows)
    return libsvm.read(path, n, one_based, rows, dtype, absent=0.0 if lightgbm else np.nan)


def matrices(path: str, model, *, header: bool | None = None, one_based: bool = False, missing: float = float("nan")):
    """The rows of ``read`` as one ``DataMatrix`` a chunk, with the progress line on a terminal:
    what every command that reads a data file hands to the model."""
    from ..data import DataMatrix
    from .progress import track

    for rows in track(read(path, model, header=header, one_based=one_based), f"gbinfer: {path}"):
        yield DataMatrix(rows, missing=missing)


def check_output(path: str | None) -> None:
    """Refuse an output suffix no writer takes, before any work is done."""
    if path is not None and Path(path).suffix.lower() not in OUTPUTS:
        raise DataError(f"-o {path}: unknown output format {Path(path).suffix!r}; expected one of "
                        f"{', '.join(OUTPUTS)}")


def write(blocks, path: str | None, name: str, columns: list[str] | None = None) -> None:
    """Write the prediction blocks to ``path`` (by its suffix), or as CSV to standard output.

    ``name`` names the output columns of Parquet and Arrow files; ``columns``, when given, names
    each value of a row instead (the blocks' trailing axes flattened in C order), and heads a CSV.
    A file is written to a temporary file beside it and renamed over it at the end, so a failure
    leaves no partial file.
    """
    from . import arrowfile, csvfile, npyfile
    from ..serialization import atomic_write

    if path is None:
        try:
            csvfile.write(sys.stdout, blocks, columns)
            sys.stdout.flush()
        except BrokenPipeError:
            raise  # the reader went away (`| head`): the command says so
        except OSError as exc:
            raise DataError(f"standard output: cannot write: {exc.strerror or exc}") from None
        return
    check_output(path)
    suffix = Path(path).suffix.lower()
    writers = {".csv": lambda fh, b: csvfile.write(fh, b, columns), ".npy": npyfile.write,
               ".parquet": lambda fh, b: arrowfile.write_parquet(fh, b, name, columns),
               ".arrow": lambda fh, b: arrowfile.write_ipc(fh, b, name, columns),
               ".feather": lambda fh, b: arrowfile.write_ipc(fh, b, name, columns)}
    if suffix in (".parquet", ".arrow", ".feather"):
        arrowfile.pyarrow()  # a missing extra is reported before the input is read
    writer = writers[suffix]
    try:
        atomic_write(path, lambda fh: writer(fh, blocks))
    except GbinferError:
        raise  # the input's refusal, or a save error that already names the path
    except OSError as exc:
        raise DataError(f"-o {path}: cannot write: {exc.strerror or exc}") from None
