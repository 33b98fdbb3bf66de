"""``harness checklist coverage`` on the shipped scenarios, with and without a nightly."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from harness.cli import main
from harness.nightly.outputs import NightlyResult, StepResult, write_nightly_json
from harness.testing.synthetic import SyntheticSpec, make_run
from harness.verdict.checklist import load_checklist
from harness.verdict.coverage import load_coverage
from tests.harness.conftest import ROOT

SCENARIOS = str(ROOT / "scenarios")


def row(out: str, rule_id: str) -> str:
    return next(line for line in out.splitlines() if re.search(rf"│ {rule_id}\s+│", line))


def test_coverage_of_the_shipped_scenarios(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out_json = tmp_path / "coverage.json"
    code = main(
        [
            "checklist",
            "coverage",
            "--scenarios",
            SCENARIOS,
            "--reports-dir",
            str(tmp_path),
            "--json",
            str(out_json),
        ]
    )
    out = capsys.readouterr().out
    assert code == 0
    total = len(load_checklist().rules)
    assert f"{total} of {total} rules measured by a scenario" in out
    assert "team_creation" in row(out, "agent_creation_team_5")
    assert row(out, "spike_recovery").count("spike_test") == 1
    assert "stress_test" in row(out, "stress_breaking_point")
    assert "steady_state" in row(out, "storage_growth") and "smoke" not in row(out, "storage_growth")
    assert row(out, "command_ack").rstrip(" │").endswith("-")  # no nightly found: no result column
    assert [r.id for r in load_coverage(out_json).rules] == [r.id for r in load_checklist().rules]


def test_coverage_at_a_scale_too_small_lists_the_uncovered_rules_with_why(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["checklist", "coverage", "--scenarios", SCENARIOS, "--reports-dir", str(tmp_path)]
    assert main([*argv, "--time-scale", "0.01"]) == 0
    out = capsys.readouterr().out
    assert (
        "not measured by any scenario: stress_breaking_point: stress_test: too short at time scale 0.01"
        in out
    )


def test_coverage_with_the_last_nightly(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    reports = tmp_path / "reports"
    run_dir = make_run(reports / "runs", SyntheticSpec(run_id="n1", rate=50.0, duration_s=40.0))
    for nightly_id in ("20260101T000000Z", "20260102T000000Z"):  # the newest is taken
        step = StepResult(
            step="smoke", scenario="smoke", exit_code=0, run_dir=str(run_dir), run_status="complete"
        )
        night = NightlyResult(
            nightly_id=nightly_id,
            time_scale=0.5,
            started_at="2026-01-01T00:00:00+00:00",
            ended_at="2026-01-01T00:01:00+00:00",
            steps=[step] if nightly_id == "20260102T000000Z" else [],
            pages={},
        )
        write_nightly_json(night, reports / "nightly" / nightly_id)
    assert main(["checklist", "coverage", "--scenarios", SCENARIOS, "--reports-dir", str(reports)]) == 0
    out = capsys.readouterr().out
    assert "Checklist coverage at time scale 0.5, nightly 20260102T000000Z" in out
    assert "│ pass: " in row(out, "command_ack")
    assert "no run it applies to" in row(out, "load_p95")


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--scenarios", "no/such/folder"], "--scenarios no/such/folder: not a folder"),
        (["--nightly", "no/such/nightly"], "--nightly no/such/nightly: no nightly.json"),
        (["--time-scale", "-1"], "--time-scale -1: must be a finite number > 0"),
    ],
)
def test_bad_arguments_are_one_line_and_exit_2(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["checklist", "coverage", *argv]) == 2
    err = capsys.readouterr().err.strip()
    assert err == f"harness checklist coverage: {message}" or (message in err and "\n" not in err)
