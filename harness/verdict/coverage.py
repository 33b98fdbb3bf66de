"""The coverage matrix: every checklist rule × the scenarios that can measure it × the last result.

A scenario *can measure* a rule when the rule applies to the scenario's kind (``applies_to``,
:mod:`harness.scenario.kinds`) and the scenario, at the given time scale, produces what the rule
reads: the rule's operation in its mix, a run at least as long as the rule's window, enough
requests (or monitored seconds) for a ratio's ``min_count``, the stage shape and lengths that
breaking point and spike recovery need, and a run long enough for a growth slope. Whether the
target exports what a monitored rule reads (the per-agent and storage metrics) is a property of
the target, not of the scenario: the last nightly's result column shows what really happened.

:func:`build_coverage` is pure (scenario files and a checklist in, a :class:`Coverage` out);
:func:`nightly_results` evaluates the runs of a nightly (read-only) and :func:`with_results` puts
them beside the rules. ``coverage.json`` (``kind`` + ``schema_version``, :func:`load_coverage`) is
what the nightly writes and the pages read; renderers compute nothing.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from harness.contract import rundir
from harness.contract.versioned import read_versioned_json, validate_as
from harness.scenario.kinds import STRESS_MIN_STAGES, run_kind
from harness.scenario.loader import ResolvedScenario, ScenarioError, load_scenario, resolve
from harness.verdict import derived
from harness.verdict.checklist import Checklist, ChecklistRule
from harness.verdict.gate import GateConfigError, evaluate_run
from harness.verdict.metrics import Source

COVERAGE_KIND: Literal["motherbox-perf/coverage"] = "motherbox-perf/coverage"
COVERAGE_FILE = "coverage.json"
SCHEMA_VERSION = 1
SUPPORTED_VERSIONS = (1,)
#: Result statuses, the most telling first: a rule judged by several steps of a night shows the
#: first of its statuses in this order (a failure anywhere is the news).
RESULT_ORDER = ("fail", "warn", "pass", "not-measured", "not-evaluated")


class CoverageFileError(ValueError):
    """coverage.json is missing, unreadable, of another kind or of an unsupported version."""


class ScenarioInfo(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    path: str
    kind: str
    kind_declared: bool
    duration_s: float  # at the coverage's time scale (and a nightly step's --duration)
    operations: list[str]


class NightResult(BaseModel):
    """One rule's result in one run of the nightly."""

    model_config = ConfigDict(extra="forbid")
    step: str
    scenario: str
    run_id: str | None
    status: str  # pass | warn | fail | not-measured | not-applicable | not-evaluated
    measured: str | None = None
    reason: str | None = None


class RuleCoverage(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: str
    section: str
    title: str
    rule: str
    applies_to: list[str]
    measured_by: list[str]  # scenario names that can measure it
    blocked: dict[str, str] = Field(default_factory=dict)  # applicable scenario -> why it cannot
    uncovered_reason: str | None = None  # set when measured_by is empty
    night: list[NightResult] = Field(default_factory=list)  # the nightly's runs that judged it
    night_status: str | None = None  # the headline of ``night`` (RESULT_ORDER); None: no nightly
    night_measured: str | None = None  # the headline result's figure (None when not judged) ...
    night_reason: str | None = None  # ... and why it has none, or what bounds it
    night_text: str | None = None  # both, as the pages show them


class Coverage(BaseModel):
    model_config = ConfigDict(extra="forbid")
    kind: Literal["motherbox-perf/coverage"] = COVERAGE_KIND
    schema_version: int = SCHEMA_VERSION
    checklist: str
    time_scale: float
    scenarios: list[ScenarioInfo]
    scenario_errors: list[str] = Field(default_factory=list)  # files that could not be read
    rules: list[RuleCoverage]
    nightly_id: str | None = None

    @property
    def uncovered(self) -> list[RuleCoverage]:
        return [r for r in self.rules if not r.measured_by]

    @property
    def covered(self) -> list[RuleCoverage]:
        return [r for r in self.rules if r.measured_by]


@dataclass(frozen=True)
class ScenarioSource:
    """A scenario file to cover, with the ``--duration`` a nightly step gives it (seconds)."""

    path: Path
    duration_s: float | None = None
    step: str | None = None


@dataclass(frozen=True)
class StepRun:
    """A nightly step's run folder (and the baseline it was compared with) to take results from."""

    step: str
    scenario: str
    run_dir: Path | None
    baseline: Path | None = None


# ---------------------------------------------------------------- the static matrix

Resolved = list[tuple[ScenarioInfo, ResolvedScenario]]


def scenario_files(folder: Path) -> list[ScenarioSource]:
    return [ScenarioSource(path) for path in sorted(folder.glob("*.yaml")) + sorted(folder.glob("*.yml"))]


def build_coverage(
    sources: Iterable[ScenarioSource], checklist: Checklist, *, time_scale: float = 1.0
) -> Coverage:
    """Which scenarios can measure each rule of ``checklist`` at ``time_scale``."""
    resolved: Resolved = []
    errors: list[str] = []
    for source in sources:
        try:
            resolved.append(_scenario(source, time_scale))
        except ScenarioError as exc:
            errors.append(str(exc.issues[0]) if exc.issues else str(exc))
        except ValueError as exc:
            errors.append(f"{source.path}: {exc}")
    rules = [_rule_coverage(entry, resolved) for entry in checklist.rules]
    return Coverage(
        checklist=str(checklist.path),
        time_scale=time_scale,
        scenarios=[info for info, _ in resolved],
        scenario_errors=errors,
        rules=rules,
    )


def _scenario(source: ScenarioSource, time_scale: float) -> tuple[ScenarioInfo, ResolvedScenario]:
    scenario = load_scenario(source.path)
    scaled = resolve(scenario, time_scale=time_scale, duration_s=source.duration_s, source=str(source.path))
    kind, declared = run_kind(scenario.model_dump())
    info = ScenarioInfo(
        name=scenario.name,
        path=str(source.path),
        kind=kind,
        kind_declared=declared,
        duration_s=round(scaled.duration_s, 3),
        operations=sorted({item.label for item in scenario.mix}),
    )
    return info, scaled


def _rule_coverage(
    entry: ChecklistRule, scenarios: list[tuple[ScenarioInfo, ResolvedScenario]]
) -> RuleCoverage:
    measured_by: list[str] = []
    blocked: dict[str, str] = {}
    for info, scaled in scenarios:
        if not entry.applies(info.kind):
            continue
        why = cannot_measure(entry, info, scaled)
        if why is None:
            measured_by.append(info.name)
        else:
            blocked[info.name] = why
    return RuleCoverage(
        id=entry.id,
        section=entry.section_title,
        title=entry.title,
        rule=entry.rule.text,
        applies_to=list(entry.applies_to),
        measured_by=measured_by,
        blocked=blocked,
        uncovered_reason=None if measured_by else _uncovered_reason(entry, blocked),
    )


def _uncovered_reason(entry: ChecklistRule, blocked: Mapping[str, str]) -> str:
    if blocked:
        return "; ".join(f"{name}: {why}" for name, why in blocked.items())
    kinds = ", ".join(entry.applies_to)
    return f"no scenario of a kind it applies to ({kinds})"


def cannot_measure(entry: ChecklistRule, info: ScenarioInfo, scaled: ResolvedScenario) -> str | None:
    """Why a run of this scenario (of a kind the rule applies to) cannot measure the rule; None
    when it can."""
    rule = entry.rule
    if rule.operation is not None and rule.operation not in info.operations:
        return f"runs no {rule.operation} operation"
    if rule.definition.source is Source.MONITOR and not scaled.scenario.monitor.enabled:
        return "its monitor is disabled"
    if rule.window is not None and scaled.duration_s < rule.window.seconds:
        return f"{_length(scaled)} is shorter than the rule's window ({rule.window.seconds:g} s)"
    if entry.min_count is not None:
        short = _too_little_data(entry, scaled)
        if short is not None:
            return short
    return _derived_needs(rule.metric, scaled)


def _length(scaled: ResolvedScenario) -> str:
    return f"the run ({scaled.duration_s:g} s at time scale {scaled.time_scale:g})"


def _too_little_data(entry: ChecklistRule, scaled: ResolvedScenario) -> str | None:
    rule = entry.rule
    assert entry.min_count is not None
    if rule.definition.source is Source.MONITOR:  # monitored seconds with lookups
        if scaled.duration_s < entry.min_count:
            return f"{_length(scaled)} has fewer monitored seconds than the {entry.min_count} a ratio needs"
        return None
    if not scaled.is_open:
        return None  # a closed model's request count is not planned
    sends = sum((s.end_s - s.start_s) * s.mean_rate for s in scaled.stages)
    if rule.operation is not None:
        weights = {item.label: item.weight for item in scaled.scenario.mix}
        sends *= weights.get(rule.operation, 0.0) / sum(weights.values())
    if sends < entry.min_count:
        what = f"{rule.operation} requests" if rule.operation else "requests"
        return f"plans about {sends:,.0f} {what} < {entry.min_count:,} (min_count)"
    return None


def _derived_needs(metric: str, scaled: ResolvedScenario) -> str | None:
    """The shape or length a derived metric needs (the checks of :mod:`harness.verdict.derived`)."""
    if metric in ("rss_growth", "storage_growth"):
        needed = derived.MIN_GROWTH_RUN_S if metric == "rss_growth" else derived.MIN_STORAGE_RUN_S
        if scaled.duration_s < needed:
            return f"{_length(scaled)} is too short for a growth slope (needs >= {needed} s)"
    if metric == "breaking_point":
        stages = _rising(scaled)
        if len(stages) < STRESS_MIN_STAGES:
            return "has no climb of >= 3 rising stages"
        shortest = min(end - start for start, end in stages)
        if shortest < derived.MIN_STAGE_S:
            return f"too short at time scale {scaled.time_scale:g}: stages of {shortest:.1f} s (needs >= 2 s)"
    if metric == "recovery_time":
        return _spike_needs(scaled)
    return None


def _rising(scaled: ResolvedScenario) -> list[tuple[float, float]]:
    out: list[tuple[float, float]] = []
    previous = None
    for stage in scaled.stages:
        if previous is not None and stage.mean_rate <= previous:
            break
        out.append((stage.start_s, stage.end_s))
        previous = stage.mean_rate
    return out


def _spike_needs(scaled: ResolvedScenario) -> str | None:
    rates = [s.mean_rate for s in scaled.stages]
    for index in range(1, len(rates) - 1):
        if rates[index] > 1.5 * rates[index - 1] and rates[index] > 1.5 * rates[index + 1]:
            before = scaled.stages[index - 1]
            after_s = scaled.duration_s - scaled.stages[index].end_s
            if before.end_s - before.start_s < derived.MIN_STAGE_S or after_s < derived.RECOVERY_HOLD_S:
                return (
                    f"too short at time scale {scaled.time_scale:g}: {after_s:.1f} s after the spike "
                    f"(recovery needs >= {derived.RECOVERY_HOLD_S} s)"
                )
            return None
    return "has no spike stage"


# ---------------------------------------------------------------- the last nightly's results


def nightly_results(steps: Iterable[StepRun], checklist: Checklist) -> dict[str, list[NightResult]]:
    """rule id -> its result in each step's run (checklist rules only; read-only evaluation)."""
    out: dict[str, list[NightResult]] = {}
    for step in steps:
        for rule_id, result in _step_results(step, checklist).items():
            out.setdefault(rule_id, []).append(result)
    return out


def _step_results(step: StepRun, checklist: Checklist) -> dict[str, NightResult]:
    if step.run_dir is None:
        return {}
    try:
        verdict = evaluate_run(step.run_dir, checklist=checklist.path, baseline=step.baseline)
    except (GateConfigError, rundir.RunDirError) as exc:
        failed = NightResult(
            step=step.step, scenario=step.scenario, run_id=None, status="not-evaluated", reason=str(exc)
        )
        return {entry.id: failed for entry in checklist.rules}
    return {
        r.id: NightResult(
            step=step.step,
            scenario=step.scenario,
            run_id=verdict.run_id,
            status=r.status,
            measured=r.measured_display,
            reason=r.reason,
        )
        for r in verdict.rules
        if r.origin == "checklist"
    }


def with_results(coverage: Coverage, results: Mapping[str, list[NightResult]], nightly_id: str) -> Coverage:
    """The matrix with each rule's results in the nightly (applicable runs only) and its best status."""
    rules = []
    for rule in coverage.rules:
        judged = [r for r in results.get(rule.id, []) if r.status != "not-applicable"]
        headline = min(judged, key=lambda r: _rank(r.status), default=None)
        update: dict[str, object] = {"night": judged}
        if headline is not None:
            measured = headline.measured if headline.status in ("pass", "warn", "fail") else None
            update |= {
                "night_status": headline.status,
                "night_measured": measured,
                "night_reason": headline.reason,
                "night_text": result_text(measured, headline.reason),
            }
        rules.append(rule.model_copy(update=update))
    return coverage.model_copy(update={"rules": rules, "nightly_id": nightly_id})


def result_text(measured: str | None, reason: str | None) -> str | None:
    """A judged figure with what bounds it ("300 req/s (no breaking point reached within 300 req/s;
    a lower bound)"), or the reason there is none; a not-measured ratio's figure is never shown."""
    if measured is None:
        return reason
    return f"{measured} ({reason})" if reason else measured


def _rank(status: str) -> int:
    return RESULT_ORDER.index(status) if status in RESULT_ORDER else len(RESULT_ORDER)


# ---------------------------------------------------------------- coverage.json


def write_coverage(coverage: Coverage, out_dir: Path) -> Path:
    path = out_dir / COVERAGE_FILE
    rundir.write_json_atomic(path, coverage.model_dump())
    return path


def load_coverage(path: Path) -> Coverage:
    """Load ``coverage.json`` (a file, or a folder holding one)."""
    if path.is_dir():
        path = path / COVERAGE_FILE
    data = read_versioned_json(
        path, supported=SUPPORTED_VERSIONS, error=CoverageFileError, kind=COVERAGE_KIND
    )
    return validate_as(Coverage, data, path, CoverageFileError)
