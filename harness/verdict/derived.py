"""Whole-run metrics: growth slopes, per-agent usage, concurrency, recovery, breaking point."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from harness.contract.runfolder import RunFolder
from harness.verdict.expect import expected_overall_p95_ms
from harness.verdict.rules import Rule

#: Spike recovery: latency is back when p95 stays within this factor of the pre-spike level...
RECOVERY_FACTOR = 1.5
#: ...for this many consecutive seconds.
RECOVERY_HOLD_S = 10
#: A stress stage is broken when it achieves less than this share of its target rate...
BREAK_ACHIEVED_SHARE = 0.9
#: ...or its error rate exceeds this (the guide's error-rate trigger)...
BREAK_ERROR_RATE = 0.01
#: ...or its median per-second p95 exceeds the scenario's expected p95 (default: the guide's 2 s).
DEFAULT_P95_LIMIT_MS = 2000.0
#: Growth slopes over shorter runs mostly measure start-up (imports, caches warming), not leaks.
MIN_GROWTH_RUN_S = 600


@dataclass(frozen=True)
class Measurement:
    value: float | None
    reason: str | None = None
    where: dict[str, Any] = field(default_factory=dict)


def measure_derived(rule: Rule, run: RunFolder) -> Measurement:
    return _DERIVED[rule.metric](rule, run)


def _resource_slope(run: RunFolder, column: str, missing: str) -> Measurement:
    duration = run.summary.duration_s if run.summary else 0.0
    if duration < MIN_GROWTH_RUN_S:
        return Measurement(
            None,
            f"the run ({duration:.0f} s) is too short to estimate growth (needs >= {MIN_GROWTH_RUN_S} s)",
        )
    stats = run.summary.resources.get(column) if run.summary else None
    if stats is None or stats.slope_per_h is None:
        return Measurement(None, run.not_measured_reason(column, column.removesuffix("_mb")) or missing)
    return Measurement(stats.slope_per_h, where={"r2": stats.r2, "start": stats.start, "end": stats.end})


def _rss_growth(rule: Rule, run: RunFolder) -> Measurement:
    return _resource_slope(run, "rss_mb", "the monitor recorded no RSS series (needs >= 3 samples)")


def _storage_growth(rule: Rule, run: RunFolder) -> Measurement:
    return _resource_slope(run, "storage_mb", "the monitor records no storage size (column storage_mb)")


def agent_count(run: RunFolder) -> int | None:
    """Agents the target ran: tag ``agents=N``, a target switch, or the scenario's ``agents``."""
    candidates = [
        run.manifest.tags.get("agents"),
        run.manifest.target.switches.get("agents"),
        run.scenario_value("agents"),
    ]
    for value in candidates:
        try:
            count = int(str(value))
        except ValueError:
            continue
        if count > 0:
            return count
    return None


def _per_agent(run: RunFolder, column: str, aggregate: str) -> Measurement:
    agents = agent_count(run)
    if agents is None:
        return Measurement(None, "the run does not record how many agents the target ran (tag agents=N)")
    stats = run.summary.resources.get(column) if run.summary else None
    value = getattr(stats, aggregate) if stats else None
    if value is None:
        return Measurement(None, run.not_measured_reason(column) or f"the monitor recorded no {column}")
    return Measurement(value / agents, where={"agents": agents, aggregate: value})


def _rss_per_agent(rule: Rule, run: RunFolder) -> Measurement:
    return _per_agent(run, "rss_mb", "max")


def _cpu_per_agent(rule: Rule, run: RunFolder) -> Measurement:
    return _per_agent(run, "cpu_percent", "mean")


def _concurrency(rule: Rule, run: RunFolder) -> Measurement:
    samples = run.sample_columns(["start", "ts"] + (["operation"] if rule.operation else []))
    if samples is None:
        return Measurement(None, "no samples.parquet")
    if rule.operation is not None:
        samples = samples.loc[samples["operation"] == rule.operation]
    start = samples["start"].to_numpy(dtype=float)
    end = samples["ts"].to_numpy(dtype=float)
    keep = np.isfinite(start) & np.isfinite(end)
    if not keep.any():
        return Measurement(None, "no completed requests")
    # Sweep line: +1 at each send, -1 at each completion; ends sort before starts at equal times.
    times = np.concatenate([end[keep], start[keep]])
    steps = np.concatenate([-np.ones(int(keep.sum())), np.ones(int(keep.sum()))])
    order = np.argsort(times, kind="stable")  # stable: completions (listed first) win ties
    in_flight = np.cumsum(steps[order])
    peak_index = int(np.argmax(in_flight))
    peak_t = float(times[order][peak_index]) - (run.window_start or 0.0)
    return Measurement(float(in_flight[peak_index]), where={"at_s": round(peak_t, 1)})


def _stages(run: RunFolder) -> list[tuple[float, float, float | None]]:
    if run.summary is None:
        return []
    return [(s.start_s, s.end_s, s.target_rate) for s in run.summary.stages]


def _recovery_time(rule: Rule, run: RunFolder) -> Measurement:
    stages = _stages(run)
    spike = _spike_stage(stages)
    series = run.timeseries
    if spike is None or series is None:
        return Measurement(None, "not a spike run (needs a stage whose rate jumps above its neighbours)")
    p95 = series["p95_ms"].to_numpy(dtype=float)
    before_start, before_end, _ = stages[spike - 1]
    baseline = float(np.nanmedian(p95[int(before_start) : int(before_end)]))
    spike_end = int(stages[spike][1])
    limit = baseline * RECOVERY_FACTOR
    ok = np.nan_to_num(p95[spike_end:], nan=np.inf) <= limit
    for offset in range(len(ok) - RECOVERY_HOLD_S + 1):
        if ok[offset : offset + RECOVERY_HOLD_S].all():
            return Measurement(
                offset * 1000.0, where={"spike_end_s": spike_end, "pre_spike_p95_ms": baseline}
            )
    remaining_ms = len(ok) * 1000.0
    if rule.threshold is not None and remaining_ms < rule.threshold:
        return Measurement(None, f"the run ended {len(ok)} s after the spike, before latency recovered")
    return Measurement(remaining_ms, "not recovered by the end of the run", {"spike_end_s": spike_end})


def _spike_stage(stages: list[tuple[float, float, float | None]]) -> int | None:
    rates = [rate for _, _, rate in stages]
    if len(stages) < 3 or any(rate is None for rate in rates):
        return None
    for index in range(1, len(stages) - 1):
        here, before, after = rates[index], rates[index - 1], rates[index + 1]
        assert here is not None and before is not None and after is not None
        if here > 1.5 * before and here > 1.5 * after:
            return index
    return None


def _rising_prefix(
    stages: list[tuple[float, float, float | None]],
) -> list[tuple[float, float, float | None]]:
    """The leading stages whose target rate keeps rising."""
    prefix = stages[:1]
    for previous, stage in itertools.pairwise(stages):
        if previous[2] is None or stage[2] is None or stage[2] <= previous[2]:
            break
        prefix.append(stage)
    return prefix if prefix and prefix[0][2] is not None else []


def _breaking_point(rule: Rule, run: RunFolder) -> Measurement:
    stages = _rising_prefix(_stages(run))  # a recovery stage may follow the climb
    series = run.timeseries
    if len(stages) < 3 or series is None:
        return Measurement(None, "not a stress run (needs >= 3 stages of rising rate)")
    limit = _expected_p95(run)
    last_good: float | None = 0.0
    for start, end, target in stages:
        window = series.iloc[int(start) : int(end)]
        completed = float(window["rate"].sum())
        achieved = completed / max(end - start, 1.0)
        error_rate = float(window["errors"].sum()) / completed if completed else 1.0
        p95 = float(np.nanmedian(window["p95_ms"].to_numpy(dtype=float))) if completed else np.inf
        assert target is not None
        if achieved < BREAK_ACHIEVED_SHARE * target or error_rate > BREAK_ERROR_RATE or p95 > limit:
            return Measurement(last_good, where={"broke_at_rate": target, "stage_start_s": start})
        last_good = achieved
    return Measurement(last_good, "not reached: every stage met its targets (value is a lower bound)")


def _expected_p95(run: RunFolder) -> float:
    return expected_overall_p95_ms(run.manifest.scenario) or DEFAULT_P95_LIMIT_MS


_DERIVED: dict[str, Callable[[Rule, RunFolder], Measurement]] = {
    "rss_growth": _rss_growth,
    "storage_growth": _storage_growth,
    "rss_per_agent": _rss_per_agent,
    "cpu_per_agent": _cpu_per_agent,
    "concurrency": _concurrency,
    "recovery_time": _recovery_time,
    "breaking_point": _breaking_point,
}
