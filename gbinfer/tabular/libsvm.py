"""libsvm / SVMlight text in: ``label index:value ...`` per line; an index not given is missing
(XGBoost) or 0 (LightGBM), as the model's library reads the file."""

from __future__ import annotations

import os

import numpy as np

from ..errors import DataError


def read(path: str, num_features: int, one_based: bool, chunk_rows: int, dtype=np.float32, absent=np.nan):
    """Yield ``(rows, bytes read, file size)``: ``dtype`` rows, ``absent`` where a line names no value."""
    shift = 1 if one_based else 0
    try:
        size = os.path.getsize(path)
        fh = open(path, "rb")
    except OSError as exc:
        raise DataError(f"{path}: cannot read: {exc.strerror or exc}") from None
    with fh:
        block = []
        for lineno, raw in enumerate(fh, 1):
            line = raw.split(b"#", 1)[0].strip()
            if not line:
                continue
            row = np.full(num_features, absent, dtype=dtype)
            for item in line.split()[1:]:
                key, colon, value = item.partition(b":")
                try:
                    if not colon:
                        raise ValueError
                    idx, number = int(key) - shift, float(value)
                except ValueError:
                    raise DataError(f"{path}: line {lineno}: expected index:value with an integer index and a "
                                    f"number, got {item.decode(errors='replace')!r}") from None
                if not 0 <= idx < num_features:
                    hint = ("; with --one-based, indices start at 1" if shift else
                            "; if the file numbers features from 1, pass --one-based" if idx == num_features else "")
                    raise DataError(f"{path}: line {lineno}: feature index {int(key)} is outside the model's "
                                    f"{num_features} features{hint}")
                row[idx] = number
            block.append(row)
            if len(block) >= chunk_rows:
                yield np.vstack(block), fh.tell(), size
                block = []
        yield (np.vstack(block) if block else np.empty((0, num_features), dtype)), size, size
