from __future__ import annotations

import json
import shutil
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from harness.verdict.gate import gate_run
from harness.verdict.model import load_verdict
from tests.harness.verdict.conftest import with_scenario


def copy_run(src: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(src, tmp_path / src.name))


def test_passing_run_exits_0_and_writes_outputs(runs: dict[str, Path], tmp_path: Path) -> None:
    run = copy_run(runs["good"], tmp_path)
    assert gate_run(run, checklist=None, rules=["p95(command_ack) < 100ms"], baseline=None) == 0
    verdict = load_verdict(run)
    assert verdict is not None and not verdict.gate_failed
    assert (run / "summary.md").read_text().startswith("### Performance gate")
    data = json.loads((run / "verdict.json").read_text())
    assert {"status", "rules", "counts"} <= data.keys()


def test_failing_run_exits_1_and_names_the_rule(
    runs: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = copy_run(runs["slow"], tmp_path)
    assert gate_run(run, checklist=None, rules=["p95(command_ack) < 100ms"], baseline=None) == 1
    assert "p95(command_ack) < 100ms" in capsys.readouterr().err
    verdict = load_verdict(run)
    assert verdict is not None and "p95(command_ack) < 100ms" in verdict.failed
    failed = next(r for r in verdict.rules if r.text == "p95(command_ack) < 100ms")
    assert failed.measured is not None and failed.measured > 100


def test_bad_rule_exits_2_with_rule_text_and_position(
    runs: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = copy_run(runs["good"], tmp_path)
    assert gate_run(run, checklist=None, rules=["p95(command_ack) < 100"], baseline=None) == 2
    err = capsys.readouterr().err
    assert "'p95(command_ack) < 100'" in err and "position 23" in err
    assert not (run / "verdict.json").exists()


def test_bad_scenario_gate_exits_2(
    runs: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = with_scenario(copy_run(runs["good"], tmp_path), gates=["p95 << 1s"])
    assert gate_run(run, checklist=None, rules=[], baseline=None) == 2
    assert "'p95 << 1s'" in capsys.readouterr().err


def test_scenario_gates_are_applied(runs: dict[str, Path], tmp_path: Path) -> None:
    run = with_scenario(copy_run(runs["slow"], tmp_path), gates=["p95(command_ack) < 100ms"])
    assert gate_run(run, checklist=None, rules=[], baseline=None) == 1


def test_bad_checklist_exits_2_with_file_line_field(
    runs: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    checklist = tmp_path / "bad.yaml"
    checklist.write_text("sections:\n  - id: s\n    rules:\n      - id: a\n        rule: 'p95 < 1 parsec'\n")
    assert gate_run(runs["good"], checklist=checklist, rules=[], baseline=None) == 2
    err = capsys.readouterr().err
    assert f"{checklist}:5" in err and "sections[0].rules[0].rule" in err


def test_not_a_run_folder_exits_2(tmp_path: Path) -> None:
    assert gate_run(tmp_path, checklist=None, rules=[], baseline=None) == 2


def test_aborted_run_exits_3_but_still_writes_the_verdict(runs: dict[str, Path], tmp_path: Path) -> None:
    run = copy_run(runs["aborted"], tmp_path)
    assert gate_run(run, checklist=None, rules=[], baseline=None) == 3
    verdict = load_verdict(run)
    assert verdict is not None and verdict.incomplete
    assert "INCOMPLETE" in (run / "summary.md").read_text()


def test_required_rule_without_data_fails_the_gate(runs: dict[str, Path], tmp_path: Path) -> None:
    run = copy_run(runs["no_monitor"], tmp_path)
    assert gate_run(run, checklist=None, rules=["cpu < 80%"], baseline=None) == 1


def test_junit_parses_back_with_one_testcase_per_rule(runs: dict[str, Path], tmp_path: Path) -> None:
    run = copy_run(runs["slow"], tmp_path)
    rules = ["p95(command_ack) < 100ms", "p95 < 1h", "cpu < 80% <script>"[:10]]
    gate_run(run, checklist=None, rules=rules, baseline=None)
    verdict = load_verdict(run)
    assert verdict is not None
    root = ET.parse(run / "junit.xml").getroot()
    cases = root.findall("./testsuite/testcase")
    assert len(cases) == len(verdict.rules)
    by_name = {case.get("name"): case for case in cases}
    failure = by_name["p95(command_ack) < 100ms"].find("failure")
    assert failure is not None and "measured" in (failure.get("message") or "")
    assert "threshold < 100 ms" in (failure.get("message") or "")
    assert by_name["p95 < 1h"].find("failure") is None
    suite = root.find("testsuite")
    failed_cases = [c for c in cases if c.find("failure") is not None]
    assert suite is not None and int(suite.get("failures", "0")) == len(failed_cases) >= 1
    assert {c.get("name") for c in failed_cases} == set(verdict.failed)
    skipped = [c for c in cases if c.find("skipped") is not None]
    assert int(suite.get("skipped", "0")) == len(skipped) > 0


def test_github_step_summary_is_appended(
    runs: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    summary = tmp_path / "step_summary.md"
    summary.write_text("earlier step\n")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    gate_run(copy_run(runs["good"], tmp_path), checklist=None, rules=[], baseline=None)
    text = summary.read_text()
    assert text.startswith("earlier step\n") and "### Performance gate" in text


def test_baseline_rule_via_gate(runs: dict[str, Path], tmp_path: Path) -> None:
    run = copy_run(runs["slow"], tmp_path)
    code = gate_run(run, checklist=None, rules=["p95 <= 2x baseline"], baseline=runs["good"])
    assert code == 1
    verdict = load_verdict(run)
    assert verdict is not None and verdict.baseline_run == "good"


def test_summary_markdown_lists_a_repeated_rule_once(runs: dict[str, Path], tmp_path: Path) -> None:
    # The guide checklist has the same rule: two results, one row (but two JUnit testcases).
    run = copy_run(runs["slow"], tmp_path)
    gate_run(run, checklist=None, rules=["p95(command_ack) < 100ms"], baseline=None)
    assert (run / "summary.md").read_text().count("`p95(command_ack) < 100ms`") == 1
    names = [c.get("name") for c in ET.parse(run / "junit.xml").getroot().iter("testcase")]
    assert names.count("p95(command_ack) < 100ms") == 2
