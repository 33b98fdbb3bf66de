"""The coverage matrix: which guide rules the shipped scenarios (and the nightly's steps) measure."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.nightly.coverage import step_sources
from harness.nightly.outputs import NightlyResult, StepResult
from harness.nightly.plan import DEFAULT_SCALE, NightlyStep, default_steps
from harness.nightly.suite import run_nightly
from harness.report.index_page import build_index
from harness.testing.synthetic import SyntheticSpec, make_run
from harness.verdict.checklist import load_checklist
from harness.verdict.coverage import (
    COVERAGE_FILE,
    Coverage,
    CoverageFileError,
    StepRun,
    build_coverage,
    load_coverage,
    nightly_results,
    scenario_files,
    with_results,
    write_coverage,
)
from tests.harness.conftest import ROOT
from tests.harness.nightly.test_suite import synthetic_runner

SCENARIOS = ROOT / "scenarios"


def rules_of(coverage: Coverage) -> dict[str, list[str]]:
    return {rule.id: rule.measured_by for rule in coverage.rules}


def test_the_shipped_scenarios_measure_every_guide_rule() -> None:
    coverage = build_coverage(scenario_files(SCENARIOS), load_checklist())
    assert coverage.scenario_errors == []
    by = rules_of(coverage)
    assert coverage.uncovered == [], [(r.id, r.uncovered_reason) for r in coverage.uncovered]
    assert set(by) == {entry.id for entry in load_checklist().rules}
    for rule_id in ("agent_creation_single", "agent_creation_team_5", "agent_creation_team_10"):
        assert by[rule_id] == ["team_creation"]
    assert by["spike_recovery"] == ["spike_test"]
    assert by["stress_breaking_point"] == by["messages_per_second"] == ["stress_test"]
    assert by["endurance_memory"] == ["endurance_test"]
    assert {"steady_state", "endurance_test"} <= set(by["storage_growth"])
    assert {"steady_state", "endurance_test"} <= set(by["memory_per_agent"]) & set(by["cpu_per_agent"])
    assert "smoke" in by["command_ack"] and "smoke" not in by["load_p95"]  # steady-state expectations
    assert set(by["concurrent_requests"]) == {"spike_test", "stress_test"}


def test_the_nightly_steps_measure_every_guide_rule_at_the_default_scale() -> None:
    """The issue's goal: each rule measured by at least one nightly step at the default scale
    (the endurance step runs >= 10 min for the RSS growth rule, team creation has its step)."""
    sources = step_sources(default_steps(SCENARIOS), DEFAULT_SCALE)
    coverage = build_coverage(sources, load_checklist(), time_scale=DEFAULT_SCALE)
    assert coverage.uncovered == [], [(r.id, r.uncovered_reason) for r in coverage.uncovered]
    by = rules_of(coverage)
    assert by["endurance_memory"] == ["endurance_test"]
    assert "profile" not in by["storage_growth"]  # 30 s at the nightly: too short for a slope
    blocked = next(r for r in coverage.rules if r.id == "storage_growth").blocked
    assert blocked["profile"].endswith("too short for a growth slope (needs >= 60 s)")


def test_a_scale_too_small_for_a_rule_says_why() -> None:
    coverage = build_coverage(scenario_files(SCENARIOS), load_checklist(), time_scale=0.01)
    breaking = next(r for r in coverage.rules if r.id == "stress_breaking_point")
    assert breaking.measured_by == []
    assert breaking.uncovered_reason == (
        "stress_test: too short at time scale 0.01: stages of 0.6 s (needs >= 2 s)"
    )
    growth = next(r for r in coverage.rules if r.id == "endurance_memory")
    assert growth.measured_by == ["endurance_test"]  # 24 h x 0.01 = 864 s >= 600 s


def test_an_unreadable_scenario_is_listed_not_fatal(tmp_path: Path) -> None:
    (tmp_path / "broken.yaml").write_text("name: broken\nload: {rate: -1}\n")
    coverage = build_coverage(scenario_files(tmp_path), load_checklist())
    assert len(coverage.scenario_errors) == 1 and "broken.yaml" in coverage.scenario_errors[0]
    assert (
        coverage.rules[0].uncovered_reason == "no scenario of a kind it applies to (smoke, steady, endurance)"
    )


@pytest.fixture(scope="module")
def night(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Coverage]:
    """A reports folder with one synthetic run as a nightly step's, and the night's matrix."""
    reports = tmp_path_factory.mktemp("reports")
    run_dir = make_run(reports / "runs", SyntheticSpec(run_id="night-smoke", rate=50.0, duration_s=40.0))
    result = NightlyResult(
        nightly_id="20260101T000000Z",
        time_scale=1.0,
        started_at="2026-01-01T00:00:00+00:00",
        ended_at="2026-01-01T00:01:00+00:00",
        steps=[
            StepResult(
                step="smoke", scenario="smoke", exit_code=0, run_dir=str(run_dir), run_status="complete"
            )
        ],
        pages={},
    )
    checklist = load_checklist()
    coverage = build_coverage(scenario_files(SCENARIOS), checklist)
    steps = [StepRun(s.step, s.scenario, Path(s.run_dir or ""), None) for s in result.steps]
    coverage = with_results(coverage, nightly_results(steps, checklist), result.nightly_id)
    write_coverage(coverage, reports / "nightly" / result.nightly_id)
    return reports, coverage


def test_the_last_nights_results_sit_beside_the_rules(night: tuple[Path, Coverage]) -> None:
    _, coverage = night
    rules = {r.id: r for r in coverage.rules}
    assert coverage.nightly_id == "20260101T000000Z"
    ack = rules["command_ack"]  # the synthetic run is a 40 s run: kind smoke
    assert ack.night_status == "pass" and ack.night_measured is not None
    assert [(r.step, r.status) for r in ack.night] == [("smoke", "pass")]
    assert rules["load_p95"].night_status is None and rules["load_p95"].night == []  # not applicable
    baseline = rules["baseline_regression"]
    assert baseline.night_status == "not-measured" and "no baseline" in (baseline.night_reason or "")


def test_coverage_json_round_trips_and_the_index_shows_the_matrix(night: tuple[Path, Coverage]) -> None:
    reports, coverage = night
    path = reports / "nightly" / str(coverage.nightly_id) / COVERAGE_FILE
    assert load_coverage(path) == coverage
    html = build_index(reports).read_text()
    assert 'id="coverage"' in html and "nightly/20260101T000000Z/nightly.md" in html
    assert "Agent creation (team of 10)" in html and "max(team_creation_10) &lt; 90min" in html
    assert f"{len(coverage.rules)} of {len(coverage.rules)} rules measured by a step" in html


def test_a_file_of_another_kind_is_refused(tmp_path: Path) -> None:
    (tmp_path / COVERAGE_FILE).write_text('{"kind": "motherbox-perf/nightly", "schema_version": 1}')
    with pytest.raises(CoverageFileError):
        load_coverage(tmp_path)


def test_the_nightly_writes_its_matrix_and_its_pages_show_it(tmp_path: Path) -> None:
    reports = tmp_path / "reports"
    steps = [
        NightlyStep("smoke", SCENARIOS / "smoke.yaml"),
        NightlyStep("spike", SCENARIOS / "spike_test.yaml"),
    ]
    result = run_nightly(
        steps, time_scale=0.05, reports_dir=reports, runner=synthetic_runner(0, set()), log=lambda _: None
    )
    out = reports / "nightly" / result.nightly_id
    coverage = load_coverage(out)
    assert result.pages["coverage"] == str(out / COVERAGE_FILE)
    assert [s.name for s in coverage.scenarios] == ["smoke", "spike_test"]
    rules = {r.id: r for r in coverage.rules}
    assert rules["spike_recovery"].measured_by == ["spike_test"]
    assert (
        rules["agent_creation_single"].uncovered_reason
        == "no scenario of a kind it applies to (team_creation)"
    )
    assert rules["command_ack"].night_status == "pass"  # the synthetic runs are 12 s: smoke runs
    markdown = (out / "nightly.md").read_text()
    assert "## Checklist coverage (time scale 0.05)" in markdown
    assert "- not measured by any step: agent_creation_single: no scenario of a kind" in markdown
    assert 'id="coverage"' in (reports / "index.html").read_text()


def test_every_guide_rule_declares_the_kinds_of_run_it_judges() -> None:
    """Applicability is declared, not defaulted: each rule (or its section) names its kinds."""
    import yaml

    from harness.scenario.kinds import ANY_KIND, RUN_KINDS
    from harness.verdict.checklist import DEFAULT_CHECKLIST

    sections = yaml.safe_load(DEFAULT_CHECKLIST.read_text())["sections"]
    for section in sections:
        for rule in section["rules"]:
            declared = rule.get("applies_to", section.get("applies_to"))
            assert declared is not None, rule["id"]
            kinds = [declared] if isinstance(declared, str) else declared
            assert set(kinds) <= {*RUN_KINDS, ANY_KIND}, rule["id"]


def test_the_version_1_fixture_loads() -> None:
    coverage = load_coverage(ROOT / "tests" / "fixtures" / "coverage" / "v1")
    assert coverage.schema_version == 1 and coverage.nightly_id == "20261201T111209Z"
    rules = {r.id: r for r in coverage.rules}
    assert rules["stress_breaking_point"].night_text == "158 req/s"
    assert (
        rules["spike_recovery"].night_status == "not-measured"
        and rules["spike_recovery"].night_measured is None
    )
