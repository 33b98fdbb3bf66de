"""Whole-run metrics: growth slopes, per-agent usage, concurrency, recovery, breaking point."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from harness.contract.columns import DATABASE_METRIC, NEEDS
from harness.contract.runfolder import RunFolder
from harness.scenario.kinds import STRESS_MIN_STAGES
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
#: A stress stage (or the stage before a spike) shorter than this many seconds cannot show an
#: achieved rate or a latency level: the run is "too short at this time scale", never a 0 req/s.
MIN_STAGE_S = 2
#: Growth slopes over shorter runs mostly measure start-up (imports, caches warming), not leaks.
MIN_GROWTH_RUN_S = 600
#: Stored data grows with the writes from the first second (no warm-up to wait out); a minute of
#: one-second samples gives a slope that the database's page-sized steps do not dominate.
MIN_STORAGE_RUN_S = 60


@dataclass(frozen=True)
class Measurement:
    value: float | None
    reason: str | None = None
    where: dict[str, Any] = field(default_factory=dict)


def measure_derived(rule: Rule, run: RunFolder) -> Measurement:
    return _DERIVED[rule.metric](rule, run)


def _resource_slope(run: RunFolder, column: str, missing: str, min_run_s: float) -> Measurement:
    duration = run.summary.duration_s if run.summary else 0.0
    if duration < min_run_s:
        return Measurement(
            None,
            f"the run ({duration:.0f} s) is too short to estimate growth (needs >= {min_run_s:.0f} s)",
        )
    stats = run.summary.resources.get(column) if run.summary else None
    if stats is None or stats.slope_per_h is None:
        return Measurement(None, run.not_measured_reason(column, column.removesuffix("_mb")) or missing)
    return Measurement(stats.slope_per_h, where={"r2": stats.r2, "start": stats.start, "end": stats.end})


def _rss_growth(rule: Rule, run: RunFolder) -> Measurement:
    missing = "the monitor recorded no RSS series (needs >= 3 samples)"
    return _resource_slope(run, "rss_mb", missing, MIN_GROWTH_RUN_S)


def _storage_growth(rule: Rule, run: RunFolder) -> Measurement:
    missing = (
        f"the monitor recorded no storage size (column storage_mb; the target exports no {DATABASE_METRIC})"
    )
    return _resource_slope(run, "storage_mb", missing, MIN_STORAGE_RUN_S)


def _per_agent(run: RunFolder, column: str, aggregate: str) -> Measurement:
    """A per-agent column the monitor recorded from the target's metrics (never a hand-set tag)."""
    stats = run.summary.resources.get(column) if run.summary else None
    value = getattr(stats, aggregate) if stats else None
    if value is None:
        reason = run.not_measured_reason(column) or f"the monitor recorded no {column} ({NEEDS[column]})"
        return Measurement(None, reason)
    agents = run.summary.resources.get("agents") if run.summary else None
    where: dict[str, Any] = {aggregate: value}
    if agents is not None and agents.max is not None:
        where["agents"] = int(agents.max)
    return Measurement(value, where=where)


def _rss_per_agent(rule: Rule, run: RunFolder) -> Measurement:
    return _per_agent(run, "rss_per_agent_mb", "max")


def _cpu_per_agent(rule: Rule, run: RunFolder) -> Measurement:
    return _per_agent(run, "cpu_per_agent_pct", "mean")


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
    before = p95[int(before_start) : int(before_end)]
    spike_end = int(stages[spike][1])
    after_s = len(p95) - spike_end
    if np.isfinite(before).sum() < MIN_STAGE_S or after_s < RECOVERY_HOLD_S:
        return Measurement(
            None,
            f"too short at this time scale: {np.isfinite(before).sum()} s of latency before the spike "
            f"and {max(after_s, 0)} s after it (needs >= {MIN_STAGE_S} s and >= {RECOVERY_HOLD_S} s)",
        )
    baseline = float(np.nanmedian(before))
    where: dict[str, Any] = {"spike_end_s": spike_end, "pre_spike_p95_ms": baseline}
    ok = np.nan_to_num(p95[spike_end:], nan=np.inf) <= baseline * RECOVERY_FACTOR
    for offset in range(after_s - RECOVERY_HOLD_S + 1):
        if ok[offset : offset + RECOVERY_HOLD_S].all():
            return Measurement(offset * 1000.0, where=where)
    at_least_ms = (after_s - RECOVERY_HOLD_S + 1) * 1000.0  # recovery starts no earlier than this
    reason = f"not recovered within the {after_s} s after the spike"
    if _lower_bound_decides(rule, at_least_ms):
        return Measurement(at_least_ms, f"{reason} (a lower bound)", where)
    return Measurement(None, f"{reason}: too short to tell whether it recovers {_wanted(rule)}", where)


def _lower_bound_decides(rule: Rule, at_least: float) -> bool:
    """Whether knowing only "the value is >= at_least" already settles the rule."""
    if rule.threshold is None:
        return False
    if rule.comparator in ("<", "<="):  # the bound already breaks it
        return at_least > rule.threshold or (rule.comparator == "<" and at_least == rule.threshold)
    if rule.comparator in (">", ">="):  # the bound already satisfies it
        return at_least > rule.threshold or (rule.comparator == ">=" and at_least == rule.threshold)
    return False


def _upper_bound_decides(rule: Rule, below: float) -> bool:
    """Whether knowing only "the value is < below" already settles the rule."""
    if rule.threshold is None:
        return False
    if rule.comparator in (">", ">="):  # the bound already breaks it
        return below <= rule.threshold
    if rule.comparator in ("<", "<="):  # the bound already satisfies it
        return below <= rule.threshold
    return False


def _wanted(rule: Rule) -> str:
    return f"{rule.comparator} {rule.threshold_text}" if rule.threshold_text else "as the rule asks"


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
    if len(stages) < STRESS_MIN_STAGES or series is None:
        return Measurement(None, "not a stress run (needs >= 3 stages of rising rate)")
    measured = [stage for stage in stages if int(stage[1]) <= len(series)]  # stages the window holds
    shortest = min(end - start for start, end, _ in stages)
    if shortest < MIN_STAGE_S or not measured:
        inside = "" if len(measured) == len(stages) else f", {len(measured)} of {len(stages)} inside the run"
        return Measurement(
            None,
            f"too short at this time scale: stages of {shortest:.1f} s{inside} "
            f"(needs >= {MIN_STAGE_S} s each to measure an achieved rate)",
        )
    limit = _expected_p95(run)
    last_good: float | None = None
    for start, end, target in measured:
        assert target is not None
        if _stage_broken(series.iloc[int(start) : int(end)], end - start, target, limit):
            where = {"broke_at_rate": target, "stage_start_s": start, "reached": True}
            if last_good is None:
                why = f"broke at the first stage: the breaking point is below {target:g} req/s"
                if _upper_bound_decides(rule, target):
                    return Measurement(target, f"{why} (an upper bound)", where)
                return Measurement(None, f"{why}, the lowest rate tried", where)
            return Measurement(last_good, where=where)
        last_good = _achieved(series.iloc[int(start) : int(end)], end - start)
    top = measured[-1][2]
    assert top is not None and last_good is not None
    reason = f"no breaking point reached within {top:g} req/s"
    where = {"reached": False, "highest_rate": top}
    if _lower_bound_decides(rule, last_good):
        return Measurement(last_good, f"{reason} (a lower bound)", where)
    return Measurement(None, f"{reason}: the run cannot tell whether it holds {_wanted(rule)}", where)


def _achieved(window: Any, seconds: float) -> float:
    return float(window["rate"].sum()) / max(seconds, 1.0)


def _stage_broken(window: Any, seconds: float, target: float, p95_limit_ms: float) -> bool:
    """Short of the target rate, too many errors or a median per-second p95 over the limit."""
    completed = float(window["rate"].sum())
    if not completed:
        return True
    error_rate = float(window["errors"].sum()) / completed
    p95 = float(np.nanmedian(window["p95_ms"].to_numpy(dtype=float)))
    achieved = _achieved(window, seconds)
    return achieved < BREAK_ACHIEVED_SHARE * target or error_rate > BREAK_ERROR_RATE or p95 > p95_limit_ms


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
