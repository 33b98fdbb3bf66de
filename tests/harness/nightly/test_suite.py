"""The nightly flow with a synthetic runner: baselines stored, regression found, pages regenerated."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

from harness.history import baseline
from harness.nightly.outputs import load_nightly
from harness.nightly.plan import NightlyStep
from harness.nightly.suite import run_nightly
from harness.run.launch import RunOutcome, RunRequest
from harness.testing.synthetic import SyntheticSpec, make_run

STEPS = [
    NightlyStep("steady", Path("steady_state.yaml")),
    NightlyStep("endurance", Path("endurance.yaml"), duration_hours=2),
]


def synthetic_runner(night: int, slow_steps: set[str]):
    def run(request: RunRequest) -> RunOutcome:
        step = request.tags["nightly_step"]
        spec = SyntheticSpec(
            scenario=f"{step}_scenario",
            seed=night * 10 + len(step),
            duration_s=12,
            latency_scale=1.25 if step in slow_steps else 1.0,
            rss_growth_mb_per_h=2000.0 if step == "endurance" else 0.0,
            git_commit=f"commit{night}",
            started_at=dt.datetime(2026, 11, 1 + night, 2, 0, tzinfo=dt.UTC),
            run_id=f"n{night}-{step}",
            tags=dict(request.tags),
        )
        return RunOutcome(0, make_run(request.reports_dir / "runs", spec), "")

    return run


def test_first_night_stores_baselines_then_a_slowdown_fails_the_nightly(tmp_path: Path) -> None:
    reports = tmp_path / "reports"
    quiet = lambda _: None  # noqa: E731
    first = run_nightly(
        STEPS, time_scale=0.01, reports_dir=reports, runner=synthetic_runner(0, set()), log=quiet
    )
    assert first.exit_code() == 0
    assert all(s.baseline_set for s in first.steps)
    assert {b.scenario for b in baseline.list_baselines(reports)} == {"steady_scenario", "endurance_scenario"}
    endurance = next(s for s in first.steps if s.step == "endurance")
    slope = endurance.extras.rss_slope_mb_per_h
    assert slope is not None and slope > 1000
    second_half = endurance.extras.rss_slope_second_half_mb_per_h
    assert second_half is not None and second_half > 1000

    second = run_nightly(
        STEPS, time_scale=0.01, reports_dir=reports, runner=synthetic_runner(1, {"steady"}), log=quiet
    )
    assert second.exit_code() == 1
    steady = next(s for s in second.steps if s.step == "steady")
    assert steady.regressions and steady.baseline is not None and steady.compare_html
    assert Path(steady.compare_html).is_file()
    assert not next(s for s in second.steps if s.step == "endurance").regressions
    history = (reports / "history.html").read_text()
    assert "steady_scenario" in history
    saved = json.loads((reports / "nightly" / second.nightly_id / "nightly.json").read_text())
    assert saved["exit_code"] == 1 and saved["regressions"]
    assert saved["steps"][0]["extras"] == {}  # only the fields of the step's kind are written
    assert load_nightly(reports / "nightly" / second.nightly_id).regressions == second.regressions
    assert (reports / "index.html").is_file() and second.pages["index"] == str(reports / "index.html")
    assert (reports / "nightly" / second.nightly_id / "nightly.md").read_text().count("|") > 10


def test_a_step_without_a_run_folder_is_exit_3(tmp_path: Path) -> None:
    result = run_nightly(
        STEPS[:1],
        reports_dir=tmp_path,
        runner=lambda request: RunOutcome(2, None, "scenario error"),
        log=lambda _: None,
    )
    assert result.exit_code() == 3 and result.failed_steps == ["steady"]
    assert result.steps[0].error == "scenario error"


def test_duration_of_shortened_and_floored_steps() -> None:
    endurance = NightlyStep("endurance", Path("e.yaml"), duration_hours=2)
    assert endurance.duration_arg(0.05) == "360s"
    assert endurance.duration_arg(0.001) == "20s"
    profile = NightlyStep("profile", Path("p.yaml"), min_duration_s=30)
    assert profile.duration_arg(0.05, natural_s=1.0) == "30s"
    assert profile.duration_arg(1.0, natural_s=60.0) is None


def test_spike_and_stress_steps_ask_the_verdict_stage(tmp_path: Path) -> None:
    steps = [NightlyStep("spike", Path("spike.yaml")), NightlyStep("stress", Path("stress.yaml"))]
    result = run_nightly(
        steps, time_scale=0.01, reports_dir=tmp_path, runner=synthetic_runner(0, set()), log=lambda _: None
    )
    spike, stress = result.steps
    # a steady synthetic run has no spike and no rising stages: the verdict stage says why
    assert spike.extras.recovery_time is None and "not a spike run" in (spike.extras.reason or "")
    assert stress.extras.breaking_point is None and "not a stress run" in (stress.extras.reason or "")
    assert set(spike.extras.shown()) == {"recovery_time", "recovery_time_display", "reason"}
