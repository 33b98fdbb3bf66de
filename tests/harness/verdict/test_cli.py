"""`harness gate` / `harness report` through the real CLI table (harness.cli.main)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from harness.cli import main


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
