"""Parquet and Arrow IPC (Feather v2) in and out, through pyarrow (the ``arrow`` extra).

Read one record batch at a time (Parquet: up to one row group decoded; IPC: one batch, sliced to
the chunk size), so memory is bounded by the file's batches, not by the file. Columns are matched
to the model's features by name (``columns.match``); their Arrow types decide how they are read:
numbers and booleans as numbers (null = missing), text or integers as category values only for a
model that stores its categories, and for a CatBoost model's categorical features (``columns.category_kinds``).
"""

from __future__ import annotations

import numpy as np

from ..errors import DataError, MissingDependency
from .columns import columns_frame, match


def pyarrow():
    try:
        import pyarrow
    except ImportError:
        raise MissingDependency("pyarrow", "arrow", "reading and writing Parquet and Arrow files") from None
    return pyarrow


def read_parquet(path: str, features, kinds: list, chunk_rows: int, dtype=np.float32):
    """Yield ``(rows, rows read, total rows)``; rows as ``csvfile.read`` gives them."""
    pa = pyarrow()
    import pyarrow.parquet as pq

    try:
        pf = pq.ParquetFile(path, pre_buffer=False)  # pre-buffered reads kept every row group read so far
        convert = _Converter(path, pf.schema_arrow, features, kinds, dtype)
        total, done = pf.metadata.num_rows, 0
        for batch in pf.iter_batches(batch_size=chunk_rows):
            done += batch.num_rows
            yield convert(batch), done, total
        if total == 0:
            yield convert(pa.RecordBatch.from_pylist([], schema=pf.schema_arrow)), 0, 0
    except (OSError, pa.ArrowException) as exc:
        raise DataError(f"{path}: cannot read as Parquet: {exc}") from None


def read_ipc(path: str, features, kinds: list, chunk_rows: int, dtype=np.float32):
    """Yield ``(rows, batches read, total batches)`` of an Arrow IPC file (Feather v2 is one)."""
    pa = pyarrow()
    try:
        with pa.OSFile(path) as source:  # read batch by batch (a map's touched pages would count as memory)
            reader = pa.ipc.open_file(source)
            convert = _Converter(path, reader.schema, features, kinds, dtype)
            total = reader.num_record_batches
            if total == 0:
                yield convert(pa.RecordBatch.from_pylist([], schema=reader.schema)), 0, 0
            for i in range(total):
                batch = reader.get_batch(i)
                for start in range(0, max(batch.num_rows, 1), chunk_rows):
                    yield convert(batch.slice(start, chunk_rows)), i + 1, total
    except (OSError, pa.ArrowException) as exc:
        raise DataError(f"{path}: cannot read as an Arrow IPC (Feather v2) file: {exc}") from None


class _Converter:
    """Checks a schema against the model once; then turns each batch into the model's columns."""

    def __init__(self, path, schema, features, kinds, dtype):
        pa = pyarrow()
        self.names, self.dtype = features.names, np.dtype(dtype)
        self.num_features = num_features = len(kinds)
        # a DataFrame's index, stored by pandas as a column, is not data (XGBoost never sees it either)
        index = {c for c in (schema.pandas_metadata or {}).get("index_columns", ()) if isinstance(c, str)}
        data = [j for j, name in enumerate(schema.names) if name not in index]
        order = match(path, [schema.names[j] for j in data], features.names, num_features)
        self.columns = data if order is None else [data[int(k)] for k in order]
        self.kinds = kinds
        categorical = features.categorical_mask(num_features)
        for f, j in enumerate(self.columns):
            field = schema.field(j)
            t = field.type.value_type if pa.types.is_dictionary(field.type) else field.type
            textual = pa.types.is_string(t) or pa.types.is_large_string(t)
            kind = self.kinds[f]
            if (kind in ("str", "value") and textual) or (kind in ("int", "value") and pa.types.is_integer(t)):
                continue  # category values, looked up (or hashed) by the model
            if kind is None and not pa.types.is_dictionary(field.type) and (
                    pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_boolean(t)
                    or pa.types.is_decimal(t) or pa.types.is_null(t)):
                continue
            if kind:
                expected = {"str": "strings", "int": "integers", "value": "strings or integers"}[kind]
                why = (f"; the model's categories for this feature are {expected}" if kind != "value" else
                       "; CatBoost takes a categorical feature's values as text")
            elif textual and f < len(categorical) and categorical[f]:
                expected, why = "numbers", "; the model stores no category names, so it takes numeric category codes"
            elif pa.types.is_dictionary(field.type):
                expected, why = "numbers", "; a category column's codes or values would be a guess: give plain numbers"
            else:
                expected, why = "numbers", ""
            raise DataError(f"{path}: column {field.name!r} holds {field.type}; expected {expected}{why}")

    def __call__(self, batch):
        import pyarrow.compute as pc

        pa = pyarrow()
        cols = []
        for j, kind in zip(self.columns, self.kinds):
            col = batch.column(j)
            if kind:
                if pa.types.is_dictionary(col.type):
                    col = col.dictionary_decode()
                cols.append(np.array(col.to_pylist(), dtype=object))  # str or int values, None when missing
            else:
                # straight to the dtype, rounding to nearest as numpy's astype (and so XGBoost's input) does
                target = pa.float64() if self.dtype == np.float64 else pa.float32()
                cols.append(pc.cast(col, target, safe=False).to_numpy(zero_copy_only=False))
        if any(self.kinds):
            return columns_frame(self.names, self.num_features, cols)
        return (np.column_stack(cols).astype(self.dtype, copy=False) if cols
                else np.empty((batch.num_rows, 0), self.dtype))


def _table(block: np.ndarray, name: str, columns: list[str] | None):
    pa = pyarrow()
    if columns is not None:
        block = block.reshape(len(block), -1)
    elif block.ndim == 1:
        return pa.table({name: block})
    else:
        columns = [f"{name}_{j}" for j in range(block.shape[1])]
    return pa.table({c: np.ascontiguousarray(block[:, j]) for j, c in enumerate(columns)})


def write_parquet(fh, blocks, name: str, columns: list[str] | None = None) -> None:
    """Predictions as a Parquet file: one column ``name``, or ``name_0``, ``name_1``, ... for 2-D
    output; or one column per value of a row, named by ``columns``."""
    pyarrow()
    import pyarrow.parquet as pq

    writer = None
    for block in blocks:
        table = _table(block, name, columns)
        if writer is None:
            writer = pq.ParquetWriter(fh, table.schema)
        writer.write_table(table)
    writer.close()


def write_ipc(fh, blocks, name: str, columns: list[str] | None = None) -> None:
    """Predictions as an Arrow IPC file (Feather v2), columns named as ``write_parquet`` names them."""
    pa = pyarrow()
    writer = None
    for block in blocks:
        table = _table(block, name, columns)
        if writer is None:
            writer = pa.ipc.new_file(fh, table.schema)
        writer.write_table(table)
    writer.close()
