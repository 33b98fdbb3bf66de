"""The after-run pipeline: which steps run, in which order, and the exit code they make."""

from __future__ import annotations

import shutil
import sqlite3
from dataclasses import replace
from pathlib import Path

import pytest
from rich.console import Console

from harness.contract import rundir
from harness.run import pipeline
from harness.run.finalize import Collected, Measured
from harness.run.options import EXIT_ABORTED, EXIT_FAILED, EXIT_OK, EXIT_USAGE, RunOptions
from harness.scenario import parse_scenario_text, resolve
from harness.testing.synthetic import SyntheticSpec, make_run


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory: pytest.TempPathFactory) -> Path:
    reports = tmp_path_factory.mktemp("reports")
    return make_run(reports / "runs", SyntheticSpec(seed=3, run_id="syn", duration_s=5))


def _steps(monkeypatch: pytest.MonkeyPatch, run_dir: Path, status: str) -> list[str]:
    """Replace every step by a recorder; the gate 'fails'."""
    calls: list[str] = []
    manifest = rundir.load_manifest(run_dir).model_copy(update={"status": status})
    summary = rundir.load_summary(run_dir)

    def step(name: str, value: object = None):  # type: ignore[no-untyped-def]
        return lambda *args, **kwargs: calls.append(name) or value

    monkeypatch.setattr(pipeline, "derive", step("derive", summary))
    monkeypatch.setattr(pipeline, "close_run_folder", step("manifest", manifest))
    monkeypatch.setattr(pipeline, "print_summary", step("table"))
    monkeypatch.setattr(pipeline, "verdict", step("verdict", EXIT_FAILED))
    monkeypatch.setattr(pipeline, "report", step("report"))
    monkeypatch.setattr(pipeline, "index", step("index"))
    monkeypatch.setattr(pipeline, "print_verdict", step("print_verdict"))
    monkeypatch.setattr(pipeline, "history", step("history"))
    return calls


def _measured(run_dir: Path) -> Measured:
    collected = Collected("complete", None, 0.0, 5.0)
    target = rundir.TargetInfo(url="http://127.0.0.1:1", managed=False)
    return Measured(None, "syn", run_dir, "", collected, target)  # type: ignore[arg-type]


ALL = ["derive", "manifest", "table", "verdict", "report", "index", "print_verdict", "history"]
NO_GATE = [step for step in ALL if step != "verdict"]


@pytest.mark.parametrize(
    ("gate", "report", "status", "steps", "code"),
    [
        (True, True, "complete", ALL, EXIT_FAILED),
        (False, False, "complete", ["derive", "manifest", "table", "history"], EXIT_OK),
        (False, True, "complete", NO_GATE, EXIT_OK),
        # an aborted run is not gated (it exits 3 anyway) but still reported and recorded
        (True, True, "aborted", NO_GATE, EXIT_ABORTED),
    ],
)
def test_options_select_the_steps_which_run_in_order_each_once(
    monkeypatch: pytest.MonkeyPatch,
    synthetic: Path,
    gate: bool,
    report: bool,
    status: str,
    steps: list[str],
    code: int,
) -> None:
    calls = _steps(monkeypatch, synthetic, status)
    options = RunOptions(scenario_path=synthetic, gate=gate, report=report)
    result = pipeline.after_run(_measured(synthetic), options, Console(quiet=True))
    assert calls == steps
    assert result.exit_code == code and result.run_dir == synthetic and result.manifest is not None


def test_a_bad_baseline_is_a_usage_error_naming_the_option(synthetic: Path, tmp_path: Path) -> None:
    console = Console(record=True, width=200)
    manifest = rundir.load_manifest(synthetic)
    assert pipeline.verdict(console, manifest, synthetic, "no-such-run", tmp_path) == EXIT_USAGE
    text = console.export_text()
    assert "--baseline:" in text and "no-such-run" in text


def test_history_step_records_the_run_and_its_operations(synthetic: Path, tmp_path: Path) -> None:
    manifest, summary = rundir.load_manifest(synthetic), rundir.load_summary(synthetic)
    pipeline.history(tmp_path, manifest, summary, synthetic)
    with sqlite3.connect(tmp_path / "history.db") as conn:
        assert conn.execute("select run_id from runs").fetchall() == [("syn",)]
        assert conn.execute("select count(*) from op_summaries").fetchone()[0] == len(summary.operations) + 1


RAMP = """\
name: ramp
load:
  stages:
    - {duration: 3s, rate: 30, ramp: true}
    - {duration: 2s, rate: 30}
mix:
  - {name: ping, method: GET, path: /v1/health}
"""


@pytest.mark.parametrize("share", [1.0, 0.5])
def test_derive_writes_the_scheduled_rate_per_second_scaled_to_the_run_s_share(
    synthetic: Path, tmp_path: Path, share: float
) -> None:
    """A ramp's target rises second by second; a side of an alternating duet gets half of it."""
    run_dir = Path(shutil.copytree(synthetic, tmp_path / "syn"))
    resolved = resolve(parse_scenario_text(RAMP, "ramp.yaml"))
    window_start = rundir.load_manifest(run_dir).load.window_start or 0.0
    collected = Collected("complete", None, window_start, resolved.duration_s)
    measured = replace(_measured(run_dir), resolved=resolved, collected=collected, rate_share=share)
    summary = pipeline.derive(measured)
    full = [5.0, 15.0, 25.0, 30.0, 30.0]  # 0 -> 30 req/s over 3 s, then 30 req/s
    assert rundir.load_timeseries(run_dir)["target_rate"].tolist() == [v * share for v in full]
    assert [s.target_rate for s in summary.stages] == [15.0 * share, 30.0 * share]
    assert summary.overall.target_rate == pytest.approx((45.0 + 60.0) / 5.0 * share)
