"""After the load: the steps that turn a measured pass into results, in order, each once.

derive -> (manifest) -> verdict -> report -> index -> history

- derive: ``summary.json``, ``timeseries.csv``, ``histograms.json``
  (:func:`harness.derive.files.write_derived_files`); then ``manifest.json`` closes the run folder
  and the run's table is printed;
- verdict (``--gate``, complete runs only): ``verdict.json``, ``junit.xml``, ``summary.md``
  (:func:`harness.verdict.gate.gate_run`), against ``--baseline`` if given;
- report (unless ``--no-report``): ``report.html`` (:func:`harness.report.run_page.render_report`);
- index (with the report): ``reports/index.html`` (:func:`harness.report.index_page.build_index`);
- history: the run's rows in ``reports/history.db`` (:func:`harness.history.db.record_run`).

A write error in any step (a full disk, a folder turned read-only, a database that cannot be
written) ends the steps there: :func:`write_failed` marks the run ``aborted`` with the error as
its reason and the exit code is 3, one line, no traceback.
"""

from __future__ import annotations

import sqlite3
from dataclasses import replace
from pathlib import Path

from rich.console import Console

from harness.contract import rundir
from harness.derive.files import write_derived_files
from harness.history import db
from harness.history.baseline import fingerprint_of, resolve_baseline
from harness.load.schedule import schedule_from
from harness.report.index_page import build_index
from harness.report.run_page import render_report
from harness.run.finalize import Measured, close_after_failure, close_run_folder
from harness.run.options import EXIT_ABORTED, EXIT_OK, EXIT_USAGE, RunOptions, RunResult
from harness.run.summary_table import print_summary
from harness.verdict.gate import gate_run
from harness.verdict.model import load_verdict


def after_run(measured: Measured, options: RunOptions, console: Console) -> RunResult:
    """Run the after-run steps ``options`` selects; the exit code accounts for the gate (3 after
    a write error: see :func:`write_failed`)."""
    try:
        return _steps(measured, options, console)
    except (OSError, sqlite3.Error) as exc:
        return write_failed(measured, options, console, exc)


def write_failed(
    measured: Measured, options: RunOptions, console: Console, error: OSError | sqlite3.Error
) -> RunResult:
    """A write failed while closing the run folder: say so in one line, mark the run aborted."""
    reason = f"write error: {describe(error)}"
    manifest = close_after_failure(measured, options, reason)
    state = "marked aborted" if manifest is not None else "left without a manifest (incomplete)"
    console.print(f"[red]error:[/] {reason}; the run folder is {state}", highlight=False, soft_wrap=True)
    return RunResult(EXIT_ABORTED, measured.run_dir, None, manifest)


def describe(error: OSError | sqlite3.Error) -> str:
    """``No space left on device: /path/file`` (a temp file named as the file it stands for)."""
    if isinstance(error, OSError) and error.strerror:
        name = error.filename
        if isinstance(name, str) and Path(name).name.startswith(".") and name.endswith(".tmp"):
            name = str(Path(name).parent / Path(name).name[1:].rsplit(".", 2)[0])
        return f"{error.strerror}: {name}" if name else error.strerror
    return str(error) or type(error).__name__


def _steps(measured: Measured, options: RunOptions, console: Console) -> RunResult:
    summary = derive(measured)
    manifest = close_run_folder(measured, options)
    run_dir = measured.run_dir
    result = RunResult(EXIT_OK if manifest.status == "complete" else EXIT_ABORTED, run_dir, summary, manifest)
    print_summary(console, result)
    code = result.exit_code
    if options.gate and code == EXIT_OK:
        code = verdict(console, manifest, run_dir, options.baseline, options.reports_dir)
    if options.report:
        report(console, run_dir)
        index(options.reports_dir)
        print_verdict(console, run_dir)
    history(options.reports_dir, manifest, summary, run_dir)
    return replace(result, exit_code=code)


def derive(measured: Measured) -> rundir.Summary:
    """The derived files. An open model's target rates come from the arrival schedule its pacer ran
    (the plan's stages), scaled to the run's share of it (``measured.rate_share``: each side of an
    alternating duet gets half the arrivals); a closed model has stages without a target rate."""
    resolved, collected = measured.resolved, measured.collected
    share = measured.rate_share
    schedule = (
        schedule_from([(s.start_s, s.end_s, s.rate_from * share, s.rate_to * share) for s in resolved.stages])
        if resolved.is_open and resolved.stages
        else None
    )
    return write_derived_files(
        measured.run_dir,
        measured.run_id,
        rundir.load_samples(measured.run_dir),
        window_start=collected.window_start,
        duration_s=collected.duration_s,
        stages=None if schedule is not None else _clip(resolved.summary_stages(), collected.duration_s),
        schedule=schedule,
        targets_ms=resolved.targets_ms(),
        monitor=measured.monitor,
    )


def _clip(
    stages: list[tuple[float, float, float | None]], duration: float
) -> list[tuple[float, float, float | None]]:
    """The stages of an aborted run end where the run did."""
    return [(s, min(e, duration), r) for s, e, r in stages if s < duration] or stages[:1]


def verdict(
    console: Console, manifest: rundir.Manifest, run_dir: Path, baseline: str | None, reports_dir: Path
) -> int:
    """Evaluate the gates (checklist, the scenario's expect/gates) and write the gate outputs."""
    try:
        base = (
            resolve_baseline(baseline, manifest.scenario_name, fingerprint_of(manifest), reports_dir)
            if baseline
            else None
        )
    except rundir.RunDirError as exc:
        console.print(f"[red]--baseline:[/] {exc}", highlight=False, soft_wrap=True)
        return EXIT_USAGE
    return gate_run(run_dir, checklist=None, rules=[], baseline=base)


def report(console: Console, run_dir: Path) -> None:
    console.print(f"report: {render_report(run_dir)}", highlight=False)


def index(reports_dir: Path) -> None:
    if reports_dir.is_dir():
        build_index(reports_dir)


def print_verdict(console: Console, run_dir: Path) -> None:
    """The verdict the report shows, in one line (when the gate wrote one)."""
    stored = load_verdict(run_dir)
    if stored is not None:
        counts = ", ".join(f"{n} {status}" for status, n in stored.counts.items())
        console.print(f"verdict: {stored.status.upper()} ({counts})", highlight=False)


def history(reports_dir: Path, manifest: rundir.Manifest, summary: rundir.Summary, run_dir: Path) -> None:
    db.record_run(db.db_path(reports_dir), manifest, summary, run_dir)
