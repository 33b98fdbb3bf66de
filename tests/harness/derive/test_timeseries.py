"""timeseries.csv: one row per second of the measured window."""

from __future__ import annotations

import numpy as np
import pandas as pd

from harness.contract import rundir
from harness.derive.percentiles import histogram_of
from harness.derive.timeseries import build_timeseries
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
