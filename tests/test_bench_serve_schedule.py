"""The serving benchmark's pure helpers: its open-loop send schedule, percentiles and summaries
(benchmarks/serve_stats.py). Percentiles are checked against numpy's, which they must equal."""

import math
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))

from serve_stats import (closed_loop_summary, median_of, open_loop_summary, percentile, ratio,  # noqa: E402
                         send_offsets, split_schedule)


def test_uniform_schedule_is_evenly_spaced_and_inside_the_phase():
    offsets = send_offsets(1000, 0.3, "uniform")
    assert offsets.size == 300
    assert offsets[0] == 0.0 and offsets[-1] < 0.3
    np.testing.assert_allclose(np.diff(offsets), 1e-3, rtol=1e-9)


@pytest.mark.parametrize("rate,duration", [(200, 30.0), (1000, 10.0)])
def test_poisson_schedule_has_the_rate_and_exponential_gaps(rate, duration):
    offsets = send_offsets(rate, duration, "poisson", seed=3)
    n = rate * duration
    assert abs(offsets.size - n) < 5 * math.sqrt(n)  # Poisson count: sd = sqrt(n)
    assert np.all(np.diff(offsets) >= 0) and offsets[0] >= 0 and offsets[-1] < duration
    gaps = np.diff(offsets)
    assert abs(gaps.mean() * rate - 1) < 0.05
    assert abs(gaps.std() / gaps.mean() - 1) < 0.05  # exponential: sd equals the mean
    # Deterministic per seed, so every server meets the same schedule; another seed differs.
    np.testing.assert_array_equal(offsets, send_offsets(rate, duration, "poisson", seed=3))
    assert not np.array_equal(offsets[:50], send_offsets(rate, duration, "poisson", seed=4)[:50])


def test_schedule_refuses_nonsense():
    with pytest.raises(ValueError, match="positive"):
        send_offsets(0, 1.0)
    with pytest.raises(ValueError, match="arrivals"):
        send_offsets(10, 1.0, "bursty")


def test_split_schedule_deals_every_send_time_once():
    offsets = send_offsets(500, 2.0, "poisson", seed=1)
    parts = split_schedule(offsets, 3)
    assert sum(p.size for p in parts) == offsets.size
    np.testing.assert_array_equal(np.sort(np.concatenate(parts)), offsets)
    assert all(np.all(np.diff(p) >= 0) for p in parts)
    with pytest.raises(ValueError):
        split_schedule(offsets, 0)


@pytest.mark.parametrize("q", [0, 1, 50, 90, 99, 99.9, 100])
@pytest.mark.parametrize("n", [1, 2, 7, 1000])
def test_percentile_equals_numpy(q, n):
    values = np.random.default_rng(n).lognormal(size=n)
    assert percentile(values, q) == pytest.approx(float(np.percentile(values, q)), rel=1e-12)


def test_percentile_of_nothing_is_nan_and_q_is_checked():
    assert math.isnan(percentile([], 99))
    with pytest.raises(ValueError):
        percentile([1.0], 101)


def test_open_loop_summary_in_milliseconds_and_per_second():
    lat = np.random.default_rng(0).exponential(0.002, size=2000)
    lags = np.full(2000, 0.0001)
    s = open_loop_summary(lat, lags, sent=2010, errors=10, duration=4.0, client_cpu=1.0)
    assert s["ok"] == 2000 and s["errors"] == 10 and s["sent"] == 2010
    assert s["achieved_rps"] == 500.0
    assert s["p50_ms"] == pytest.approx(np.percentile(lat, 50) * 1e3)
    assert s["p99_ms"] == pytest.approx(np.percentile(lat, 99) * 1e3)
    assert s["max_ms"] == pytest.approx(lat.max() * 1e3)
    assert s["lag_p99_ms"] == pytest.approx(0.1)
    assert s["client_cpu"] == 0.25


def test_closed_loop_summary_and_a_phase_where_nothing_answered():
    s = closed_loop_summary(np.full(300, 0.01), errors=0, duration=2.0, client_cpu=0.5)
    assert s["throughput_rps"] == 150.0 and s["p99_ms"] == pytest.approx(10.0)
    empty = closed_loop_summary(np.array([]), errors=40, duration=2.0, client_cpu=0.1)
    assert empty["throughput_rps"] == 0.0 and math.isnan(empty["p50_ms"])


def test_median_over_repeats_skips_missing_and_ratio_guards():
    rows = [{"x": 3.0}, {"x": math.nan}, {"x": 1.0}, {"x": 2.0}]
    assert median_of(rows, "x") == 2.0
    assert math.isnan(median_of([{"x": math.nan}], "x"))
    assert ratio(10.0, 2.0) == 5.0
    assert math.isnan(ratio(1.0, 0.0)) and math.isnan(ratio(math.nan, 1.0))
