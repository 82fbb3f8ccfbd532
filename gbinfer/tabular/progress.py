"""A progress line on standard error while a long input is read.

Written by hand rather than with tqdm: one line of text is all it needs, and a dependency
for it would be one more thing for every user to install.
"""

from __future__ import annotations

import sys
import time

SHOW_AFTER = 1.0  # seconds: a short run never draws it
EVERY = 0.25


def track(chunks, label: str, stream=None):
    """Yield each chunk of ``(chunk, done, total)``; on a terminal, show ``done / total`` as a percentage.

    Off when the stream is not a terminal (a log file or a pipe gets no carriage returns).
    """
    stream = stream or sys.stderr
    show = stream.isatty()
    start = last = time.monotonic()
    drawn = False
    rows = 0
    for chunk, done, total in chunks:
        yield chunk
        rows += len(chunk)
        now = time.monotonic()
        if show and now - start >= SHOW_AFTER and now - last >= EVERY:
            percent = 100.0 * done / total if total else 100.0
            stream.write(f"\r{label}: {percent:5.1f}%, {rows:,} rows")
            stream.flush()
            drawn, last = True, now
    if drawn:
        stream.write("\r\033[K")
        stream.flush()
