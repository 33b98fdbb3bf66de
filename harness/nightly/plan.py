"""Choosing the nightly steps (``--steps``) and describing them without running (``--plan``)."""

from __future__ import annotations

from harness.nightly.suite import NightlyStep, estimated_seconds


def select_steps(steps: list[NightlyStep], names: str | None) -> list[NightlyStep]:
    """The steps named in the comma list ``names`` (all when None); ValueError for an unknown one."""
    if not names:
        return steps
    wanted = [s.strip() for s in names.split(",") if s.strip()]
    unknown = sorted(set(wanted) - {s.name for s in steps})
    if unknown:
        raise ValueError(f"--steps: unknown step(s) {unknown}")
    return [s for s in steps if s.name in wanted]


def plan_lines(steps: list[NightlyStep], time_scale: float) -> list[str]:
    """One line per step (scenario, load time, profiling) and the total load time."""
    lines, total = [], 0.0
    for step in steps:
        seconds = estimated_seconds(step, time_scale)
        total += seconds or 0.0
        shown = "?" if seconds is None else f"{seconds:.0f} s"
        extra = "  + cpu profile" if step.profile else ""
        lines.append(f"{step.name:10} {step.scenario_path()}  load {shown}{extra}")
    lines.append(f"total load time {total / 60:.1f} min (+ start-up and drain per step)")
    return lines
