"""CSV in and out.

Read: every cell must be a number or a missing marker (empty, NA, N/A, NaN, null); anything else
is refused with its line and column, never turned into a missing value. The header rule is in
``read``. Rows are parsed and handed on in chunks, so memory stays bounded by the chunk size.
"""

from __future__ import annotations

import csv
import io
import os

import numpy as np

from ..errors import DataError
from .columns import MISSING_CELLS, columns_frame, is_number, match

_NAN = float("nan")


def read(path: str, features, kinds: list, header: bool | None, chunk_rows: int, dtype=np.float32):
    """Yield ``(rows, bytes read, file size)``: rows a ``dtype`` array in the model's feature order,
    or ``{name: column}`` when some hold category values (``kinds``, ``columns.category_kinds``).

    ``header`` None means: a header row when the model has feature names (its columns are then
    matched to them by name), none when it has not (columns by position).
    """
    num_features = len(kinds)
    guessed = header is None
    if guessed:
        header = features.names is not None
    try:
        size = os.path.getsize(path)
        fh = open(path, encoding="utf-8-sig", newline="")
    except OSError as exc:
        raise DataError(f"{path}: cannot read: {exc.strerror or exc}") from None
    with fh:
        reader = csv.reader(fh)
        try:
            first = _next_row(reader)
            first_line = reader.line_num
            if first is None:
                if header:
                    raise DataError(f"{path} is empty; expected a header row (a file without one takes --no-header)")
                yield np.empty((0, num_features), dtype), size, size
                return
            columns, order = _columns(path, first, first_line, features.names, num_features, header)
            parse = _Parser(path, len(first), columns, order, kinds,
                            first_line if guessed and not header else None, dtype)
            block = [] if header else [parse(first, first_line)]
            for row in reader:
                if not row:
                    continue  # a blank line
                block.append(parse(row, reader.line_num))
                if len(block) >= chunk_rows:
                    yield parse.chunk(block, features.names, num_features), fh.buffer.tell(), size
                    block = []
            yield parse.chunk(block, features.names, num_features), size, size
        except csv.Error as exc:
            raise DataError(f"{path}: line {reader.line_num}: not valid CSV: {exc}") from None
        except UnicodeDecodeError as exc:
            raise DataError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start} of a block)") from None
        except OSError as exc:
            raise DataError(f"{path}: cannot read: {exc.strerror or exc}") from None


def _columns(path, first, first_line, names, num_features, header):
    """(the header's column names or None, file column of each model feature or None for the same order)."""
    if not header:
        if len(first) != num_features:
            raise DataError(f"{path}: line {first_line} has {len(first)} cells but the model expects "
                            f"{num_features} features (read by position: no header)")
        return None, None
    columns = [c.strip() for c in first]
    retry = "if the file has no header, pass --no-header to read its columns by position"
    if names is not None and set(columns) != set(names) and all(is_number(c) or not c for c in columns):
        raise DataError(f"{path}: line {first_line} holds numbers, not a header naming the model's features "
                        f"({', '.join(names[:3])}, ...); {retry}")
    return columns, match(f"{path} (header)", columns, names, num_features, hint=f"; {retry}")


def _next_row(reader):
    for row in reader:
        if row:
            return row
    return None


class _Parser:
    """Turns one CSV row into values, and a block of them into what the model takes."""

    def __init__(self, path, width, columns, order, kinds, first_line, dtype):
        self.path, self.width, self.columns, self.order, self.dtype = path, width, columns, order, dtype
        self.first_line = first_line  # set when no header was declared: a bad cell there may be a header's
        # file column -> "str" / "int" for the columns holding category values
        file_of_feature = order if order is not None else np.arange(width)
        self.categories = {int(file_of_feature[f]): kind for f, kind in enumerate(kinds) if kind}

    def __call__(self, row, line):
        if len(row) != self.width:
            raise DataError(f"{self.path}: line {line} has {len(row)} cells; expected {self.width} "
                            f"({'as the header has' if self.columns else 'as the first line has'})")
        if not self.categories:
            try:
                return [float(c) if c else _NAN for c in row]
            except ValueError:
                pass  # a missing marker or a bad cell: the careful path says which
        return [self._cell(c, line, j) for j, c in enumerate(row)]

    def _cell(self, cell, line, j):
        text = cell.strip()
        kind = self.categories.get(j)
        if text.lower() in MISSING_CELLS:
            if kind == "value":
                name = f" ({self.columns[j]})" if self.columns else ""
                raise DataError(f"{self.path}: line {line}, column {j + 1}{name}: a missing value; CatBoost takes "
                                "none in a categorical feature")
            return None if kind else _NAN
        if kind == "value":
            return cell  # CatBoost hashes the text as it is
        if kind == "str":
            return text
        try:
            return _integer(text) if kind == "int" else float(text)
        except ValueError:
            name = f" ({self.columns[j]})" if self.columns else ""
            what = "an integer category" if kind else "a number"
            hint = "; if this line is a header, pass --header" if line == self.first_line else ""
            raise DataError(f"{self.path}: line {line}, column {j + 1}{name}: {cell!r} is not {what}{hint}") from None

    def chunk(self, block, names, num_features):
        if not self.categories:
            values = np.array(block, dtype=self.dtype).reshape(len(block), self.width)
            return values if self.order is None else np.ascontiguousarray(values[:, self.order])
        cells = np.array(block, dtype=object).reshape(len(block), self.width)
        files = self.order if self.order is not None else range(num_features)
        return columns_frame(names, num_features, [cells[:, j] if j in self.categories else
                                                   cells[:, j].astype(self.dtype) for j in map(int, files)])


def _integer(text: str) -> int:
    """An integer category value; ``3.0`` too, as pandas writes an integer column that has missing values."""
    try:
        return int(text)
    except ValueError:
        value = float(text)
        if not value.is_integer():
            raise
        return int(value)


def write(fh, blocks, columns: list[str] | None = None) -> None:
    """Predictions as CSV text, one row per input row, headed by ``columns`` when given. Values
    with the digits that read back to the same number: ``%.17g`` for float64, ``%.9g`` else
    (float32, and integers, which it prints whole)."""
    for block in blocks:
        header = ""
        if columns is not None:
            line = io.StringIO()
            csv.writer(line, lineterminator="").writerow(columns)  # a name with a comma or quote is quoted
            header, columns = line.getvalue(), None
        np.savetxt(fh, block.reshape(len(block), -1), delimiter=",", header=header, comments="",
                   fmt="%.17g" if block.dtype == np.float64 else "%.9g")
