"""Summaries, timeseries and histograms derived from samples with known properties."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from harness.contract import rundir
from harness.derive.summary import (
    build_histograms,
    build_timeseries,
    decode,
    histogram_of,
    series_stats,
    summarize_run,
)


def _samples(
    latencies: list[float], *, op: str = "op", start: float = 1000.0, error: list[str | None] | None = None
):
    n = len(latencies)
    intended = start + np.arange(n) * 0.01
    return pd.DataFrame(
        {
            "ts": intended + np.asarray(latencies) / 1000.0,
            "operation": [op] * n,
            "intended_start": intended,
            "start": intended,
            "latency_ms": latencies,
            "service_ms": latencies,
            "status": [200] * n,
            "bytes": [100] * n,
            "error": error or [None] * n,
            "worker": [0] * n,
        }
    )


def test_percentiles_match_known_distribution_within_hdr_precision() -> None:
    # 90% at 20 ms, 10% at 200 ms: p50 = 20, p95 = p99 = 200.
    lat = [20.0] * 900 + [200.0] * 100
    summary = summarize_run("r", _samples(lat), window_start=1000.0, duration_s=10.0)
    pct = summary.overall.latency_ms
    assert pct.p50 == pytest.approx(20.0, rel=0.002)
    assert pct.p95 == pytest.approx(200.0, rel=0.002)
    assert pct.p99 == pytest.approx(200.0, rel=0.002)
    assert summary.overall.count == 1000
    assert summary.overall.rate == pytest.approx(100.0)


def test_dropped_sends_are_not_requests_and_errors_are_counted_by_kind() -> None:
    frame = _samples([10.0] * 10, error=["HTTP 503", "HTTP 503", "Timeout"] + [None] * 7)
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
    frame = _samples([5.0] * 4)
    frame.loc[0, "start"] = frame.loc[0, "intended_start"] + 0.5
    assert summarize_run("r", frame, window_start=1000.0, duration_s=1.0).overall.late == 1


def test_timeseries_has_contract_columns_and_missing_monitor_values_are_nan() -> None:
    frame = _samples([10.0] * 300)
    monitor = pd.DataFrame({"ts": [1000.2, 1001.2, 1002.2], "rss_mb": [100.0, 101.0, 102.0]})
    ts = build_timeseries(frame, window_start=1000.0, duration_s=3.0, stages=[(0, 3, 100.0)], monitor=monitor)
    assert list(ts.columns[: len(rundir.TIMESERIES_COLUMNS)]) == list(rundir.TIMESERIES_COLUMNS)
    assert ts["sent"].sum() == 300  # every send started inside the window
    assert ts["rate"].sum() == 299  # the last one completed just after it
    assert ts["rss_mb"].tolist() == [100.0, 101.0, 102.0]
    assert ts["queue_depth"].isna().all()  # never measured: NaN, not 0
    assert (ts["target_rate"] == 100.0).all()


def test_histograms_round_trip_through_encoding() -> None:
    frame = _samples([float(v) for v in range(1, 1001)])
    hist = build_histograms(frame, window_start=1000.0)
    decoded = decode(hist.latency[rundir.OVERALL])
    assert decoded.get_total_count() == 1000
    assert decoded.get_value_at_percentile(50) == pytest.approx(500_000, rel=0.002)
    assert sum(decode(w["latency"]).get_total_count() for w in hist.windows) == 1000


def test_series_stats_slope_and_fit() -> None:
    ts = np.arange(0, 3600, 10, dtype=float)
    stats = series_stats(ts, 100.0 + ts / 3600.0 * 50.0)
    assert stats is not None
    assert stats.slope_per_h == pytest.approx(50.0, rel=1e-6)
    assert stats.r2 == pytest.approx(1.0)
    assert series_stats(ts, np.full(ts.shape, np.nan)) is None


def test_histogram_ignores_nan_and_clamps() -> None:
    hist = histogram_of(np.array([np.nan, 0.0, 5.0]))
    assert hist.get_total_count() == 2


def test_histograms_of_a_run_where_nothing_completed() -> None:
    frame = _samples([10.0, 20.0])
    frame["error"] = "dropped"
    hist = build_histograms(frame, window_start=1000.0)
    assert decode(hist.latency[rundir.OVERALL]).get_total_count() == 0
    assert hist.windows == []


def test_timeseries_csv_keeps_epoch_seconds(tmp_path) -> None:
    from harness.derive.files import write_derived_files

    start = 1_795_980_000.0
    write_derived_files(tmp_path, "r", _samples([5.0] * 250, start=start), window_start=start, duration_s=3.0)
    ts = rundir.load_timeseries(tmp_path)
    assert ts["ts"].tolist() == [start, start + 1, start + 2]


def test_mean_is_exact_and_agrees_with_the_histogram() -> None:
    lat = [1.0, 2.0, 3.0, 10.0]
    pct = summarize_run("r", _samples(lat), window_start=1000.0, duration_s=1.0).overall.latency_ms
    assert pct.mean == pytest.approx(4.0)
    assert histogram_of(np.array(lat)).get_mean_value() / 1000.0 == pytest.approx(4.0, rel=0.002)
