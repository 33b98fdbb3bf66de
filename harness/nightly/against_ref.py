"""``harness nightly --baseline-ref REF``: each step as a duet, REF against the working tree.

Instead of a run compared with a stored baseline from another night, each step is one
``harness ab`` run (:func:`harness.run.duet.run_duet`): side a is the reference runtime of REF's
commit (a temporary ``git worktree`` of ``--repo``), side b the runtime the harness starts from
its own working tree with the config the ordinary step would have used, both up at once under one
arrival schedule, so the machine's swing hits both alike (docs/regressions.md, "Nightly against a
ref"). REF is resolved to one commit before the first step, so every step compares with the same
code even if a branch moves during the night.

The step's ``run_dir`` is side b's run folder (its extras, e.g. the RSS slope, are read there) and
both sides are recorded in ``history.db`` by the run stage with the nightly tags (plus ``ab``,
``ab_side``); the step's ``paired`` field holds the paired verdict and the headline figures of its
``ab.json``, and its ``regressions`` the metrics the paired analysis called regressions.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from rich.console import Console

from harness.compare.ab_result import AbResult, PairedSettings
from harness.compare.compare import OVERALL
from harness.contract.exits import EXIT_USAGE
from harness.nightly.outputs import PairedFigure, PairedStep, PairedVerdict, StepResult
from harness.nightly.plan import NightlyStep, natural_seconds
from harness.run.calibrate import DEFAULT_CONFIG
from harness.run.duet import DuetOptions, DuetResult, SideTarget, run_duet
from harness.run.duet_targets import resolve_ref
from harness.scenario.loader import ScenarioError, load_scenario
from harness.scenario.units import parse_duration

DuetRunner = Callable[[DuetOptions], DuetResult]


@dataclass(frozen=True)
class BaselineRef:
    """What every step of the night is compared with: ``ref`` as given, the commit it named."""

    ref: str
    commit: str
    repo: Path
    settings: PairedSettings = field(default_factory=PairedSettings)
    cli: tuple[str, ...] = ()  # the nightly's command line, recorded in each side's manifest


def ref_commit(repo: Path, ref: str) -> str | None:
    """The commit ``ref`` names in the git repository ``repo``, or None (the duet's resolver)."""
    return resolve_ref(repo, ref) if repo.is_dir() else None


def resolve_baseline_ref(
    ref: str, repo: Path, settings: PairedSettings, cli: tuple[str, ...] = ()
) -> BaselineRef:
    """ValueError (one line, naming the option) when ``ref`` names no commit of ``repo``."""
    if not repo.is_dir():
        raise ValueError(f"--repo {repo}: not a directory")
    commit = ref_commit(repo, ref)
    if commit is None:
        raise ValueError(f"--baseline-ref: unknown git ref {ref!r} in {repo}")
    return BaselineRef(ref=ref, commit=commit, repo=repo, settings=settings, cli=cli)


def working_tree_config(scenario_path: Path) -> str:
    """The config side b starts the working tree's runtime with: the one the ordinary step's
    ``harness run`` would use. ValueError when the step cannot be a fair duet against a ref: the
    scenario targets a fixed URL, or names a config other than the default (side a, REF's
    runtime, always starts with its own default config)."""
    try:
        target = load_scenario(scenario_path).target
    except ScenarioError:
        return DEFAULT_CONFIG  # the duet reports the scenario's errors as the step's failure
    if target.url is not None:
        raise ValueError(
            f"{scenario_path}: target.url: --baseline-ref starts both runtimes; a fixed URL has no ref"
        )
    config = target.runtime_config or DEFAULT_CONFIG
    if config != DEFAULT_CONFIG:
        raise ValueError(
            f"{scenario_path}: target.runtime_config {config!r}: --baseline-ref runs REF with its "
            f"default config ({DEFAULT_CONFIG}), so the sides would differ in more than their code"
        )
    return config


def duet_options(
    step: NightlyStep,
    base: BaselineRef,
    *,
    time_scale: float,
    reports_dir: Path,
    tags: dict[str, str],
    console: Console,
) -> DuetOptions:
    """One step's duet: REF's commit (a) against the working tree (b), recorded in ``reports_dir``,
    for as long as the ordinary step would run and CPU-profiled when it would be."""
    scenario = step.scenario_path()
    duration = step.duration_arg(time_scale, natural_seconds(step, time_scale))
    return DuetOptions(
        scenario_path=scenario,
        a=SideTarget(ref=base.commit),
        b=SideTarget(config=working_tree_config(scenario)),
        settings=base.settings,
        time_scale=time_scale,
        duration_s=parse_duration(duration) if duration else None,
        reports_dir=reports_dir,
        repo=base.repo,
        tags=tags,
        quiet=True,
        cli=list(base.cli),
        console=console,
        profile=[step.profile] if step.profile == "cpu" else [],
    )


def capture_console() -> tuple[Console, io.StringIO]:
    """A console whose text the step keeps (the duet's tables and errors stay out of the night's log)."""
    buffer = io.StringIO()
    return Console(file=buffer, width=160, force_terminal=False, color_system=None), buffer


def error_of(output: str) -> str:
    """The duet's own error line(s) (``error: ...``, ``aborted: ...``), else the tail of its output."""
    lines = [line.strip() for line in output.splitlines()]
    errors = [line for line in lines if line.startswith(("error:", "aborted:"))]
    return "; ".join(errors) if errors else output.strip()[-500:]


# ---------------------------------------------------------------- the step's result


def paired_verdict(result: AbResult) -> PairedVerdict:
    """One word for the step: any regression, else any inconclusive metric, else any improvement."""
    statuses = {m.status for m in result.metrics}
    order: tuple[PairedVerdict, ...] = ("regression", "inconclusive", "improvement")
    return next((verdict for verdict in order if verdict in statuses), "no_change")


def headline_figures(result: AbResult) -> list[PairedFigure]:
    """The overall operation's judged metrics (p50, p95, p99, error rate, CPU per request)."""
    return [
        PairedFigure(
            metric=m.label,
            unit=m.unit,
            change_kind=m.change_kind,
            a=m.a,
            b=m.b,
            change=m.change,
            ci_low=m.ci_low,
            ci_high=m.ci_high,
            mde=m.mde,
            status=m.status,
        )
        for m in result.metrics
        if m.operation == OVERALL and m.status != "untested"
    ]


def paired_step(outcome: DuetResult) -> PairedStep:
    result: AbResult = outcome.result
    return PairedStep(
        verdict=paired_verdict(result),
        ab_dir=str(outcome.ab_dir),
        ab_json=str(outcome.json_path),
        ab_html=str(outcome.html_path),
        a_run_dir=result.a.run_dir,
        mde=result.headline.mde,
        headline=headline_figures(result),
        warnings=list(result.warnings),
    )


def regression_labels(result: AbResult) -> list[str]:
    """Every metric (any operation) the paired analysis called a regression, with its change."""
    return [m.label if m.change is None else f"{m.label} {m.change * 100:+.1f}%" for m in result.regressions]


def step_result(step: NightlyStep, outcome: DuetResult, output: str) -> StepResult:
    """The step as nightly.json records it: side b's run folder, the paired verdict, the error."""
    side_b = outcome.runs.get("b")
    manifest = side_b.manifest if side_b is not None else None
    statuses = [r.manifest.status if r.manifest is not None else None for r in outcome.runs.values()]
    complete = outcome.result is not None and all(s == "complete" for s in statuses)
    result = StepResult(
        step=step.name,
        scenario=manifest.scenario_name if manifest is not None else str(step.scenario_path()),
        exit_code=outcome.exit_code,
        run_dir=str(side_b.run_dir) if side_b is not None and side_b.run_dir is not None else None,
        run_status="complete" if complete else next((s for s in statuses if s != "complete"), None),
    )
    if complete:
        result.paired = paired_step(outcome)
        result.regressions = regression_labels(outcome.result)
    else:
        result.error = error_of(output)
    return result


def run_step_against_ref(
    step: NightlyStep,
    base: BaselineRef,
    *,
    time_scale: float,
    reports_dir: Path,
    tags: dict[str, str],
    duet: DuetRunner = run_duet,
) -> StepResult:
    """Run one step as a duet of REF and the working tree; its result (no extras yet)."""
    console, buffer = capture_console()
    try:
        options = duet_options(
            step, base, time_scale=time_scale, reports_dir=reports_dir, tags=tags, console=console
        )
    except ValueError as exc:  # checked before the night began: the file was edited since
        return StepResult(
            step=step.name,
            scenario=str(step.scenario_path()),
            exit_code=EXIT_USAGE,
            run_dir=None,
            run_status=None,
            error=str(exc),
        )
    return step_result(step, duet(options), buffer.getvalue())


def check_steps(steps: list[NightlyStep]) -> None:
    """ValueError naming the first step that cannot run against a ref (before anything runs)."""
    for step in steps:
        try:
            working_tree_config(step.scenario_path())
        except ValueError as exc:
            raise ValueError(f"step {step.name}: {exc}") from exc
