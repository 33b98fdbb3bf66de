"""The switch sweep's analysis: each optimization switch off vs on, against the all-on profile.

Variants: ``all_on`` (the optimized profile), ``no_<switch>`` (all on except that one) for every
switch, and ``all_off`` (the baseline profile, for the guide's overall benefits). The effect of a
switch is compare(no_<switch> -> all_on), pooled over the repeats; the claimed-vs-measured table
holds it against the switch's claim in :file:`claims.yaml`. :mod:`harness.roi.sweep` runs the
variants; :func:`analyse_sweep` only takes run folders, so it is tested on synthetic runs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from harness.compare.compare import CompareResult, MetricComparison, compare_paths
from harness.contract import rundir
from harness.roi.claims import SwitchClaim, load_claims
from harness.roi.outputs import BenefitRow
from harness.roi.roi import overall_benefits

SWITCHES: tuple[str, ...] = (
    "parallel_creation",
    "templates",
    "batching",
    "caching",
    "pooling",
    "precomputed_decisions",
    "early_termination",
    "indexes",
)
ALL_ON, ALL_OFF = "all_on", "all_off"
SUMMARY_METRICS: tuple[tuple[str, str], ...] = (
    ("p50", "p50"),
    ("p95", "p95"),
    ("rate", "rate"),
    ("cpu_per_request", "CPU/req"),
    ("peak_rss", "peak RSS"),
    ("error_rate", "errors"),
)


class SweepError(ValueError):
    """Bad sweep arguments or a sweep that produced no usable runs."""


class EffectCell(BaseModel):
    change: float | None
    ci_low: float | None
    ci_high: float | None
    mark: str
    status: str


class SwitchRow(BaseModel):
    switch: str
    claim: str
    claimed_change: float | None
    claimed_text: str
    measured_metric: str
    measured: EffectCell | None
    measured_speedup: float | None
    verdict: str  # "confirmed", "partly", "not confirmed", "not measurable", "no claim"
    effects: dict[str, EffectCell]
    hit_rates: dict[str, dict[str, float | None]] = Field(default_factory=dict)
    notes: list[str] = Field(default_factory=list)


class SweepResult(BaseModel):
    kind: str
    schema_version: int
    scenario: str
    repeats: int
    variants: dict[str, list[str]]  # variant -> run folders
    rows: list[SwitchRow]
    benefits: list[BenefitRow]
    failed_runs: list[str]
    settings: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        return self.model_dump()


# ---------------------------------------------------------------- analysis


def _cell(m: MetricComparison | None) -> EffectCell | None:
    if m is None:
        return None
    return EffectCell(change=m.change, ci_low=m.ci_low, ci_high=m.ci_high, mark=m.mark, status=m.status)


def _find(result: CompareResult, metric: str, operation: str) -> MetricComparison | None:
    return next((m for m in result.metrics if m.metric == metric and m.operation == operation), None)


#: compare statuses of a comparison too weak to confirm or refute anything (harness.compare)
UNDERPOWERED = ("inconclusive", "too_few_samples")


def judge(claimed: float | None, cell: EffectCell | None) -> str:
    """Does the measured change (off -> on) reach the claimed one?"""
    if claimed is None:
        return "no claim"
    if cell is None or cell.change is None:
        return "not measurable"
    if cell.status in UNDERPOWERED:
        # too few samples, or an MDE above the threshold: the sweep could not have seen the claim
        return "not measurable"
    if (
        cell.status in ("not_significant", "untested", "within_threshold")
        and abs(cell.change) < abs(claimed) / 2
    ):
        return "not confirmed"
    if (cell.change <= claimed) if claimed < 0 else (cell.change >= claimed):
        return "confirmed"
    same_direction = (cell.change < 0) == (claimed < 0)
    return (
        "partly" if same_direction and cell.status in ("improvement", "within_threshold") else "not confirmed"
    )


def _hit_rates(paths: list[Path], targets: dict[str, float]) -> dict[str, dict[str, float | None]]:
    out: dict[str, dict[str, float | None]] = {}
    for column, target in targets.items():
        values = []
        for path in paths:
            stats = rundir.load_summary(path).resources.get(column)
            if stats is not None and stats.mean is not None:
                values.append(stats.mean)
        out[column] = {"target": target, "measured": sum(values) / len(values) if values else None}
    return out


def switch_row(
    switch: str, comparison: CompareResult, claim: SwitchClaim | None, on_runs: list[Path]
) -> SwitchRow:
    claim = claim or SwitchClaim(claim="", guide="")
    metric, operation = claim.metric, claim.operation
    notes = []
    measured = _find(comparison, metric, operation)
    if measured is None and operation != "overall":
        notes.append(f"{operation} is not in the scenario's mix: measured on all operations instead")
        operation = "overall"
        measured = _find(comparison, metric, operation)
    cell = _cell(measured)
    speedup = None
    if metric.startswith("p") and cell is not None and cell.change is not None and cell.change > -1:
        speedup = 1.0 / (1.0 + cell.change)
    effects = {label: c for key, label in SUMMARY_METRICS if (c := _cell(_find(comparison, key, "overall")))}
    targets = claim.hit_rate_targets
    return SwitchRow(
        switch=switch,
        claim=claim.claim,
        claimed_change=claim.claimed_change,
        claimed_text=claim.shown,
        measured_metric=f"{metric}({operation})",
        measured=cell,
        measured_speedup=speedup,
        verdict=judge(claim.claimed_change, cell),
        effects=effects,
        hit_rates=_hit_rates(on_runs, targets) if targets else {},
        notes=notes,
    )


def analyse_sweep(
    runs: dict[str, list[Path]],
    *,
    scenario: str,
    repeats: int,
    failed: list[str],
    claims: dict[str, SwitchClaim] | None = None,
    settings: dict[str, Any] | None = None,
) -> tuple[SweepResult, CompareResult | None]:
    """Claimed-vs-measured rows for every switch with runs, plus the all-off -> all-on comparison."""
    claims = claims if claims is not None else load_claims().switches
    on = runs.get(ALL_ON, [])
    if not on:
        raise SweepError("no successful all_on run: nothing to compare against")
    rows = []
    for variant, paths in runs.items():
        if not variant.startswith("no_") or not paths:
            continue
        switch = variant.removeprefix("no_")
        comparison = compare_paths(list(paths), list(on), pool_repeats=False)
        rows.append(switch_row(switch, comparison, claims.get(switch), on))
    overall = compare_paths(list(runs[ALL_OFF]), list(on), pool_repeats=False) if runs.get(ALL_OFF) else None
    result = SweepResult(
        kind="motherbox-perf/roi-switches",
        schema_version=1,
        scenario=scenario,
        repeats=repeats,
        variants={k: [str(p) for p in v] for k, v in runs.items()},
        rows=rows,
        benefits=overall_benefits(overall) if overall else [],
        failed_runs=failed,
        settings=settings or {},
    )
    return result, overall
