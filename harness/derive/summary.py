"""Samples (+ monitor series) → Summary, per-second timeseries and encoded HDR histograms.

Pure functions over pandas frames: no IO. Latency percentiles come from HdrHistograms with three
significant digits (values recorded in microseconds), so every stage that reads a summary sees the
same numbers the histograms hold. A sample whose ``error`` is ``"dropped"`` is a send that never
started (the pacer hit ``max_in_flight``): it counts as dropped, never as a request or an error.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping

import numpy as np
import pandas as pd
from hdrh.histogram import HdrHistogram

from harness.contract.columns import DROPPED, LATE_TOLERANCE_S
from harness.contract.rundir import (
    MONITOR_COLUMNS,
    OVERALL,
    TIMESERIES_COLUMNS,
    HistogramSet,
    OperationSummary,
    Percentiles,
    SeriesStats,
    StageSummary,
    Summary,
)

#: Histogram range: 1 us .. 1 hour.
HDR_LOWEST_US = 1
HDR_HIGHEST_US = 3_600_000_000
HDR_DIGITS = 3

Stage = tuple[float, float, float | None]  # (start_s, end_s, mean target rate)


# ---------------------------------------------------------------- histograms


def new_histogram() -> HdrHistogram:
    return HdrHistogram(HDR_LOWEST_US, HDR_HIGHEST_US, HDR_DIGITS)


def histogram_of(values_ms: Iterable[float]) -> HdrHistogram:
    """An HdrHistogram (microseconds) of the finite values, clamped into its range."""
    hist = new_histogram()
    arr = np.asarray(list(values_ms) if not isinstance(values_ms, np.ndarray) else values_ms, dtype=float)
    arr = arr[np.isfinite(arr)]
    if arr.size == 0:
        return hist
    micros = np.clip(np.rint(arr * 1000.0), HDR_LOWEST_US, HDR_HIGHEST_US).astype(np.int64)
    # Record each distinct value once with its count: far faster than one call per sample.
    uniques, counts = np.unique(micros, return_counts=True)
    for value, count in zip(uniques.tolist(), counts.tolist(), strict=True):
        hist.record_value(value, count)
    return hist


def percentiles_of(hist: HdrHistogram, mean_ms: float | None = None) -> Percentiles:
    """Percentiles from the histogram; pass ``mean_ms`` when the exact mean is at hand (hdrh's
    own mean walks every bucket in Python, ~0.1 s per histogram)."""
    if hist.get_total_count() == 0:
        return Percentiles()

    def ms(us: float) -> float:
        return round(us / 1000.0, 3)

    return Percentiles(
        p50=ms(hist.get_value_at_percentile(50)),
        p90=ms(hist.get_value_at_percentile(90)),
        p95=ms(hist.get_value_at_percentile(95)),
        p99=ms(hist.get_value_at_percentile(99)),
        p99_9=ms(hist.get_value_at_percentile(99.9)),
        max=ms(hist.get_max_value()),
        min=ms(hist.get_min_value()),
        mean=round(mean_ms, 3) if mean_ms is not None else ms(hist.get_mean_value()),
    )


def percentiles_of_values(values_ms: np.ndarray) -> Percentiles:
    finite = values_ms[np.isfinite(values_ms)]
    mean = float(finite.mean()) if finite.size else None
    return percentiles_of(histogram_of(finite), mean_ms=mean)


def encode(hist: HdrHistogram) -> str:
    encoded = hist.encode()
    return encoded.decode("ascii") if isinstance(encoded, bytes) else str(encoded)


def decode(text: str) -> HdrHistogram:
    return HdrHistogram.decode(text.encode("ascii"))


# ---------------------------------------------------------------- summary


def _split(samples: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    dropped_mask = samples["error"].eq(DROPPED).fillna(False).to_numpy(dtype=bool)
    return samples.loc[~dropped_mask], samples.loc[dropped_mask]


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
    """Mean/max/p95/start/end and a least-squares slope per hour with its R²."""
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
    done, dropped = _split(samples)
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


# ---------------------------------------------------------------- timeseries


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
    done, dropped = _split(samples)
    done_sec = np.floor(done["ts"].to_numpy(dtype=float) - window_start).astype(np.int64)
    sent_sec = np.floor(done["start"].to_numpy(dtype=float) - window_start).astype(np.int64)
    drop_sec = np.floor(dropped["intended_start"].to_numpy(dtype=float) - window_start).astype(np.int64)
    is_error = done["error"].notna().to_numpy(dtype=bool)
    latency = done["latency_ms"].to_numpy(dtype=float)

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
    pct = _per_second_percentiles(done_sec, latency, seconds)
    for name, values in pct.items():
        frame[name] = values
    if monitor is not None and not monitor.empty and "ts" in monitor:
        frame = _join_monitor(frame, monitor, window_start)
    for column in MONITOR_COLUMNS:
        if column not in frame:
            frame[column] = np.nan
    return frame[list(TIMESERIES_COLUMNS) + [c for c in frame.columns if c not in TIMESERIES_COLUMNS]]


def _per_second_percentiles(sec: np.ndarray, latency: np.ndarray, seconds: int) -> dict[str, np.ndarray]:
    out = {name: np.full(seconds, np.nan) for name in ("p50_ms", "p95_ms", "p99_ms", "max_ms")}
    if sec.size == 0:
        return out
    order = np.argsort(sec, kind="stable")
    sec_sorted, lat_sorted = sec[order], latency[order]
    bounds = np.searchsorted(sec_sorted, np.arange(seconds + 1))
    for s in range(seconds):
        chunk = lat_sorted[bounds[s] : bounds[s + 1]]
        chunk = chunk[np.isfinite(chunk)]
        if chunk.size:
            p50, p95, p99 = np.percentile(chunk, [50, 95, 99])
            out["p50_ms"][s], out["p95_ms"][s], out["p99_ms"][s] = p50, p95, p99
            out["max_ms"][s] = chunk.max()
    return out


def _join_monitor(frame: pd.DataFrame, monitor: pd.DataFrame, window_start: float) -> pd.DataFrame:
    mon = monitor.copy()
    mon["t"] = np.floor(mon["ts"].astype(float) - window_start).astype(np.int64)
    mon = mon.drop(columns=["ts"]).groupby("t").mean(numeric_only=True).reset_index()
    return frame.merge(mon, on="t", how="left")


# ---------------------------------------------------------------- histogram set


def build_histograms(samples: pd.DataFrame, *, window_start: float) -> HistogramSet:
    done, _ = _split(samples)
    latency = {OVERALL: encode(histogram_of(done["latency_ms"].to_numpy(dtype=float)))}
    service = {OVERALL: encode(histogram_of(done["service_ms"].to_numpy(dtype=float)))}
    for op, group in done.groupby("operation", sort=True):
        latency[str(op)] = encode(histogram_of(group["latency_ms"].to_numpy(dtype=float)))
        service[str(op)] = encode(histogram_of(group["service_ms"].to_numpy(dtype=float)))
    windows = []
    seconds = np.floor(done["ts"].to_numpy(dtype=float) - window_start).astype(np.int64)
    lat = done["latency_ms"].to_numpy(dtype=float)
    order = np.argsort(seconds, kind="stable")
    seconds, lat = seconds[order], lat[order]
    uniques, starts = np.unique(seconds, return_index=True)
    ends = [*starts[1:].tolist(), len(seconds)] if len(starts) else []
    for second, lo, hi in zip(uniques.tolist(), starts.tolist(), ends, strict=True):
        windows.append({"t": int(second), "latency": encode(histogram_of(lat[lo:hi]))})
    return HistogramSet(latency=latency, service=service, windows=windows)
