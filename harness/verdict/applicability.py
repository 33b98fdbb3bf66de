"""Which checklist rules a run can be judged by, and whether it has enough data for a ratio.

After :func:`harness.verdict.evaluate.evaluate`, :func:`scope_verdict` turns the results of
checklist rules that declare other kinds of run (``applies_to``, see harness.scenario.kinds) into
``not-applicable`` (shown apart from ``not-measured``, never a warning), and the results of ratio
rules with a ``min_count`` the run does not reach into ``not-measured`` with "not enough data (...)".
Rules from the scenario or the command line always apply: their author chose them for this run.
"""

from __future__ import annotations

from collections import Counter

import numpy as np

from harness.contract.runfolder import RunFolder
from harness.scenario.kinds import run_kind
from harness.verdict.checklist import Checklist, ChecklistRule
from harness.verdict.evaluate import build_verdict
from harness.verdict.metrics import Source
from harness.verdict.model import RULE_STATUSES, RuleResult, Verdict
from harness.verdict.series import monitor_column


def scope_verdict(
    verdict: Verdict, run: RunFolder, checklist: Checklist, baseline: RunFolder | None
) -> Verdict:
    """The verdict with checklist rules judged only where they apply and have enough data."""
    kind, declared = run_kind(run.manifest.scenario)
    how = "" if declared else " (inferred from its shape)"
    results = []
    for result in verdict.rules:
        entry = checklist.rule(result.id) if result.origin == "checklist" else None
        if entry is None:
            results.append(result)
        elif not entry.applies(kind):
            results.append(_not_applicable(result, entry, kind, how))
        else:
            results.append(
                _enough_data(result.model_copy(update={"applies_to": list(entry.applies_to)}), entry, run)
            )
    scoped = build_verdict(run, results, checklist=verdict.checklist, baseline=baseline)
    counts = Counter(r.status for r in results)
    return scoped.model_copy(
        update={
            "counts": {status: counts.get(status, 0) for status in RULE_STATUSES},
            "run_kind": kind,
            "run_kind_declared": declared,
        }
    )


def _not_applicable(result: RuleResult, entry: ChecklistRule, kind: str, how: str) -> RuleResult:
    return result.model_copy(
        update={
            "status": "not-applicable",
            "reason": f"applies to {_kinds(entry.applies_to)} runs; this is a {kind} run{how}",
            "measured": None,
            "measured_display": None,
            "where": {},
            "applies_to": list(entry.applies_to),
        }
    )


def _kinds(kinds: tuple[str, ...]) -> str:
    return ", ".join(kinds[:-1]) + f" or {kinds[-1]}" if len(kinds) > 1 else kinds[0]


def _enough_data(result: RuleResult, entry: ChecklistRule, run: RunFolder) -> RuleResult:
    if entry.min_count is None or result.status in ("not-measured", "not-applicable"):
        return result
    count, unit = data_count(entry, run)
    if count >= entry.min_count:
        return result
    reason = f"not enough data ({count:,} {unit} < {entry.min_count:,})"
    if result.measured_display is not None:
        reason += f"; measured {result.measured_display}, not judged"
    return result.model_copy(update={"status": "not-measured", "reason": reason})


def data_count(entry: ChecklistRule, run: RunFolder) -> tuple[int, str]:
    """How much data a ratio rule stands on, and its unit: completed requests of the rule's
    operation, or for monitored ratios (cache hit rates) the monitored seconds that saw lookups
    (the monitor records per-second rates, not lookup counts)."""
    rule = entry.rule
    if rule.definition.source is Source.MONITOR:
        series = run.timeseries
        column = monitor_column(rule)
        if series is None or column not in series.columns:
            return 0, "seconds with lookups"
        values = series[column].to_numpy(dtype=float)
        layer = f"{rule.layer.upper()} " if rule.layer else ""
        return int(np.isfinite(values).sum()), f"seconds with {layer}lookups"
    op = run.operation_summary(rule.operation)
    if op is None:
        return 0, "requests"
    scheduled = op.count + (op.dropped if rule.metric == "dropped_rate" else 0)
    return int(scheduled), f"{rule.operation} requests" if rule.operation else "requests"
