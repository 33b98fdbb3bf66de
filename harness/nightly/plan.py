"""The nightly steps: what each runs (:class:`NightlyStep`), choosing them (``--steps``) and
describing them without running (``--plan``).

========== ===================================== =========================================
step       scenario                              what it adds
========== ===================================== =========================================
steady     scenarios/steady_state.yaml           the reference numbers
spike      scenarios/spike_test.yaml             recovery time after the spike
stress     scenarios/stress_test.yaml            breaking point
endurance  scenarios/endurance_test.yaml         leak trend (RSS slope), shortened to 2 h x scale
                                                 but >= 10 min (the growth rules' minimum)
profile    scenarios/profile.yaml (or smoke)     CPU profile (py-spy) for differential hotspots
team_      scenarios/team_creation.yaml          team creation times (1, 5, 10 agents)
creation
========== ===================================== =========================================

At the default scale 0.05 the load itself takes about 17 minutes (steady 3 min, spike 45 s,
stress 105 s, endurance 10 min, profile <= 1 min, team creation 1 min) plus start-up and drain
of each run, inside the 30-minute budget. Every rule of the guide's checklist is measured by one
of these steps at that scale (``coverage.json`` of each night, ``harness checklist coverage``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from harness.scenario.loader import ScenarioError, load_scenario, resolve
from harness.verdict.derived import MIN_GROWTH_RUN_S

DEFAULT_SCALE = 0.05
ENDURANCE_HOURS = 2.0  # the 24 h endurance test is shortened to this before scaling


@dataclass(frozen=True)
class NightlyStep:
    name: str
    scenario: Path
    fallback: Path | None = None  # used when ``scenario`` is not in the scenarios folder
    duration_hours: float | None = None  # shorten before scaling
    profile: str | None = None
    min_duration_s: float = 20.0

    def scenario_path(self) -> Path:
        if self.scenario.is_file() or self.fallback is None:
            return self.scenario
        return self.fallback

    def duration_arg(self, scale: float, natural_s: float | None = None) -> str | None:
        """``--duration``: the shortened length, or the floor when the scaled run would be too short."""
        if self.duration_hours is not None:
            return f"{max(self.min_duration_s, self.duration_hours * 3600.0 * scale):.0f}s"
        if natural_s is not None and natural_s < self.min_duration_s:
            return f"{self.min_duration_s:.0f}s"
        return None


def default_steps(scenarios_dir: Path = Path("scenarios")) -> list[NightlyStep]:
    return [
        NightlyStep("steady", scenarios_dir / "steady_state.yaml"),
        NightlyStep("spike", scenarios_dir / "spike_test.yaml"),
        NightlyStep("stress", scenarios_dir / "stress_test.yaml"),
        NightlyStep(
            "endurance",
            scenarios_dir / "endurance_test.yaml",
            duration_hours=ENDURANCE_HOURS,
            min_duration_s=float(MIN_GROWTH_RUN_S),  # shorter: the RSS growth rule cannot judge it
        ),
        NightlyStep(
            "profile",
            scenarios_dir / "profile.yaml",
            scenarios_dir / "smoke.yaml",
            profile="cpu",
            min_duration_s=30.0,
        ),
        NightlyStep("team_creation", scenarios_dir / "team_creation.yaml"),
    ]


def natural_seconds(step: NightlyStep, scale: float) -> float | None:
    """Scaled load duration of the step's scenario file; None if it cannot be read or is invalid."""
    try:
        scenario = load_scenario(step.scenario_path())
    except ScenarioError:
        return None  # the run reports the scenario's errors; the plan shows "?"
    return float(resolve(scenario, time_scale=scale).duration_s)


def estimated_seconds(step: NightlyStep, scale: float) -> float | None:
    """Load duration the step will actually run (without start-up and drain)."""
    natural = natural_seconds(step, scale)
    duration = step.duration_arg(scale, natural)
    return float(duration.removesuffix("s")) if duration else natural


def select_steps(steps: list[NightlyStep], names: str | None) -> list[NightlyStep]:
    """The steps named in the comma list ``names`` (all when None); ValueError for an unknown one."""
    if not names:
        return steps
    wanted = [s.strip() for s in names.split(",") if s.strip()]
    unknown = sorted(set(wanted) - {s.name for s in steps})
    if unknown:
        raise ValueError(f"--steps: unknown step(s) {unknown}")
    return [s for s in steps if s.name in wanted]


def plan_lines(steps: list[NightlyStep], time_scale: float, versus: str | None = None) -> list[str]:
    """One line per step (scenario, load time, profiling) and the total load time; ``versus``: the
    ref each step is run against as a duet (``--baseline-ref``)."""
    lines, total = [], 0.0
    for step in steps:
        seconds = estimated_seconds(step, time_scale)
        total += seconds or 0.0
        shown = "?" if seconds is None else f"{seconds:.0f} s"
        extra = "  + cpu profile" if step.profile else ""
        lines.append(f"{step.name:10} {step.scenario_path()}  load {shown}{extra}")
    lines.append(f"total load time {total / 60:.1f} min (+ start-up and drain per step)")
    if versus is not None:
        lines.append(f"each step a duet: {versus} (side a) and the working tree (side b) under one load")
    return lines
