"""Per-window values of a metric: every 1-second bin (``for``) or sliding D-second window (``within``).

All functions return ``(starts, values)``: the first second of each window and the metric over it
(NaN where the window holds no data). Latency windows come from the raw samples (per-second
percentiles of all operations from timeseries.csv, which holds the same values); traffic sums from
timeseries.csv (or the samples when filtered by operation); monitored series from timeseries.csv.
Latency percentiles follow the one definition of :mod:`harness.derive.percentiles` (HDR), so a window
covering the whole run gives the summary's value.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from harness.contract.columns import LATE_TOLERANCE_S
from harness.contract.runfolder import RunFolder
from harness.contract.samples import dropped_mask, window_seconds
from harness.derive.percentiles import grouped_values_at, values_at
from harness.verdict.metrics import Source
from harness.verdict.rules import Rule

#: Sliding windows evaluated per rule at most; longer runs step by more than one second.
#: Per-second bins (width 1, the ``for`` mode) are never thinned: a sustained breach is counted in
#: consecutive seconds, so every second must be present.
MAX_WINDOWS = 5000
#: Latency metrics read as HDR percentiles (:mod:`harness.derive.percentiles`); max is q = 100.
_PERCENTILE = {"p50": 50.0, "p90": 90.0, "p95": 95.0, "p99": 99.0, "p99.9": 99.9, "max": 100.0}
_TIMESERIES_LATENCY = {"p50": "p50_ms", "p95": "p95_ms", "p99": "p99_ms", "max": "max_ms"}


def window_starts(seconds: int, width: int) -> np.ndarray:
    count = seconds - width + 1
    if count <= 0:
        return np.empty(0, dtype=np.int64)
    step = 1 if width == 1 else max(1, math.ceil(count / MAX_WINDOWS))
    return np.arange(0, count, step, dtype=np.int64)


def window_values(rule: Rule, run: RunFolder, width: int) -> tuple[np.ndarray, np.ndarray] | None:
    """None when the data needed is absent."""
    source = rule.definition.source
    if source is Source.LATENCY:
        return _latency(rule, run, width)
    if source is Source.TRAFFIC:
        return _traffic(rule, run, width)
    if source is Source.MONITOR:
        return _monitor(rule, run, width)
    return None


def _latency(rule: Rule, run: RunFolder, width: int) -> tuple[np.ndarray, np.ndarray] | None:
    starts = window_starts(run.seconds, width)
    column = _TIMESERIES_LATENCY.get(rule.metric)
    series = run.timeseries
    if width == 1 and rule.operation is None and column and series is not None and column in series:
        return starts, series[column].to_numpy(dtype=float)[starts]
    samples = run.samples
    if samples is None:
        return None
    if rule.operation is not None:
        samples = samples.loc[samples["operation"] == rule.operation]
    latency = samples["latency_ms"].to_numpy(dtype=float)
    keep = np.isfinite(latency)
    sec, latency = samples["sec"].to_numpy()[keep], latency[keep]
    if width == 1 and rule.metric != "mean":
        return starts, grouped_values_at(sec, latency, [_PERCENTILE[rule.metric]], run.seconds)[starts, 0]
    bounds = np.searchsorted(sec, np.arange(run.seconds + 1))
    values = np.full(len(starts), np.nan)
    for i, start in enumerate(starts.tolist()):
        chunk = latency[bounds[start] : bounds[min(start + width, run.seconds)]]
        if chunk.size:
            values[i] = _latency_stat(rule.metric, chunk)
    return starts, values


def _latency_stat(metric: str, chunk: np.ndarray) -> float:
    """The exact mean, else the HDR percentile (``max`` is HDR's: q = 100), as in summary.json."""
    if metric == "mean":
        return float(chunk.mean())
    return float(values_at(chunk, [_PERCENTILE[metric]])[0])


def _per_second_traffic(rule: Rule, run: RunFolder) -> dict[str, np.ndarray] | None:
    series = run.timeseries
    if rule.operation is None and rule.metric != "late" and series is not None:
        return {
            "count": series["rate"].to_numpy(dtype=float),
            "errors": series["errors"].to_numpy(dtype=float),
            "dropped": series["dropped"].to_numpy(dtype=float),
        }
    samples = run.samples
    if samples is None or run.window_start is None:
        return None
    if rule.operation is not None:
        samples = samples.loc[samples["operation"] == rule.operation]
    seconds = run.seconds
    is_dropped = dropped_mask(samples["error"])
    is_error = samples["error"].notna().to_numpy(dtype=bool) & ~is_dropped
    sec = samples["sec"].to_numpy()
    intended_sec = window_seconds(samples["intended_start"], run.window_start)
    lag = samples["start"] - samples["intended_start"]
    late = (lag > LATE_TOLERANCE_S).to_numpy(dtype=bool) & ~is_dropped

    def per_second(idx: np.ndarray) -> np.ndarray:
        idx = idx[(idx >= 0) & (idx < seconds)]
        return np.bincount(idx, minlength=seconds).astype(float)

    return {
        "count": per_second(sec[~is_dropped]),
        "errors": per_second(sec[is_error]),
        "dropped": per_second(intended_sec[is_dropped]),
        "late": per_second(sec[late]),
    }


def _traffic(rule: Rule, run: RunFolder, width: int) -> tuple[np.ndarray, np.ndarray] | None:
    per_second = _per_second_traffic(rule, run)
    if per_second is None:
        return None
    starts = window_starts(run.seconds, width)

    def window_sum(name: str) -> np.ndarray:
        cumulative = np.concatenate([[0.0], np.cumsum(np.nan_to_num(per_second[name]))])
        result: np.ndarray = cumulative[starts + width] - cumulative[starts]
        return result

    count = window_sum("count")
    with np.errstate(divide="ignore", invalid="ignore"):
        if rule.metric == "error_rate":
            values = np.where(count > 0, window_sum("errors") / count, np.nan)
        elif rule.metric == "dropped_rate":
            dropped = window_sum("dropped")
            values = np.where(count + dropped > 0, dropped / (count + dropped), np.nan)
        elif rule.metric == "rate":
            values = count / width
        else:
            values = window_sum(rule.metric)
    return starts, values


def monitor_column(rule: Rule) -> str:
    column = rule.definition.column or rule.metric
    return f"{column}_{rule.layer}" if rule.layer else column


def _monitor(rule: Rule, run: RunFolder, width: int) -> tuple[np.ndarray, np.ndarray] | None:
    series = run.timeseries
    column = monitor_column(rule)
    if series is None or column not in series:
        return None
    values = pd.to_numeric(series[column], errors="coerce")
    if not np.isfinite(values.to_numpy(dtype=float)).any():
        return None
    starts = window_starts(run.seconds, width)
    if width == 1:
        return starts, values.to_numpy(dtype=float)[starts]
    rolling = values.rolling(width, min_periods=max(1, width // 2))
    aggregate = rule.aggregate or rule.definition.default_aggregate
    if aggregate == "max":
        rolled = rolling.max()
    elif aggregate == "min":
        rolled = rolling.min()
    elif aggregate == "p95":
        rolled = rolling.quantile(0.95)
    else:
        rolled = rolling.mean()
    # rolling() labels a window by its last row; shift to its first second.
    return starts, rolled.to_numpy(dtype=float)[starts + width - 1]
