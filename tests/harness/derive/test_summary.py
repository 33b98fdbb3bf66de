"""Summaries, timeseries and histograms derived from samples with known properties."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from harness.derive.percentiles import histogram_of
from harness.derive.summary import series_stats, summarize_run
from tests.harness.derive.samples import make_samples


def test_percentiles_match_known_distribution_within_hdr_precision() -> None:
    # 90% at 20 ms, 10% at 200 ms: p50 = 20, p95 = p99 = 200.
    lat = [20.0] * 900 + [200.0] * 100
    summary = summarize_run("r", make_samples(lat), window_start=1000.0, duration_s=10.0)
    pct = summary.overall.latency_ms
    assert pct.p50 == pytest.approx(20.0, rel=0.002)
    assert pct.p95 == pytest.approx(200.0, rel=0.002)
    assert pct.p99 == pytest.approx(200.0, rel=0.002)
    assert summary.overall.count == 1000
    assert summary.overall.rate == pytest.approx(100.0)


def test_dropped_sends_are_not_requests_and_errors_are_counted_by_kind() -> None:
    frame = make_samples([10.0] * 10, error=["HTTP 503", "HTTP 503", "Timeout"] + [None] * 7)
    dropped = frame.iloc[:2].copy()
    dropped["error"] = "dropped"
    dropped["latency_ms"] = np.nan
    summary = summarize_run("r", pd.concat([frame, dropped]), window_start=1000.0, duration_s=1.0)
    op = summary.operations["op"]
    assert op.count == 10
    assert op.dropped == 2
    assert op.errors == 3
    assert op.error_rate == pytest.approx(0.3)
    assert op.errors_by_kind == {"HTTP 503": 2, "Timeout": 1}


def test_late_sends_are_derived_from_intended_versus_actual_start() -> None:
    frame = make_samples([5.0] * 4)
    frame.loc[0, "start"] = frame.loc[0, "intended_start"] + 0.5
    assert summarize_run("r", frame, window_start=1000.0, duration_s=1.0).overall.late == 1


def test_series_stats_slope_and_fit() -> None:
    ts = np.arange(0, 3600, 10, dtype=float)
    stats = series_stats(ts, 100.0 + ts / 3600.0 * 50.0)
    assert stats is not None
    assert stats.slope_per_h == pytest.approx(50.0, rel=1e-6)
    assert stats.r2 == pytest.approx(1.0)
    assert series_stats(ts, np.full(ts.shape, np.nan)) is None


def test_mean_is_exact_and_agrees_with_the_histogram() -> None:
    lat = [1.0, 2.0, 3.0, 10.0]
    pct = summarize_run("r", make_samples(lat), window_start=1000.0, duration_s=1.0).overall.latency_ms
    assert pct.mean == pytest.approx(4.0)
    assert histogram_of(np.array(lat)).get_mean_value() / 1000.0 == pytest.approx(4.0, rel=0.002)


def test_summary_percentiles_are_the_histograms_values() -> None:
    lat = np.random.default_rng(5).lognormal(3.0, 1.2, 2000).tolist()
    pct = summarize_run("r", make_samples(lat), window_start=1000.0, duration_s=20.0).overall.latency_ms
    hist = histogram_of(lat)
    for field, q in (("p50", 50), ("p90", 90), ("p95", 95), ("p99", 99), ("p99_9", 99.9)):
        assert getattr(pct, field) == hist.get_value_at_percentile(q) / 1000.0
    assert pct.max == hist.get_max_value() / 1000.0
    assert pct.min == hist.get_min_value() / 1000.0
    assert pct.p99_9 is not None and pct.max >= pct.p99_9
