"""`harness gate` / `harness report` through the real CLI table (harness.cli.main)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from harness.cli import main
from harness.verdict.gate import gate_run


@pytest.fixture()
def reports(runs: dict[str, Path], tmp_path: Path) -> Path:
    folder = tmp_path / "reports"
    for name in ("good", "slow", "aborted"):
        shutil.copytree(runs[name], folder / "runs" / name)
    return folder


@pytest.mark.parametrize(
    ("run", "rule", "code"),
    [
        ("good", "p95(command_ack) < 100ms", 0),
        ("slow", "p95(command_ack) < 100ms", 1),
        ("good", "p95(command_ack) <> 100ms", 2),
        ("aborted", "p95(command_ack) < 100ms", 3),
    ],
)
def test_gate_exit_codes_through_the_cli(reports: Path, run: str, rule: str, code: int) -> None:
    assert main(["gate", run, "--reports-dir", str(reports), "--rule", rule]) == code


def test_gate_unknown_run_and_baseline_are_usage_errors(reports: Path) -> None:
    assert main(["gate", "nope", "--reports-dir", str(reports)]) == 2
    assert main(["gate", "good", "--reports-dir", str(reports), "--baseline", "nope"]) == 2


def test_report_through_the_cli(reports: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["report", "good", "--reports-dir", str(reports)]) == 0
    out = capsys.readouterr().out
    assert "report.html" in out and "index.html" in out
    assert (reports / "index.html").is_file()


def _gate(reports: Path, run: str, *extra: str) -> int:
    return main(["gate", run, "--reports-dir", str(reports), *extra])


def test_gate_writes_a_named_evaluation_and_never_the_runs_verdict(
    reports: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = reports / "runs" / "good"
    # the run's own verdict, as `harness run --gate` writes it (the pipeline's call)
    assert gate_run(run, checklist=None, rules=[], baseline=None) == 0
    own = {name: (run / name).read_bytes() for name in ("verdict.json", "junit.xml", "summary.md")}
    assert _gate(reports, "good", "--rule", "p95 < 10s") == 0
    assert _gate(reports, "good", "--rule", "p95(command_ack) < 1ms") == 1
    assert _gate(reports, "good", "--rule", "p95 < 1ms", "--name", "tight") == 1
    evaluations = sorted(p.name for p in (run / "evaluations").iterdir())
    assert "tight" in evaluations and len(evaluations) == 3
    assert any(name.startswith("p95-command-ack-1ms-") for name in evaluations)
    for name in evaluations:
        folder = run / "evaluations" / name
        assert {"verdict.json", "junit.xml", "summary.md"} <= {p.name for p in folder.iterdir()}
    assert {name: (run / name).read_bytes() for name in own} == own  # never rewritten
    assert "evaluation:" in capsys.readouterr().err


def test_gate_out_dir(reports: Path, tmp_path: Path) -> None:
    out = tmp_path / "ci-gate"
    assert _gate(reports, "good", "--rule", "p95 < 10s", "--out", str(out)) == 0
    assert (out / "verdict.json").is_file() and (out / "junit.xml").is_file()
    assert not (reports / "runs" / "good" / "evaluations").exists()


@pytest.mark.parametrize(
    ("rule", "expected"),
    [
        ("p95(comand_ack) < 100ms", "did you mean 'command_ack'?"),
        ("p59(command_ack) < 100ms", "did you mean 'p99'?"),
    ],
)
def test_gate_unknown_operation_or_metric_is_a_usage_error_with_a_suggestion(
    reports: Path, rule: str, expected: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _gate(reports, "good", "--rule", rule) == 2
    err = capsys.readouterr().err
    assert expected in err and "Traceback" not in err
    assert not (reports / "runs" / "good" / "evaluations").exists()


def test_gate_bad_name_is_a_usage_error(reports: Path) -> None:
    assert _gate(reports, "good", "--name", "../x") == 2
