"""Evaluate rules against a run folder → RuleResults and a Verdict.

A rule whose data is missing is ``not-measured`` with the reason, never ``pass``. Whole-run values
come from summary.json (computed once, with HdrHistograms, by harness.derive.summary); windowed rules
use timeseries.csv and the raw samples (see harness.verdict.series).
"""

from __future__ import annotations

import datetime as dt
import math
import operator
from collections import Counter
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import numpy as np

from harness.contract.runfolder import RunFolder
from harness.verdict.derived import Measurement, measure_derived
from harness.verdict.format import format_value
from harness.verdict.metrics import LATENCY_SUMMARY_KEY, Kind, Source
from harness.verdict.model import RuleResult, Verdict
from harness.verdict.rules import Rule, RuleSpec
from harness.verdict.series import monitor_column, window_values

_COMPARE: dict[str, Callable[[float, float], bool]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
    "==": lambda a, b: math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12),
}


def holds(value: float, comparator: str, threshold: float) -> bool:
    return _COMPARE[comparator](value, threshold)


# ---------------------------------------------------------------- whole-run measurement


def measure_whole(rule: Rule, run: RunFolder) -> Measurement:
    if run.summary is None:
        return Measurement(None, "summary.json is missing (the run did not finish)")
    source = rule.definition.source
    if source is Source.DERIVED:
        return measure_derived(rule, run)
    if source is Source.MONITOR:
        return _measure_monitor(rule, run)
    where = {"operation": rule.operation or "overall"}
    op = run.operation_summary(rule.operation)
    if op is None:
        ran = ", ".join(sorted(run.summary.operations)) or "none"
        return Measurement(None, f"operation {rule.operation!r} did not run (operations: {ran})")
    if source is Source.LATENCY:
        value = getattr(op.latency_ms, LATENCY_SUMMARY_KEY[rule.metric])
        return Measurement(value, None if value is not None else "no completed requests", where)
    return Measurement(_traffic_value(rule.metric, op), None, where)


def _traffic_value(metric: str, op: Any) -> float | None:
    if metric == "dropped_rate":
        scheduled = op.count + op.dropped
        return op.dropped / scheduled if scheduled else None
    if metric == "count":
        return float(op.count)
    value = getattr(op, metric)
    return None if value is None else float(value)


def _measure_monitor(rule: Rule, run: RunFolder) -> Measurement:
    column = monitor_column(rule)
    assert run.summary is not None
    stats = run.summary.resources.get(column)
    aggregate = rule.aggregate or rule.definition.default_aggregate
    value = getattr(stats, aggregate) if stats is not None else None
    if value is None:
        reason = run.not_measured_reason(column, rule.metric) or f"the monitor recorded no {column}"
        return Measurement(None, reason)
    return Measurement(value, None, {"aggregate": aggregate})


# ---------------------------------------------------------------- windowed measurement


def _worst(values: np.ndarray, comparator: str) -> int:
    """Index of the value furthest on the failing side of the comparator (NaN ignored)."""
    if comparator in ("<", "<="):
        return int(np.nanargmax(values))
    return int(np.nanargmin(values))


def measure_windowed(rule: Rule, run: RunFolder, threshold: float) -> tuple[Measurement, bool]:
    """(measurement, broken): the worst window and whether the windowed rule is broken."""
    assert rule.window is not None
    width = max(1, round(rule.window.seconds))
    if run.timeseries is None:
        return Measurement(None, "timeseries.csv is missing (the run did not finish)"), False
    if run.seconds < width:
        reason = f"the run ({run.seconds} s) is shorter than the window ({width} s)"
        return Measurement(None, reason), False
    found = window_values(rule, run, 1 if rule.window.mode == "for" else width)
    if found is None or not np.isfinite(found[1]).any():
        return Measurement(None, _missing_series_reason(rule, run)), False
    starts, values = found
    if rule.window.mode == "within":
        index = _worst(values, rule.comparator)
        start = int(starts[index])
        where = {
            "operation": rule.operation or "overall",
            "window_start_s": start,
            "window_end_s": start + width,
        }
        value = float(values[index])
        return Measurement(value, None, where), not holds(value, rule.comparator, threshold)
    return _sustained(rule, starts, values, threshold, width)


def _sustained(
    rule: Rule, starts: np.ndarray, values: np.ndarray, threshold: float, width: int
) -> tuple[Measurement, bool]:
    finite = np.isfinite(values)
    safe = np.where(finite, values, threshold)
    breaking = finite & ~np.array([holds(float(v), rule.comparator, threshold) for v in safe], dtype=bool)
    longest, longest_start, run_length = 0, 0, 0
    for i, broken in enumerate(breaking.tolist()):
        run_length = run_length + 1 if broken else 0
        if run_length > longest:
            longest, longest_start = run_length, i - run_length + 1
    where: dict[str, Any] = {"operation": rule.operation or "overall", "longest_breach_s": longest}
    if longest >= width:
        span = values[longest_start : longest_start + longest]
        where.update(
            window_start_s=int(starts[longest_start]), window_end_s=int(starts[longest_start]) + longest
        )
        return Measurement(float(span[_worst(span, rule.comparator)]), None, where), True
    index = _worst(values, rule.comparator)
    where["worst_at_s"] = int(starts[index])
    return Measurement(float(values[index]), None, where), False


def _missing_series_reason(rule: Rule, run: RunFolder) -> str:
    if rule.definition.source is Source.MONITOR:
        column = monitor_column(rule)
        return run.not_measured_reason(column, rule.metric) or f"the monitor recorded no {column}"
    if rule.operation is not None:
        return f"operation {rule.operation!r} has no data in any window"
    return "no per-second data (timeseries.csv / samples.parquet missing or empty)"


# ---------------------------------------------------------------- rules → results


def evaluate_rule(
    spec: RuleSpec, run: RunFolder, baseline: RunFolder | None, default_hint: str | None
) -> RuleResult:
    rule = spec.rule
    threshold, threshold_reason = _threshold(rule, baseline)
    if threshold is None:
        measurement, broken = Measurement(None, threshold_reason), False
    elif rule.window is not None:
        measurement, broken = measure_windowed(rule, run, threshold)
    else:
        measurement = measure_whole(rule, run)
        broken = measurement.value is not None and not holds(measurement.value, rule.comparator, threshold)
    status = "not-measured" if measurement.value is None else rule.severity if broken else "pass"
    kind = rule.definition.kind
    return RuleResult(
        id=spec.id,
        text=rule.text,
        origin=spec.origin,
        section=spec.section,
        title=spec.title,
        source=spec.source,
        metric=rule.metric,
        subject=rule.subject,
        operation=rule.operation,
        window=str(rule.window) if rule.window else None,
        comparator=rule.comparator,
        threshold=threshold,
        threshold_display=_threshold_display(rule, threshold),
        measured=measurement.value,
        measured_display=None
        if measurement.value is None
        else format_value(kind, measurement.value, per_hour=_per_hour(rule, threshold)),
        severity=rule.severity,
        required=spec.required,
        status=status,  # type: ignore[arg-type]
        reason=measurement.reason,
        where=measurement.where,
        hint=rule.hint or default_hint,
    )


def _threshold(rule: Rule, baseline: RunFolder | None) -> tuple[float | None, str | None]:
    if rule.baseline_factor is None:
        return rule.threshold, None
    if baseline is None:
        return None, "no baseline run given (--baseline RUN)"
    reference = measure_whole(replace(rule, window=None), baseline)
    if reference.value is None:
        return None, f"the baseline run {baseline.manifest.run_id} has no value: {reference.reason}"
    return rule.baseline_factor * reference.value, None


def _per_hour(rule: Rule, threshold: float | None) -> bool:
    return rule.definition.kind is Kind.RATE and threshold is not None and 0 < threshold < 0.1


def _threshold_display(rule: Rule, threshold: float | None) -> str:
    kind = rule.definition.kind
    text = (
        f"{rule.comparator} {format_value(kind, threshold) if threshold is not None else rule.threshold_text}"
    )
    if rule.baseline_factor is not None:
        text = f"{rule.comparator} {rule.threshold_text}" + (
            f" ({format_value(kind, threshold)})" if threshold is not None else ""
        )
    return text + (f" {rule.window}" if rule.window else "")


def gate_failures(results: list[RuleResult]) -> list[RuleResult]:
    """Rules that fail the gate: failed fail-severity rules, and required rules not measured."""
    return [r for r in results if r.status == "fail" or (r.status == "not-measured" and r.required)]


def build_verdict(
    run: RunFolder,
    results: list[RuleResult],
    *,
    checklist: str | None,
    baseline: RunFolder | None,
) -> Verdict:
    failures = gate_failures(results)
    counts = Counter(r.status for r in results)
    status = "fail" if failures else ("warn" if counts["warn"] else "pass")
    return Verdict(
        run_id=run.manifest.run_id,
        run_status=run.manifest.status,
        incomplete=run.manifest.status != "complete" or run.summary is None,
        status=status,  # type: ignore[arg-type]
        gate_failed=bool(failures),
        evaluated_at=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        checklist=checklist,
        baseline_run=baseline.manifest.run_id if baseline else None,
        counts={key: counts.get(key, 0) for key in ("pass", "fail", "warn", "not-measured")},
        failed=list(dict.fromkeys(r.text for r in failures)),  # unique, in rule order
        rules=results,
    )


def evaluate(
    run: RunFolder,
    specs: list[RuleSpec],
    *,
    baseline: RunFolder | None = None,
    hints: Callable[[str], str | None] | None = None,
    checklist: str | None = None,
) -> Verdict:
    results = [
        evaluate_rule(spec, run, baseline, hints(spec.rule.metric) if hints else None) for spec in specs
    ]
    return build_verdict(run, results, checklist=checklist, baseline=baseline)
