"""Samples (+ monitor series) → one row per second of the measured window (timeseries.csv).

Per-second p50/p95/p99 follow the one definition of :mod:`harness.derive.percentiles` (HDR), so
a windowed rule over one second reads the value the summary would give for that second's samples;
``max_ms`` is the HDR max (the top of the largest value's bucket), as in the summary.

``target_rate`` is what the open-model schedule intended in each second: the arrivals the pacer's
own :class:`~harness.load.schedule.ArrivalSchedule` schedules in ``[t, t + 1)`` (the integral of
its :meth:`~harness.load.schedule.ArrivalSchedule.rate_at`, cut at the end of the window), so a
ramp stage rises second by second instead of showing its mean. Without a schedule (a closed model,
or a caller that only knows the stages' mean rates) it is the stage's mean rate, NaN when None.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pandas as pd

from harness.contract.rundir import MONITOR_COLUMNS, TIMESERIES_COLUMNS
from harness.derive.percentiles import grouped_values_at
from harness.derive.samples import Stage, split_dropped, window_seconds
from harness.load.schedule import ArrivalSchedule

#: Latency columns of timeseries.csv and the percentile each holds (q = 100: the HDR max).
LATENCY_COLUMNS = {"p50_ms": 50.0, "p95_ms": 95.0, "p99_ms": 99.0, "max_ms": 100.0}


def _stage_at(second: float, stages: list[Stage]) -> tuple[int, float | None]:
    for index, (start, end, rate) in enumerate(stages):
        if start <= second < end:
            return index, rate
    return (len(stages) - 1, stages[-1][2]) if stages else (0, None)


def scheduled_arrivals(schedule: ArrivalSchedule, start: float, end: float) -> float:
    """Arrivals ``schedule`` intends in ``[start, end)``: the integral of the pacer's rate function,
    exact for its piecewise-linear stages (the midpoint rule between the stages' boundaries)."""
    if end <= start:
        return 0.0
    inner = {b for stage in schedule.stages for b in (stage.start_s, stage.end_s) if start < b < end}
    cuts = sorted({start, end, *inner})
    return sum((b - a) * schedule.rate_at((a + b) / 2.0) for a, b in itertools.pairwise(cuts))


def target_per_second(schedule: ArrivalSchedule, seconds: int, duration_s: float) -> np.ndarray:
    """Scheduled arrivals in each second ``[t, t + 1)`` of a window of ``duration_s`` seconds."""
    return np.array(
        [scheduled_arrivals(schedule, float(t), min(t + 1.0, duration_s)) for t in range(seconds)],
        dtype=float,
    )


def stage_targets(schedule: ArrivalSchedule, duration_s: float) -> list[Stage]:
    """(start, end, mean scheduled rate) per stage, cut where the window ended (an aborted run's
    last stage is its part that ran): the summary's stages, from the same schedule."""
    out: list[Stage] = []
    for stage in schedule.stages:
        end = min(stage.end_s, duration_s)
        if stage.start_s < duration_s and end > stage.start_s:
            arrivals = (
                stage.arrivals if end == stage.end_s else scheduled_arrivals(schedule, stage.start_s, end)
            )
            out.append((stage.start_s, end, arrivals / (end - stage.start_s)))
    if not out and schedule.stages:
        first = schedule.stages[0]
        out.append((first.start_s, first.end_s, first.arrivals / first.length if first.length > 0 else 0.0))
    return out


def build_timeseries(
    samples: pd.DataFrame,
    *,
    window_start: float,
    duration_s: float,
    stages: list[Stage] | None = None,
    schedule: ArrivalSchedule | None = None,
    monitor: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """One row per second of the measured window; monitored values joined by second (NaN if absent).

    With ``schedule`` (open model) the per-second target rate and the stages come from it;
    ``stages`` is then not given."""
    if schedule is not None:
        if stages:
            raise ValueError("give the schedule or the stages, not both")
        stages = stage_targets(schedule, duration_s)
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
    if schedule is not None:
        frame["target_rate"] = target_per_second(schedule, seconds, duration_s)
    else:
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
