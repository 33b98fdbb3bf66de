"""Samples (+ monitor series) → the Summary of a run (summary.json). Pure functions: no IO.

Latency percentiles follow the one definition of :mod:`harness.derive.percentiles` (HdrHistogram,
three significant digits, values in microseconds), so the summary holds the numbers
histograms.json, timeseries.csv, windowed rules and ``harness compare`` report for the same samples.
The mean is exact; max and min are HdrHistogram's (the top of the largest value's bucket, the bottom
of the smallest's), so ``p99.9 <= max`` always holds.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from harness.contract.columns import LATE_TOLERANCE_S
from harness.contract.rundir import (
    OperationSummary,
    Percentiles,
    SeriesStats,
    StageSummary,
    Summary,
)
from harness.derive.percentiles import lowest_equivalent, micros_at, to_micros
from harness.derive.samples import Stage, split_dropped

#: Percentiles of a summary, then q = 100 for the HDR max.
_SUMMARY_QS = (50.0, 90.0, 95.0, 99.0, 99.9, 100.0)


def percentiles_of_values(values_ms: np.ndarray) -> Percentiles:
    """p50..p99.9, max, min (HDR) and the exact mean of the finite latencies."""
    values = np.asarray(values_ms, dtype=float)
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return Percentiles()
    micros = to_micros(finite)
    p50, p90, p95, p99, p99_9, top = (float(v) / 1000.0 for v in micros_at(micros, _SUMMARY_QS))
    return Percentiles(
        p50=p50,
        p90=p90,
        p95=p95,
        p99=p99,
        p99_9=p99_9,
        max=top,
        min=float(lowest_equivalent(micros.min())) / 1000.0,
        mean=round(float(finite.mean()), 3),
    )


def _operation_summary(
    done: pd.DataFrame,
    dropped: pd.DataFrame,
    duration_s: float,
    target_rate: float | None,
    target_ms: float | None,
) -> OperationSummary:
    count = len(done)
    error_mask = done["error"].notna().to_numpy(dtype=bool)
    errors = int(error_mask.sum())
    kinds = done.loc[error_mask, "error"].astype(str).value_counts()
    late = int(((done["start"] - done["intended_start"]) > LATE_TOLERANCE_S).sum())
    return OperationSummary(
        count=count,
        errors=errors,
        error_rate=(errors / count) if count else None,
        dropped=len(dropped),
        late=late,
        target_rate=target_rate,
        rate=(count / duration_s) if duration_s > 0 else None,
        latency_ms=percentiles_of_values(done["latency_ms"].to_numpy(dtype=float)),
        service_time_ms=percentiles_of_values(done["service_ms"].to_numpy(dtype=float)),
        bytes=int(done["bytes"].fillna(0).sum()),
        errors_by_kind={str(k): int(v) for k, v in kinds.items()},
        target_ms=target_ms,
    )


def _op_target_rates(samples: pd.DataFrame, overall_rate: float | None) -> dict[str, float | None]:
    """Split the scheduled rate across operations by their share of scheduled sends."""
    if overall_rate is None or samples.empty:
        return {}
    shares = samples["operation"].value_counts(normalize=True)
    return {str(op): overall_rate * float(share) for op, share in shares.items()}


def _mean_target_rate(stages: list[Stage], duration_s: float) -> float | None:
    if not stages or any(rate is None for _, _, rate in stages):
        return None
    total = sum(
        (min(end, duration_s) - start) * (rate or 0.0) for start, end, rate in stages if start < duration_s
    )
    return total / duration_s if duration_s > 0 else None


def _stage_summaries(done: pd.DataFrame, window_start: float, stages: list[Stage]) -> list[StageSummary]:
    rel = done["ts"].to_numpy(dtype=float) - window_start
    out = []
    for index, (start, end, rate) in enumerate(stages):
        span = end - start
        n = int(((rel >= start) & (rel < end)).sum())
        out.append(
            StageSummary(
                index=index,
                start_s=start,
                end_s=end,
                target_rate=rate,
                achieved_rate=(n / span) if span > 0 else None,
            )
        )
    return out


def series_stats(ts: np.ndarray, values: np.ndarray) -> SeriesStats | None:
    """Mean/max/p95/start/end and a least-squares slope per hour with its R².

    For monitored series (CPU, memory ...), not latencies: their p95 is numpy's interpolated one.
    """
    mask = np.isfinite(values) & np.isfinite(ts)
    if not mask.any():
        return None
    t, v = ts[mask], values[mask]
    slope = r2 = None
    if len(v) >= 3 and float(np.ptp(t)) > 0:
        coef = np.polyfit(t, v, 1)
        fitted = np.polyval(coef, t)
        ss_res = float(((v - fitted) ** 2).sum())
        ss_tot = float(((v - v.mean()) ** 2).sum())
        slope = float(coef[0]) * 3600.0
        r2 = 1.0 - ss_res / ss_tot if ss_tot > 0 else 0.0
    return SeriesStats(
        mean=float(v.mean()),
        max=float(v.max()),
        min=float(v.min()),
        p95=float(np.percentile(v, 95)),
        start=float(v[0]),
        end=float(v[-1]),
        slope_per_h=slope,
        r2=r2,
    )


def _resources(monitor: pd.DataFrame | None) -> dict[str, SeriesStats]:
    if monitor is None or monitor.empty or "ts" not in monitor:
        return {}
    ts = monitor["ts"].to_numpy(dtype=float)
    out: dict[str, SeriesStats] = {}
    for column in monitor.columns:
        if column == "ts":
            continue
        values = pd.to_numeric(monitor[column], errors="coerce").to_numpy(dtype=float)
        stats = series_stats(ts, values)
        if stats is not None:
            out[str(column)] = stats
    return out


def summarize_run(
    run_id: str,
    samples: pd.DataFrame,
    *,
    window_start: float,
    duration_s: float,
    stages: list[Stage] | None = None,
    targets_ms: Mapping[str, float | None] | None = None,
    monitor: pd.DataFrame | None = None,
) -> Summary:
    stages = stages or []
    targets_ms = targets_ms or {}
    done, dropped = split_dropped(samples)
    overall_target_rate = _mean_target_rate(stages, duration_s)
    op_rates = _op_target_rates(samples, overall_target_rate)
    operations = {}
    for op in sorted(samples["operation"].dropna().unique().tolist()):
        operations[str(op)] = _operation_summary(
            done.loc[done["operation"] == op],
            dropped.loc[dropped["operation"] == op],
            duration_s,
            op_rates.get(str(op)),
            targets_ms.get(str(op)),
        )
    return Summary(
        run_id=run_id,
        duration_s=duration_s,
        overall=_operation_summary(done, dropped, duration_s, overall_target_rate, None),
        operations=operations,
        stages=_stage_summaries(done, window_start, stages),
        resources=_resources(monitor),
    )
