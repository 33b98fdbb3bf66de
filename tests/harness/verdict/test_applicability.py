"""Checklist rules judge only the runs they apply to, and ratios only with enough data."""

from __future__ import annotations

import json
import shutil
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from harness.contract.rundir import RunDirError
from harness.testing.synthetic import SyntheticSpec, make_run
from harness.verdict.checklist import ChecklistError, load_checklist
from harness.verdict.gate import evaluate_run, gate_run
from harness.verdict.model import RULE_STATUSES, Verdict, load_verdict
from harness.verdict.outputs import junit_xml, summary_markdown
from tests.harness.verdict.conftest import with_scenario

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "verdict"


def _copy(src: Path, tmp_path: Path, **scenario: object) -> Path:
    run = Path(shutil.copytree(src, tmp_path / src.name))
    return with_scenario(run, **scenario) if scenario else run


def _by_id(verdict: Verdict) -> dict[str, str]:
    return {r.id: r.status for r in verdict.rules}


def test_a_smoke_run_is_not_judged_by_steady_state_rules(runs: dict[str, Path], tmp_path: Path) -> None:
    verdict = evaluate_run(_copy(runs["good"], tmp_path, kind="smoke"))
    status = _by_id(verdict)
    for rule_id in ("load_p50", "load_error_rate", "cache_l2", "concurrent_requests", "spike_recovery"):
        assert status[rule_id] == "not-applicable", rule_id
    assert status["command_ack"] == "pass"  # per-operation targets apply to smoke runs
    assert verdict.run_kind == "smoke" and verdict.run_kind_declared is True
    assert verdict.counts["not-applicable"] == sum(1 for s in status.values() if s == "not-applicable")
    assert verdict.counts["warn"] == 0 and verdict.status == "pass"
    reason = next(r.reason for r in verdict.rules if r.id == "load_p50")
    assert reason == "applies to steady or endurance runs; this is a smoke run"
    assert next(r.measured for r in verdict.rules if r.id == "load_p50") is None


def test_the_same_run_declared_steady_is_judged_by_them(runs: dict[str, Path], tmp_path: Path) -> None:
    verdict = evaluate_run(_copy(runs["good"], tmp_path, kind="steady"))
    status = _by_id(verdict)
    assert status["load_p50"] == "pass" and status["cache_l2"] == "pass"
    assert status["spike_recovery"] == "not-applicable"
    assert verdict.run_kind == "steady"


def test_inferred_kind_is_said_so(runs: dict[str, Path], tmp_path: Path) -> None:
    verdict = evaluate_run(_copy(runs["good"], tmp_path))  # synthetic: one 40 s stage → smoke
    assert verdict.run_kind == "smoke" and verdict.run_kind_declared is False
    reason = next(r.reason for r in verdict.rules if r.id == "load_p50")
    assert reason is not None and reason.endswith("(inferred from its shape)")


def test_scenario_and_cli_rules_always_apply(runs: dict[str, Path], tmp_path: Path) -> None:
    run = _copy(runs["good"], tmp_path, kind="stress", gates=["p50 < 500ms"])
    verdict = evaluate_run(run, rules=["error_rate < 0.1%"])
    assert _by_id(verdict)["load_p50"] == "not-applicable"
    assert _by_id(verdict)["gates[0]"] == "pass" and _by_id(verdict)["rule[0]"] == "pass"


def test_a_cache_rate_on_few_seconds_of_lookups_is_not_enough_data(tmp_path: Path) -> None:
    run = make_run(tmp_path, SyntheticSpec(run_id="short", rate=20.0, duration_s=20.0))
    verdict = evaluate_run(with_scenario(run, kind="steady"))
    cache = next(r for r in verdict.rules if r.id == "cache_l2")
    assert cache.status == "not-measured"
    assert cache.reason is not None
    assert cache.reason.startswith("not enough data (20 seconds with L2 lookups < 30)")
    load_errors = next(r for r in verdict.rules if r.id == "load_error_rate")
    assert load_errors.status == "not-measured" and "requests < 1,000" in (load_errors.reason or "")


def test_enough_requests_are_judged(runs: dict[str, Path], tmp_path: Path) -> None:
    verdict = evaluate_run(_copy(runs["errors"], tmp_path, kind="steady"))  # 2,000 requests, 5 % errors
    load_errors = next(r for r in verdict.rules if r.id == "load_error_rate")
    assert load_errors.status == "fail"
    assert load_errors.measured is not None and load_errors.measured > 0.01


def test_gate_line_and_outputs_show_not_applicable_apart(
    runs: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = _copy(runs["good"], tmp_path, kind="smoke")
    assert gate_run(run, checklist=None, rules=[], baseline=None) == 0
    err = capsys.readouterr().err
    assert "gate PASS:" in err and "not applicable to this smoke run" in err
    verdict = load_verdict(run)
    assert verdict is not None
    markdown = summary_markdown(verdict)
    assert "checklist rules not applicable</summary>" in markdown
    table = markdown.split("<details>")[0]
    assert "`p50 < 500ms`" not in table  # not in the judged rules' table
    suite = ET.fromstring(junit_xml(verdict)).find("testsuite")
    assert suite is not None
    skipped = [c for c in suite if c.find("skipped") is not None]
    assert any("not applicable" in (c.find("skipped").get("message") or "") for c in skipped)  # type: ignore[union-attr]


def test_failed_rule_prints_its_hint(
    runs: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = _copy(runs["errors"], tmp_path, kind="smoke", gates=["error_rate < 1%"])
    assert gate_run(run, checklist=None, rules=[], baseline=None) == 1
    err = capsys.readouterr().err
    assert "failed: error_rate < 1%" in err
    assert "hint: Errors: read the errors-by-kind chart" in err


@pytest.mark.parametrize(
    ("extra", "field", "message"),
    [
        ("applies_to: [soak]", "applies_to", "unknown kind of run 'soak'"),
        ("applies_to: 3", "applies_to", "expected a kind or a list of kinds"),
        ("min_count: 10", "min_count", "only ratio rules take a minimum count"),
        ("min_count: 0", "min_count", "expected a whole number >= 1"),
    ],
)
def test_bad_applicability_names_the_field(tmp_path: Path, extra: str, field: str, message: str) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(
        f'sections:\n  - id: s\n    rules:\n      - id: r\n        rule: "p95 < 1s"\n        {extra}\n'
    )
    with pytest.raises(ChecklistError) as info:
        load_checklist(path)
    assert f"c.yaml:6: sections[0].rules[0].{field}: {message}" in str(info.value)


def test_section_applies_to_is_the_default_of_its_rules(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(
        "sections:\n  - id: s\n    applies_to: spike\n    rules:\n"
        '      - {id: a, rule: "p95 < 1s"}\n'
        '      - {id: b, rule: "error_rate < 1%", applies_to: [steady, stress], min_count: 50}\n'
    )
    rules = {r.id: r for r in load_checklist(path).rules}
    assert rules["a"].applies_to == ("spike",) and rules["a"].applies("spike")
    assert not rules["a"].applies("steady")
    assert rules["b"].applies_to == ("steady", "stress") and rules["b"].min_count == 50


def test_every_guide_rule_declares_its_kinds() -> None:
    text = (Path(load_checklist().path)).read_text()
    assert text.count("applies_to:") == len(load_checklist().rules)


@pytest.mark.parametrize("version", [1, 2])
def test_verdict_fixtures_of_every_version_load(tmp_path: Path, version: int) -> None:
    shutil.copy(FIXTURES / f"v{version}" / "verdict.json", tmp_path / "verdict.json")
    verdict = load_verdict(tmp_path)
    assert verdict is not None
    assert set(RULE_STATUSES) <= verdict.counts.keys()
    if version == 1:
        assert verdict.counts["not-applicable"] == 0 and verdict.run_kind is None
    else:
        assert verdict.counts["not-applicable"] > 0
        assert any(r.status == "not-applicable" for r in verdict.rules)
    summary_markdown(verdict)  # old and new files render
    junit_xml(verdict)


def test_an_unknown_verdict_version_is_refused(tmp_path: Path) -> None:
    data = json.loads((FIXTURES / "v2" / "verdict.json").read_text())
    data["schema_version"] = 99
    (tmp_path / "verdict.json").write_text(json.dumps(data))
    with pytest.raises(RunDirError):
        load_verdict(tmp_path)
