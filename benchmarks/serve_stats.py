"""Pure helpers of the serving benchmark: the open-loop send schedule, latency percentiles, and the
summaries that ``bench_serve.py`` prints. Kept free of I/O so that they can be unit-tested quickly.

Open-loop means the send times are fixed before the run and do not wait for answers: a slow server
then meets a queue, as it would with independent users, instead of slowing the client down
(closed-loop clients hide latency that way, "coordinated omission"). Latency is therefore measured
from each request's *scheduled* send time, so a client that falls behind its schedule is charged to
the measurement, not hidden.
"""

from __future__ import annotations

import math

import numpy as np


def send_offsets(rate: float, duration: float, arrivals: str = "poisson", seed: int = 0) -> np.ndarray:
    """Send times in seconds from the start, sorted, all in ``[0, duration)``.

    ``uniform``: one request every ``1/rate`` seconds. ``poisson``: exponential gaps of mean
    ``1/rate`` (independent users), drawn from a seeded generator so that every server sees the
    same schedule.
    """
    if rate <= 0 or duration <= 0:
        raise ValueError(f"rate and duration must be positive, got rate={rate}, duration={duration}")
    if arrivals == "uniform":
        return np.arange(math.ceil(rate * duration - 1e-9), dtype=np.float64) / rate
    if arrivals == "poisson":
        rng = np.random.default_rng(seed)
        chunk = int(rate * duration + 10 * math.sqrt(rate * duration) + 10)
        times = np.cumsum(rng.exponential(1.0 / rate, chunk))
        while times[-1] < duration:  # practically never: extend rather than cut the phase short
            times = np.concatenate((times, times[-1] + np.cumsum(rng.exponential(1.0 / rate, chunk))))
        return times[times < duration]
    raise ValueError(f"arrivals must be 'uniform' or 'poisson', got {arrivals!r}")


def split_schedule(offsets: np.ndarray, parts: int) -> list[np.ndarray]:
    """Deal a schedule round-robin to ``parts`` client processes; together they send exactly it."""
    if parts < 1:
        raise ValueError(f"parts must be at least 1, got {parts}")
    return [offsets[i::parts] for i in range(parts)]


def percentile(values, q: float) -> float:
    """The q-th percentile (0..100) by linear interpolation between order statistics, numpy's default.

    NaN for an empty sample, so that a phase where nothing succeeded shows as such in the table.
    """
    values = np.asarray(values, dtype=np.float64)
    if values.size == 0:
        return math.nan
    if not 0 <= q <= 100:
        raise ValueError(f"q must be within [0, 100], got {q}")
    ordered = np.sort(values)
    pos = (ordered.size - 1) * q / 100.0
    lo = math.floor(pos)
    hi = min(lo + 1, ordered.size - 1)
    return float(ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo))


def open_loop_summary(latencies: np.ndarray, lags: np.ndarray, sent: int, errors: int,
                      duration: float, client_cpu: float) -> dict:
    """One open-loop phase: latency percentiles in ms (from scheduled send time), the rate of
    answers achieved, errors (failed or unanswered requests), the client's lag behind its schedule
    and the client's CPU use as a fraction of one core."""
    return {
        "sent": int(sent),
        "ok": int(latencies.size),
        "errors": int(errors),
        "achieved_rps": latencies.size / duration,
        "p50_ms": percentile(latencies, 50) * 1e3,
        "p99_ms": percentile(latencies, 99) * 1e3,
        "max_ms": (float(latencies.max()) * 1e3) if latencies.size else math.nan,
        "lag_p99_ms": percentile(lags, 99) * 1e3,
        "client_cpu": client_cpu / duration,
    }


def closed_loop_summary(latencies: np.ndarray, errors: int, duration: float, client_cpu: float) -> dict:
    """One closed-loop (saturation) phase: completed requests per second and their latency."""
    return {
        "ok": int(latencies.size),
        "errors": int(errors),
        "throughput_rps": latencies.size / duration,
        "p50_ms": percentile(latencies, 50) * 1e3,
        "p99_ms": percentile(latencies, 99) * 1e3,
        "client_cpu": client_cpu / duration,
    }


def median_of(rows: list[dict], key: str) -> float:
    """Median of one field over repeats, ignoring repeats where it is NaN (nothing succeeded)."""
    values = [r[key] for r in rows if not math.isnan(r[key])]
    return float(np.median(values)) if values else math.nan


def ratio(ours: float, theirs: float) -> float:
    """ours / theirs, NaN when either is missing or theirs is zero."""
    if math.isnan(ours) or math.isnan(theirs) or theirs == 0:
        return math.nan
    return ours / theirs
