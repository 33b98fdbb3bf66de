"""timeseries.csv: one row per second of the measured window."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from harness.contract import rundir
from harness.derive.percentiles import histogram_of
from harness.derive.timeseries import build_timeseries, stage_targets
from harness.load.schedule import schedule_from
from tests.harness.derive.samples import make_samples


def test_timeseries_has_contract_columns_and_missing_monitor_values_are_nan() -> None:
    frame = make_samples([10.0] * 300)
    monitor = pd.DataFrame({"ts": [1000.2, 1001.2, 1002.2], "rss_mb": [100.0, 101.0, 102.0]})
    ts = build_timeseries(frame, window_start=1000.0, duration_s=3.0, stages=[(0, 3, 100.0)], monitor=monitor)
    assert list(ts.columns[: len(rundir.TIMESERIES_COLUMNS)]) == list(rundir.TIMESERIES_COLUMNS)
    assert ts["sent"].sum() == 300  # every send started inside the window
    assert ts["rate"].sum() == 299  # the last one completed just after it
    assert ts["rss_mb"].tolist() == [100.0, 101.0, 102.0]
    assert ts["queue_depth"].isna().all()  # never measured: NaN, not 0
    assert (ts["target_rate"] == 100.0).all()


def test_timeseries_csv_keeps_epoch_seconds(tmp_path) -> None:
    from harness.derive.files import write_derived_files

    start = 1_795_980_000.0
    write_derived_files(
        tmp_path, "r", make_samples([5.0] * 250, start=start), window_start=start, duration_s=3.0
    )
    ts = rundir.load_timeseries(tmp_path)
    assert ts["ts"].tolist() == [start, start + 1, start + 2]


def test_per_second_latency_columns_are_the_hdr_percentiles_of_that_second() -> None:
    rng = np.random.default_rng(3)
    latencies = rng.lognormal(2.0, 1.0, 300).tolist()  # 100 sends a second for 3 s
    frame = make_samples(latencies)
    ts = build_timeseries(frame, window_start=1000.0, duration_s=4.0)
    second = np.floor(frame["ts"].to_numpy() - 1000.0)
    for s in range(4):
        hist = histogram_of(frame.loc[second == s, "latency_ms"])
        row = ts.iloc[s]
        if hist.get_total_count() == 0:
            assert np.isnan(row["p95_ms"])
            continue
        for column, q in (("p50_ms", 50), ("p95_ms", 95), ("p99_ms", 99)):
            assert row[column] == hist.get_value_at_percentile(q) / 1000.0
        assert row["max_ms"] == hist.get_max_value() / 1000.0


def test_a_ramp_stage_s_target_rate_rises_second_by_second_as_the_pacer_schedules_it() -> None:
    """The smoke scenario's shape: 0 -> 20 req/s over 5 s, then 20 req/s (the stage mean was 10)."""
    schedule = schedule_from([(0.0, 5.0, 0.0, 20.0), (5.0, 20.0, 20.0, 20.0)])
    ts = build_timeseries(make_samples([5.0] * 100), window_start=1000.0, duration_s=20.0, schedule=schedule)
    target = ts["target_rate"].to_numpy()
    assert target[:5].tolist() == [2.0, 6.0, 10.0, 14.0, 18.0]
    assert (np.diff(target[:6]) > 0).all() and (target[5:] == 20.0).all()
    assert ts["stage"].tolist() == [0] * 5 + [1] * 15
    # the same schedule the pacer sends from: its slots per second match the column (to the slot)
    offsets = np.fromiter(schedule.offsets(), dtype=float)
    sent = np.bincount(np.floor(offsets).astype(int), minlength=20)
    assert np.abs(sent - target).max() <= 1.0
    assert target.sum() == schedule.total_arrivals


def test_target_rate_between_stage_boundaries_and_at_an_early_end_is_the_scheduled_arrivals() -> None:
    schedule = schedule_from([(0.0, 2.5, 10.0, 20.0), (2.5, 7.5, 20.0, 20.0), (7.5, 10.0, 20.0, 0.0)])
    ts = build_timeseries(make_samples([5.0] * 10), window_start=1000.0, duration_s=10.0, schedule=schedule)
    assert ts["target_rate"].tolist() == [12.0, 16.0, 19.5, 20.0, 20.0, 20.0, 20.0, 19.0, 12.0, 4.0]
    # an aborted run (3.5 s of it ran): the last, partial second holds what was scheduled in it
    aborted = build_timeseries(
        make_samples([5.0] * 10), window_start=1000.0, duration_s=3.5, schedule=schedule
    )
    assert aborted["target_rate"].tolist() == [12.0, 16.0, 19.5, 10.0]
    assert stage_targets(schedule, 3.5) == [(0.0, 2.5, 15.0), (2.5, 3.5, 20.0)]


def test_summary_stages_come_from_the_same_schedule(tmp_path) -> None:
    from harness.derive.files import write_derived_files

    schedule = schedule_from([(0.0, 4.0, 0.0, 40.0), (4.0, 6.0, 40.0, 40.0)])
    summary = write_derived_files(
        tmp_path, "r", make_samples([5.0] * 200), window_start=1000.0, duration_s=6.0, schedule=schedule
    )
    assert [(s.start_s, s.end_s, s.target_rate) for s in summary.stages] == [(0, 4, 20.0), (4, 6, 40.0)]
    assert summary.overall.target_rate == (80.0 + 80.0) / 6.0
    assert rundir.load_timeseries(tmp_path)["target_rate"].tolist() == [5.0, 15.0, 25.0, 35.0, 40.0, 40.0]
    with pytest.raises(ValueError, match="not both"):
        build_timeseries(
            make_samples([5.0]), window_start=1000.0, duration_s=1.0, stages=[(0, 1, 1.0)], schedule=schedule
        )
