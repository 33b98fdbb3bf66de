"""A write error while the run folder closes (disk full, a folder turned read-only, a database that
cannot be written): the run is marked aborted with the error as its reason, exit 3, one line,
never a traceback, ``.work`` removed; ``samples.parquet`` is whole or absent (no subprocess)."""

from __future__ import annotations

import errno
import sqlite3
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from rich.console import Console

from harness.contract import rundir
from harness.run import finalize, pipeline
from harness.run.finalize import Collected, Measured
from harness.run.options import EXIT_ABORTED, RunOptions
from harness.scenario import check_scenario
from harness.testing.synthetic import SyntheticSpec, make_run
from tests.harness.conftest import two_op_scenario, write

NO_SPACE = "No space left on device"


@pytest.fixture
def closing(tmp_path: Path) -> tuple[Measured, RunOptions]:
    """A run folder with samples (as after the load) and its ``.work``; the pass as measured."""
    reports = tmp_path / "reports"
    run_dir = make_run(reports / "runs", SyntheticSpec(seed=5, run_id="full", duration_s=5))
    (run_dir / rundir.MANIFEST_FILE).unlink()  # not closed yet
    (run_dir / finalize.WORK_DIR / "parts").mkdir(parents=True)
    scenario = write(tmp_path, "s.yaml", two_op_scenario("full", rate=10, duration="5s"))
    resolved = check_scenario(scenario)
    measured = Measured(
        resolved=resolved,
        run_id="full",
        run_dir=run_dir,
        started_at=finalize.now_iso(),
        collected=Collected("complete", None, 0.0, 5.0),
        target=rundir.TargetInfo(url="http://127.0.0.1:1", managed=False),
    )
    return measured, RunOptions(scenario_path=scenario, reports_dir=reports, report=False)


def no_space(target: Path) -> OSError:
    temp = target.parent / f".{target.name}.x1y2z3.tmp"  # how atomic writes name their temp file
    return OSError(errno.ENOSPC, NO_SPACE, str(temp))


def test_disk_full_while_deriving_marks_the_run_aborted_and_exits_3(
    closing: tuple[Measured, RunOptions], monkeypatch: pytest.MonkeyPatch
) -> None:
    measured, options = closing
    run_dir = measured.run_dir

    def full(*args: object, **kwargs: object) -> None:
        raise no_space(run_dir / rundir.SUMMARY_FILE)

    monkeypatch.setattr(pipeline, "write_derived_files", full)
    console = Console(record=True, width=300)
    result = pipeline.after_run(measured, options, console)
    assert result.exit_code == EXIT_ABORTED
    manifest = rundir.load_manifest(run_dir)
    assert manifest.status == "aborted"
    assert manifest.abort_reason == f"write error: {NO_SPACE}: {run_dir / rundir.SUMMARY_FILE}"
    assert rundir.SAMPLES_FILE in manifest.files.values()  # the samples are whole: listed
    assert not (run_dir / finalize.WORK_DIR).exists()
    text = console.export_text().strip()
    assert len(text.splitlines()) == 1 and text.startswith("error: write error:") and "aborted" in text


def test_when_even_the_manifest_cannot_be_written_the_folder_has_none(
    closing: tuple[Measured, RunOptions], monkeypatch: pytest.MonkeyPatch
) -> None:
    measured, options = closing
    run_dir = measured.run_dir

    def full(path: Path, model: object) -> None:
        raise no_space(path)

    monkeypatch.setattr(rundir, "write_model", full)  # every manifest write fails
    console = Console(record=True, width=300)
    result = pipeline.after_run(measured, options, console)
    assert result.exit_code == EXIT_ABORTED and result.manifest is None
    assert not (run_dir / rundir.MANIFEST_FILE).exists()  # no manifest: not a complete run folder
    assert not (run_dir / finalize.WORK_DIR).exists()
    assert "without a manifest" in console.export_text()


def test_a_history_database_that_cannot_be_written_aborts_after_the_manifest(
    closing: tuple[Measured, RunOptions], monkeypatch: pytest.MonkeyPatch
) -> None:
    measured, options = closing

    def full(*args: object) -> None:
        raise sqlite3.OperationalError("database or disk is full")

    monkeypatch.setattr(pipeline, "history", full)
    result = pipeline.after_run(measured, options, Console(quiet=True))
    assert result.exit_code == EXIT_ABORTED
    manifest = rundir.load_manifest(measured.run_dir)  # rewritten: complete -> aborted
    assert manifest.status == "aborted" and manifest.abort_reason == "write error: database or disk is full"
    assert rundir.load_summary(measured.run_dir).overall.count > 0


def test_samples_are_whole_or_absent_when_merging_them_fails(
    closing: tuple[Measured, RunOptions], monkeypatch: pytest.MonkeyPatch
) -> None:
    measured, _ = closing
    run_dir = measured.run_dir
    before = pq.read_table(run_dir / rundir.SAMPLES_FILE).num_rows

    def half_written(parts_dir: Path, names: list[str], target: Path, side: str | None = None) -> int:
        target.write_bytes(b"PAR1 truncated")
        raise no_space(target)

    monkeypatch.setattr(finalize, "merge_parts", half_written)
    with pytest.raises(OSError, match=NO_SPACE):
        finalize.collect(measured.resolved, run_dir, "complete", None, announced_t0=None, monitor=None)
    assert pq.read_table(run_dir / rundir.SAMPLES_FILE).num_rows == before  # untouched, not truncated
    assert not [p for p in run_dir.iterdir() if p.name.endswith(".tmp")]


def test_uncollected_is_an_aborted_window(closing: tuple[Measured, RunOptions]) -> None:
    measured, _ = closing
    collected = finalize.uncollected(measured.resolved, announced_t0=None)
    assert collected.status == "aborted" and 1.0 <= collected.duration_s <= measured.resolved.duration_s
