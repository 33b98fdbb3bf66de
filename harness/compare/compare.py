"""Compare two run sets: per operation and overall, with confidence intervals and tests.

A metric is a **regression** when its change is statistically significant at ``alpha`` *and*
larger than the threshold in the bad direction — for a latency also larger than ``min_effect_ms``
in absolute terms; an **improvement** likewise in the good direction. A latency percentile with
fewer samples on a side than ``min_samples`` requires is ``too_few_samples``; a change that is not
significant while the comparison's minimum detectable effect (MDE, 95 % power) exceeds the
threshold is ``inconclusive``: it could not have seen a change of the size that matters. Neither
is ever a regression. Significance per metric family:

- latency p50/p95/p99: two-sided Mann-Whitney U on the latencies (p < alpha) *and* the bootstrap
  interval of the percentile's relative change (confidence 1 - alpha) excludes zero;
- error rate: Fisher's exact test on errors vs successes; the change is absolute (percentage
  points) and compared with ``error_threshold``;
- achieved rate, CPU per request: Mann-Whitney U on per-second values *and* a block bootstrap over
  one-second windows whose interval excludes zero;
- peak RSS: Welch's t-test on the per-repeat peaks, which needs at least two repeats per side;
  with one run per side it is shown but marked untested (a single maximum has no spread).

Marks follow asv: ``+`` regression, ``-`` improvement, ``~`` not significant, ``=`` significant
but within the threshold, ``?`` untested; and ours: ``!`` inconclusive, ``#`` too few samples.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import Literal

import numpy as np

from harness.compare import stats
from harness.compare.ab_result import PairedSettings
from harness.compare.hotspots import differential_hotspots
from harness.compare.result import (
    COMPARE_JSON,
    COMPARE_KIND,
    COMPARE_SCHEMA_VERSION,
    DEFAULT_MIN_EFFECT_MS,
    PERCENTILES,
    CompareResult,
    CompareSettings,
    MetricComparison,
    RepeatStats,
    Status,
)
from harness.compare.runset import CompareRun, RunSet, load_run_set
from harness.contract import rundir
from harness.contract.samples import window_seconds
from harness.scenario.units import parse_duration

__all__ = [
    "COMPARE_JSON",
    "DEFAULT_MIN_EFFECT_MS",
    "PERCENTILES",
    "CompareResult",
    "CompareSettings",
    "MetricComparison",
    "RepeatStats",
]

OVERALL = "overall"
MARKS: dict[str, str] = {
    "regression": "+",
    "improvement": "-",
    "not_significant": "~",
    "within_threshold": "=",
    "untested": "?",
    "inconclusive": "!",
    "too_few_samples": "#",
}
#: Above this many requests on a side the one-second-window bootstrap (cost ~ replicates x requests)
#: gives way to the request bootstrap (Beta shortcut, cost ~ replicates).
WINDOW_BOOTSTRAP_MAX_SAMPLES = 200_000


class ThresholdError(ValueError):
    """A threshold string that is not a percentage or a fraction."""


def parse_fraction(text: str, name: str) -> float:
    """``"5%"`` or ``"0.05"`` -> 0.05. A bare number >= 1 is refused as ambiguous."""
    raw = str(text).strip()
    try:
        value = float(raw[:-1]) / 100.0 if raw.endswith("%") else float(raw)
    except ValueError:
        raise ThresholdError(
            f"{name}: {text!r} is not a percentage like 5% or a fraction like 0.05"
        ) from None
    if not raw.endswith("%") and value >= 1.0:
        raise ThresholdError(f"{name}: {text!r} is ambiguous; write {value:g}% or {value / 100:g}")
    if not math.isfinite(value) or value < 0:
        raise ThresholdError(f"{name}: {text!r} must be a non-negative percentage")
    return value


def parse_min_effect(text: str, name: str = "--min-effect") -> float:
    """``"0.2ms"`` or ``"1s"`` -> milliseconds. A bare number is refused: its unit would be a guess."""
    raw = str(text).strip()
    try:
        float(raw)
    except ValueError:
        pass
    else:
        raise ThresholdError(f"{name}: {text!r} needs a unit, e.g. {raw}ms")
    try:
        return parse_duration(raw) * 1000.0
    except ValueError:
        raise ThresholdError(f"{name}: {text!r} is not a duration like 0.5ms or 2ms") from None


def parse_test_settings(alpha: str, n_boot: int) -> float:
    """alpha from its command-line spelling, after checking it and the bootstrap's replicates."""
    alpha_value = parse_fraction(alpha, "--alpha")
    if not 0 < alpha_value < 1:
        raise ThresholdError(f"--alpha: {alpha!r} must be between 0 and 1")
    if n_boot < 100:
        raise ThresholdError(f"--bootstrap: {n_boot} is too few replicates (use at least 100)")
    return alpha_value


def compare_settings(
    *,
    threshold: str,
    alpha: str,
    error_threshold: str,
    n_boot: int,
    seed: int,
    bootstrap_unit: str = "seconds",
    min_effect: str = f"{DEFAULT_MIN_EFFECT_MS:g}ms",
) -> CompareSettings:
    """Settings from the command-line spellings (``5%``, ``0.01``); ThresholdError names the bad one."""
    alpha_value = parse_test_settings(alpha, n_boot)
    if bootstrap_unit not in ("seconds", "requests"):
        raise ThresholdError(f"--bootstrap-unit: {bootstrap_unit!r} must be seconds or requests")
    return CompareSettings(
        threshold=parse_fraction(threshold, "--threshold"),
        alpha=alpha_value,
        error_threshold=parse_fraction(error_threshold, "--error-threshold"),
        n_boot=n_boot,
        seed=seed,
        bootstrap_unit="seconds" if bootstrap_unit == "seconds" else "requests",
        min_effect_ms=parse_min_effect(min_effect),
    )


# ---------------------------------------------------------------- classification


def classify(
    change: float | None,
    significant: bool | None,
    threshold: float,
    higher_is_worse: bool,
    *,
    mde: float | None = None,
    enough_samples: bool = True,
) -> Status:
    """The status of one metric; ``threshold`` is in the units of ``change`` (and of ``mde``)."""
    if not enough_samples:
        return "too_few_samples"
    if change is None or significant is None:
        return "untested"
    if not significant:
        return "inconclusive" if mde is not None and mde > threshold else "not_significant"
    if abs(change) <= threshold:
        return "within_threshold"
    worse = change > 0 if higher_is_worse else change < 0
    return "regression" if worse else "improvement"


def _metric(
    operation: str,
    metric: str,
    unit: str,
    base: float | None,
    new: float | None,
    *,
    change: float | None,
    change_kind: Literal["relative", "absolute"] = "relative",
    interval: stats.Interval | None,
    p_value: float | None,
    test: str,
    settings: CompareSettings,
    threshold: float,
    higher_is_worse: bool = True,
    mde: float | None = None,
    enough_samples: bool = True,
) -> MetricComparison:
    significant: bool | None = None
    if p_value is not None and interval is not None:
        significant = p_value < settings.alpha and interval.excludes_zero()
    elif p_value is not None and test.startswith("welch"):
        significant = p_value < settings.alpha
    status = classify(change, significant, threshold, higher_is_worse, mde=mde, enough_samples=enough_samples)
    return MetricComparison(
        operation=operation,
        metric=metric,
        unit=unit,
        base=base,
        new=new,
        change=change,
        change_kind=change_kind,
        ci_low=None if interval is None else interval.low,
        ci_high=None if interval is None else interval.high,
        p_value=p_value,
        mde=mde,
        test=test,
        status=status,
        mark=MARKS[status],
        higher_is_worse=higher_is_worse,
    )


# ---------------------------------------------------------------- metric families


def _latencies(run_set: RunSet, operation: str | None) -> np.ndarray:
    frame = run_set.pooled_samples()
    if operation is not None:
        frame = frame[frame["operation"] == operation]
    return stats.finite(frame["latency_ms"].to_numpy(dtype=float))


def _per_run_latencies(run_set: RunSet, operation: str | None) -> list[np.ndarray]:
    out = []
    for run in run_set.runs:
        frame = run.samples if operation is None else run.samples[run.samples["operation"] == operation]
        out.append(stats.finite(frame["latency_ms"].to_numpy(dtype=float)))
    return out


def _latencies_with_seconds(run_set: RunSet, operation: str | None) -> tuple[np.ndarray, np.ndarray]:
    run = run_set.runs[0]
    frame = run.samples if operation is None else run.samples[run.samples["operation"] == operation]
    seconds = window_seconds(frame["ts"], run.window_start)
    return frame["latency_ms"].to_numpy(dtype=float), seconds


def percentile_intervals(
    base: RunSet, new: RunSet, operation: str | None, b: np.ndarray, n: np.ndarray, s: CompareSettings
) -> list[stats.Interval | None]:
    """One interval per entry of PERCENTILES.

    Repeats: two-stage bootstrap (runs, then requests). Single runs: one-second windows (default)
    or requests (``bootstrap_unit="requests"``, the exact Beta shortcut).
    """
    qs = tuple(q for _, q in PERCENTILES)
    conf, n_boot, seed = s.confidence, s.n_boot, s.seed
    if len(base.runs) > 1 or len(new.runs) > 1:
        per_b, per_n = _per_run_latencies(base, operation), _per_run_latencies(new, operation)
        return [
            stats.repeated_percentile_change_ci(per_b, per_n, q, confidence=conf, n_boot=n_boot, seed=seed)
            for q in qs
        ]
    if s.bootstrap_unit == "seconds" and max(b.size, n.size) <= WINDOW_BOOTSTRAP_MAX_SAMPLES:
        return stats.window_percentile_change_ci(
            _latencies_with_seconds(base, operation),
            _latencies_with_seconds(new, operation),
            qs,
            confidence=conf,
            n_boot=n_boot,
            seed=seed,
        )
    return [stats.percentile_change_ci(b, n, q, confidence=conf, n_boot=n_boot, seed=seed) for q in qs]


def _bootstrap_label(base: RunSet, new: RunSet, b: np.ndarray, n: np.ndarray, s: CompareSettings) -> str:
    if len(base.runs) > 1 or len(new.runs) > 1:
        return "two-stage bootstrap (runs, requests)"
    if s.bootstrap_unit == "seconds" and max(b.size, n.size) <= WINDOW_BOOTSTRAP_MAX_SAMPLES:
        return "1 s window bootstrap"
    return "request bootstrap"


def mde_of(interval: stats.Interval | None, s: CompareSettings) -> float | None:
    """The MDE (95 % power, level alpha) read off a (1 - alpha) interval; None without one."""
    if interval is None:
        return None
    return stats.minimum_detectable_effect(interval.low, interval.high, alpha=s.alpha)


def latency_threshold(base_ms: float | None, s: CompareSettings | PairedSettings) -> float:
    """The relative change a latency must exceed: the threshold, or the absolute floor if larger.

    ``min_effect_ms`` / base turns the floor into the relative units of the change, so "beyond 5 %
    and beyond 0.5 ms" is one comparison, and the MDE is judged against the same size.
    """
    if base_ms is None or base_ms <= 0:
        return s.threshold
    return max(s.threshold, s.min_effect_ms / base_ms)


def latency_metrics(
    base: RunSet, new: RunSet, operation: str | None, s: CompareSettings
) -> list[MetricComparison]:
    """p50/p95/p99 of the pooled latencies by the one (HDR) definition: one run's equal its summary's."""
    name = operation or OVERALL
    b, n = _latencies(base, operation), _latencies(new, operation)
    p_value = stats.mann_whitney_p(b, n)
    out = []
    intervals = percentile_intervals(base, new, operation, b, n, s)
    for (label, q), interval in zip(PERCENTILES, intervals, strict=True):
        vb, vn = stats.percentile(b, q), stats.percentile(n, q)
        fewest = s.min_samples.get(label, 0)
        out.append(
            _metric(
                name,
                label,
                "ms",
                vb,
                vn,
                change=stats.relative_change(vb, vn),
                interval=interval,
                p_value=p_value,
                test=f"mann-whitney-u + {_bootstrap_label(base, new, b, n, s)}",
                settings=s,
                threshold=latency_threshold(vb, s),
                mde=mde_of(interval, s),
                enough_samples=min(b.size, n.size) >= fewest,
            )
        )
    return out


def _error_counts(run_set: RunSet, operation: str | None) -> tuple[int, int]:
    frame = run_set.pooled_samples()
    if operation is not None:
        frame = frame[frame["operation"] == operation]
    return int(frame["error"].notna().sum()), len(frame)


def error_metric(base: RunSet, new: RunSet, operation: str | None, s: CompareSettings) -> MetricComparison:
    eb, nb = _error_counts(base, operation)
    en, nn = _error_counts(new, operation)
    rb = eb / nb if nb else None
    rn = en / nn if nn else None
    change = None if rb is None or rn is None else rn - rb
    interval = stats.proportion_change_ci(
        eb, nb, en, nn, confidence=s.confidence, n_boot=s.n_boot, seed=s.seed
    )
    mde = mde_of(interval, s)
    if interval is not None and eb == 0 and en == 0:
        interval, mde = stats.Interval(0.0, 0.0), None  # no errors: no spread to measure power from
    return _metric(
        operation or OVERALL,
        "error_rate",
        "fraction",
        rb,
        rn,
        change=change,
        change_kind="absolute",
        interval=interval,
        p_value=stats.two_proportion_p(eb, nb, en, nn),
        test="fisher-exact + bootstrap",
        settings=s,
        threshold=s.error_threshold,
        mde=mde,
    )


def _window_metric(
    operation: str,
    metric: str,
    unit: str,
    base_windows: np.ndarray,
    new_windows: np.ndarray,
    statistic: Callable[[np.ndarray], float],
    batch_statistic: Callable[[np.ndarray], np.ndarray],
    per_window: Callable[[np.ndarray], np.ndarray],
    s: CompareSettings,
    higher_is_worse: bool,
) -> MetricComparison:
    """A metric computed from per-second rows; blocks are seconds."""
    vb = statistic(base_windows) if len(base_windows) else None
    vn = statistic(new_windows) if len(new_windows) else None
    interval = stats.block_bootstrap_change_ci(
        base_windows, new_windows, batch_statistic, confidence=s.confidence, n_boot=s.n_boot, seed=s.seed
    )
    p_value = stats.mann_whitney_p(per_window(base_windows), per_window(new_windows))
    return _metric(
        operation,
        metric,
        unit,
        vb,
        vn,
        change=stats.relative_change(vb, vn),
        interval=interval,
        p_value=p_value,
        test="mann-whitney-u (per second) + block bootstrap",
        settings=s,
        threshold=s.threshold,
        higher_is_worse=higher_is_worse,
        mde=mde_of(interval, s),
    )


def _trim_edges(values: np.ndarray) -> np.ndarray:
    """Drop the first and last second: their CPU is partly start-up and shut-down."""
    return values[1:-1] if values.size > 4 else values


def rate_metric(base: RunSet, new: RunSet, operation: str | None, s: CompareSettings) -> MetricComparison:
    """Completed requests per second of the window: the mean over every second (edges kept) is the
    summary's ``rate`` (count / duration), so compare prints the run's own figure; both sides share
    the same edge effects, which cancel in the ratio."""

    def windows(run_set: RunSet) -> np.ndarray:
        parts = [run.per_second_counts(operation) for run in run_set.runs]
        return np.concatenate(parts) if parts else np.empty(0)

    return _window_metric(
        operation or OVERALL,
        "rate",
        "req/s",
        windows(base),
        windows(new),
        lambda w: float(np.mean(w)) if w.size else math.nan,
        lambda batch: batch.mean(axis=1),
        lambda w: w,
        s,
        higher_is_worse=False,
    )


def _cpu_windows(run: CompareRun) -> np.ndarray | None:
    """Rows of (cpu seconds, completed requests) per second, where the CPU was measured."""
    cpu = run.per_second_cpu()
    if cpu is None:
        return None
    counts = run.per_second_counts()[: cpu.size]
    cpu = cpu[: counts.size]
    rows = np.column_stack([cpu / 100.0, counts])
    rows = _trim_edges(rows)
    kept: np.ndarray = rows[np.isfinite(rows[:, 0]) & (rows[:, 1] > 0)]
    return kept


def _cpu_ms_per_request_batch(batch: np.ndarray) -> np.ndarray:
    """Replicates (replicate, second, [cpu_s, requests]) -> CPU-ms per request per replicate."""
    with np.errstate(divide="ignore", invalid="ignore"):
        out: np.ndarray = batch[..., 0].sum(axis=1) * 1000.0 / batch[..., 1].sum(axis=1)
    return out


def _cpu_ms_per_request(rows: np.ndarray) -> float:
    total = float(rows[:, 1].sum())
    return float(rows[:, 0].sum()) * 1000.0 / total if total > 0 else math.nan


def cpu_metric(base: RunSet, new: RunSet, s: CompareSettings) -> MetricComparison | None:
    def windows(run_set: RunSet) -> np.ndarray | None:
        parts = [_cpu_windows(run) for run in run_set.runs]
        if any(p is None for p in parts):
            return None
        return np.concatenate([p for p in parts if p is not None])

    wb, wn = windows(base), windows(new)
    if wb is None or wn is None or not len(wb) or not len(wn):
        return None
    return _window_metric(
        OVERALL,
        "cpu_per_request",
        "cpu-ms",
        wb,
        wn,
        _cpu_ms_per_request,
        _cpu_ms_per_request_batch,
        lambda rows: rows[:, 0] * 1000.0 / rows[:, 1],
        s,
        higher_is_worse=True,
    )


def rss_metric(base: RunSet, new: RunSet, s: CompareSettings) -> MetricComparison | None:
    pb = [run.peak_rss_mb() for run in base.runs]
    pn = [run.peak_rss_mb() for run in new.runs]
    vb_list = [p for p in pb if p is not None]
    vn_list = [p for p in pn if p is not None]
    if not vb_list or not vn_list:
        return None
    vb, vn = max(vb_list), max(vn_list)
    p_value = stats.welch_p(np.asarray(vb_list), np.asarray(vn_list))
    return _metric(
        OVERALL,
        "peak_rss",
        "MB",
        vb,
        vn,
        change=stats.relative_change(vb, vn),
        interval=None,
        p_value=p_value,
        test="welch-t (per-repeat peaks)" if p_value is not None else "untested (needs 2+ repeats per side)",
        settings=s,
        threshold=s.threshold,
    )


# ---------------------------------------------------------------- top level


def repeat_stats(run_set: RunSet) -> RepeatStats:
    p95s = [run.summary.overall.latency_ms.p95 for run in run_set.runs]
    return RepeatStats(
        runs=[run.run_id for run in run_set.runs],
        p95_ms=p95s,
        cv_p95=stats.coefficient_of_variation([p for p in p95s if p is not None]),
    )


def compare_run_sets(base: RunSet, new: RunSet, settings: CompareSettings | None = None) -> CompareResult:
    s = settings or CompareSettings()
    metrics: list[MetricComparison] = []
    groups: list[str | None] = [None, *[op for op in base.operations() if op in new.operations()]]
    for operation in groups:
        metrics.extend(latency_metrics(base, new, operation, s))
        metrics.append(error_metric(base, new, operation, s))
        metrics.append(rate_metric(base, new, operation, s))
    for extra in (cpu_metric(base, new, s), rss_metric(base, new, s)):
        if extra is not None:
            metrics.append(extra)
    warnings = [*base.warnings, *new.warnings]
    if base.scenario != new.scenario:
        warnings.append(f"different scenarios: {base.scenario} vs {new.scenario}")
    only = sorted(set(base.operations()) ^ set(new.operations()))
    if only:
        warnings.append(f"operations present on one side only (not compared): {only}")
    return CompareResult(
        kind=COMPARE_KIND,
        schema_version=COMPARE_SCHEMA_VERSION,
        scenario=new.scenario,
        base=repeat_stats(base),
        new=repeat_stats(new),
        settings=s,
        metrics=metrics,
        warnings=warnings,
    )


# ---------------------------------------------------------------- outputs


def write_compare_json(result: CompareResult, out_dir: Path) -> Path:
    """Write compare.json atomically into ``out_dir`` (compare.html: :mod:`harness.report.compare_page`)."""
    json_path = out_dir / COMPARE_JSON
    rundir.write_json_atomic(json_path, result.to_json())
    return json_path


def compare_paths(
    base_refs: list[str | Path],
    new_refs: list[str | Path],
    settings: CompareSettings | None = None,
    *,
    reports_dir: Path = Path("reports"),
    pool_repeats: bool = True,
) -> CompareResult:
    """Load both sides (expanding repeats), compare, attach the differential hotspots.

    The entry point for other stages (nightly, gate, detection bench). Raises
    :class:`harness.contract.rundir.RunDirError` on a missing or invalid run folder.
    """
    base = load_run_set(base_refs, "base", reports_dir=reports_dir, pool_repeats=pool_repeats)
    new = load_run_set(new_refs, "new", reports_dir=reports_dir, pool_repeats=pool_repeats)
    result = compare_run_sets(base, new, settings)
    result.hotspots = differential_hotspots(base, new)
    return result
