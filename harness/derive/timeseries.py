"""Samples (+ monitor series) → one row per second of the measured window (timeseries.csv).

Per-second p50/p95/p99 follow the one definition of :mod:`harness.derive.percentiles` (HDR), so
a windowed rule over one second reads the value the summary would give for that second's samples;
``max_ms`` is the HDR max (the top of the largest value's bucket), as in the summary.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from harness.contract.rundir import MONITOR_COLUMNS, TIMESERIES_COLUMNS
from harness.derive.percentiles import grouped_values_at
from harness.derive.samples import Stage, split_dropped, window_seconds

#: Latency columns of timeseries.csv and the percentile each holds (q = 100: the HDR max).
LATENCY_COLUMNS = {"p50_ms": 50.0, "p95_ms": 95.0, "p99_ms": 99.0, "max_ms": 100.0}


def _stage_at(second: float, stages: list[Stage]) -> tuple[int, float | None]:
    for index, (start, end, rate) in enumerate(stages):
        if start <= second < end:
            return index, rate
    return (len(stages) - 1, stages[-1][2]) if stages else (0, None)


def build_timeseries(
    samples: pd.DataFrame,
    *,
    window_start: float,
    duration_s: float,
    stages: list[Stage] | None = None,
    monitor: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """One row per second of the measured window; monitored values joined by second (NaN if absent)."""
    stages = stages or []
    seconds = max(1, math.ceil(duration_s))
    done, dropped = split_dropped(samples)
    done_sec = window_seconds(done["ts"], window_start)
    sent_sec = window_seconds(done["start"], window_start)
    drop_sec = window_seconds(dropped["intended_start"], window_start)
    is_error = done["error"].notna().to_numpy(dtype=bool)

    def per_second(idx: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
        keep = (idx >= 0) & (idx < seconds)
        return np.bincount(idx[keep], weights=None if weights is None else weights[keep], minlength=seconds)

    frame = pd.DataFrame({"t": np.arange(seconds, dtype=np.int64)})
    frame["ts"] = window_start + frame["t"].astype(float)
    stage_info = [_stage_at(float(s), stages) for s in range(seconds)]
    frame["stage"] = [index for index, _ in stage_info]
    frame["target_rate"] = [np.nan if rate is None else rate for _, rate in stage_info]
    frame["rate"] = per_second(done_sec)
    frame["sent"] = per_second(sent_sec)
    frame["errors"] = per_second(done_sec, is_error.astype(float)).astype(np.int64)
    frame["dropped"] = per_second(drop_sec)
    latency = grouped_values_at(
        done_sec, done["latency_ms"].to_numpy(dtype=float), list(LATENCY_COLUMNS.values()), seconds
    )
    for j, name in enumerate(LATENCY_COLUMNS):
        frame[name] = latency[:, j]
    if monitor is not None and not monitor.empty and "ts" in monitor:
        frame = _join_monitor(frame, monitor, window_start)
    for column in MONITOR_COLUMNS:
        if column not in frame:
            frame[column] = np.nan
    return frame[list(TIMESERIES_COLUMNS) + [c for c in frame.columns if c not in TIMESERIES_COLUMNS]]


def _join_monitor(frame: pd.DataFrame, monitor: pd.DataFrame, window_start: float) -> pd.DataFrame:
    mon = monitor.copy()
    mon["t"] = window_seconds(mon["ts"], window_start)
    mon = mon.drop(columns=["ts"]).groupby("t").mean(numeric_only=True).reset_index()
    return frame.merge(mon, on="t", how="left")
