"""The nightly's coverage matrix: its steps' scenarios (as the night ran them: time scale and
``--duration``) × the guide's rules × each rule's result in the night's runs (``coverage.json``
beside ``nightly.json``; the nightly page and the index read it)."""

from __future__ import annotations

from pathlib import Path

from harness.nightly.outputs import NightlyResult
from harness.nightly.plan import NightlyStep, natural_seconds
from harness.verdict.checklist import Checklist, load_checklist
from harness.verdict.coverage import (
    Coverage,
    ScenarioSource,
    StepRun,
    build_coverage,
    nightly_results,
    with_results,
)


def step_runs(result: NightlyResult) -> list[StepRun]:
    """Each step's complete run folder and the baseline it was compared with."""
    return [
        StepRun(
            step=s.step,
            scenario=s.scenario,
            run_dir=Path(s.run_dir) if s.run_dir and s.run_status == "complete" else None,
            baseline=Path(s.baseline) if s.baseline else None,
        )
        for s in result.steps
    ]


def step_sources(steps: list[NightlyStep], time_scale: float) -> list[ScenarioSource]:
    """The steps' scenarios with the ``--duration`` each step gives its run (None: as scaled)."""
    sources = []
    for step in steps:
        duration = step.duration_arg(time_scale, natural_seconds(step, time_scale))
        seconds = float(duration.removesuffix("s")) if duration else None
        sources.append(ScenarioSource(step.scenario_path(), seconds, step.name))
    return sources


def nightly_coverage(
    steps: list[NightlyStep], result: NightlyResult, checklist: Checklist | None = None
) -> Coverage:
    """The matrix of the night: what its steps can measure and what their runs measured."""
    checklist = checklist or load_checklist()
    coverage = build_coverage(step_sources(steps, result.time_scale), checklist, time_scale=result.time_scale)
    return with_results(coverage, nightly_results(step_runs(result), checklist), result.nightly_id)
