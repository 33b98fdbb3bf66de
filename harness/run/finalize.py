"""Turn what the measured pass left in ``.work`` into a run folder.

:func:`collect` reads ``driver_result.json``, merges the sample parts into ``samples.parquet``
(atomically: the file is whole or absent) and writes ``monitor.csv``; after the derived files
exist, :func:`close_run_folder` writes ``manifest.json`` last (a folder with a manifest is a
complete run folder), removes ``.work`` and points ``reports/latest`` at the run.

When a write fails on the way (a full disk, a folder turned read-only),
:func:`close_after_failure` marks the run ``aborted`` with the error as its reason (if the
manifest can still be written) and removes ``.work`` all the same.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import shutil
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from harness.contract import rundir
from harness.contract.rundir import LoadInfo, NotMeasured, PacerCounts, ProfileRecord, RunStatus, TargetInfo
from harness.load.collector import merge_parts
from harness.load.contract import DriverResult, load_driver_result
from harness.run.options import RunOptions
from harness.scenario import ResolvedScenario

WORK_DIR = ".work"
#: Files Locust and the managed target write into the run folder, by their manifest name.
EXTRA_FILES = {
    "locust_stats": "locust_stats.csv",
    "locust_stats_history": "locust_stats_history.csv",
    "locust_failures": "locust_failures.csv",
    "locust_exceptions": "locust_exceptions.csv",
    "locust_log": "locust.log",
    "target_log": "target.log",
}
NO_RESULT = "the load generator wrote no result (see locust.log)"


def now_iso() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


@dataclass(frozen=True)
class Collected:
    """What the Locust processes left, merged: how the pass ended and its measured window."""

    status: RunStatus
    reason: str | None
    window_start: float  # epoch second where the measured window starts
    duration_s: float
    pacer: PacerCounts | None = None


@dataclass
class Measured:
    """The measured pass as its run folder will record it."""

    resolved: ResolvedScenario
    run_id: str
    run_dir: Path
    started_at: str
    collected: Collected
    target: TargetInfo
    context: dict[str, Any] = field(default_factory=dict)  # saved by the setup steps
    monitor: Any = None  # the monitor's DataFrame, None when the monitor was off
    not_measured: list[NotMeasured] = field(default_factory=list)
    profiles: dict[str, ProfileRecord] = field(default_factory=dict)
    #: this run's share of the arrival schedule (one side of ``harness ab --assign alternate``: 0.5)
    rate_share: float = 1.0


def collect(
    resolved: ResolvedScenario,
    run_dir: Path,
    status: RunStatus,
    reason: str | None,
    *,
    announced_t0: float | None,
    monitor: Any,
) -> Collected:
    """Merge the samples into ``samples.parquet`` and write ``monitor.csv``.

    Without a driver result (the driver was killed) the run is aborted and the parts on disk
    are kept; the window then starts where the driver announced it would.
    """
    work = run_dir / WORK_DIR
    result, status, reason, parts = _outcome(work, status, reason)
    with rundir.atomic_path(run_dir / rundir.SAMPLES_FILE) as tmp:
        merge_parts(work / "parts", parts, tmp)
    write_monitor(run_dir, monitor)
    return _collected(resolved, result, status, reason, announced_t0)


def uncollected(resolved: ResolvedScenario, announced_t0: float | None) -> Collected:
    """The window of a pass whose samples could not be merged (the run is aborted)."""
    return _collected(resolved, None, "aborted", None, announced_t0)


def collect_sides(
    resolved: ResolvedScenario,
    work: Path,
    side_dirs: dict[str, Path],
    status: RunStatus,
    reason: str | None,
    *,
    announced_t0: float | None,
    monitors: dict[str, Any],
) -> Collected:
    """A duet pass (``harness ab``): split the samples in ``work`` by side into each side's
    ``samples.parquet`` (the standard columns) and write each side's ``monitor.csv``; one window
    (start, duration) for all sides."""
    result, status, reason, parts = _outcome(work, status, reason)
    for side, run_dir in side_dirs.items():
        with rundir.atomic_path(run_dir / rundir.SAMPLES_FILE) as tmp:
            merge_parts(work / "parts", parts, tmp, side=side)
        write_monitor(run_dir, monitors.get(side))
    return _collected(resolved, result, status, reason, announced_t0)


def _outcome(
    work: Path, status: RunStatus, reason: str | None
) -> tuple[DriverResult | None, RunStatus, str | None, list[str]]:
    result = load_driver_result(work)
    if result is None:
        status, reason = "aborted", reason or NO_RESULT
        parts_dir = work / "parts"
        parts = sorted(p.name for p in parts_dir.glob("part-*.parquet")) if parts_dir.is_dir() else []
    else:
        parts = list(result.parts)
        if result.status == "aborted" and status == "complete":
            status, reason = "aborted", result.abort_reason
    return result, status, reason, parts


def write_monitor(run_dir: Path, monitor: Any) -> None:
    if monitor is not None:
        with rundir.atomic_path(run_dir / rundir.MONITOR_FILE) as tmp:
            monitor.to_csv(tmp, index=False, float_format="%.10g")


def _collected(
    resolved: ResolvedScenario,
    result: DriverResult | None,
    status: RunStatus,
    reason: str | None,
    announced_t0: float | None,
) -> Collected:
    t0 = _window_start(result, announced_t0)
    ended = result.ended_at if result is not None else time.time()
    duration = resolved.duration_s if status == "complete" else max(1.0, min(resolved.duration_s, ended - t0))
    pacer = result.pacer if result is not None else None
    return Collected(status, reason, t0, duration, pacer)


def _window_start(result: DriverResult | None, announced_t0: float | None) -> float:
    if result is not None and result.t0 is not None:
        return result.t0
    return announced_t0 or time.time()


def close_run_folder(measured: Measured, options: RunOptions) -> rundir.Manifest:
    """Write the manifest (after every other file), drop ``.work``, point ``latest`` here."""
    manifest = build_manifest(measured, options)
    rundir.write_manifest(measured.run_dir, manifest)
    shutil.rmtree(measured.run_dir / WORK_DIR, ignore_errors=True)
    point_latest(options.reports_dir, measured.run_dir)
    return manifest


def close_after_failure(measured: Measured, options: RunOptions, reason: str) -> rundir.Manifest | None:
    """A write failed while closing the folder: the manifest says ``aborted`` with ``reason`` (its
    ``files`` list only what is there), or None when even it cannot be written. ``.work`` goes
    first — on a full disk its raw driver files are what leaves room for the manifest — and
    ``latest`` points here when it can."""
    shutil.rmtree(measured.run_dir / WORK_DIR, ignore_errors=True)
    collected = measured.collected
    why = "; ".join(r for r in (collected.reason, reason) if r)
    aborted = replace(measured, collected=replace(collected, status="aborted", reason=why))
    built = build_manifest(aborted, options)
    present = {key: name for key, name in built.files.items() if (measured.run_dir / name).is_file()}
    manifest = built.model_copy(update={"files": present})
    try:
        rundir.write_manifest(measured.run_dir, manifest)
    except OSError:  # the disk is still full: a folder without a manifest is no complete run
        return None
    with contextlib.suppress(OSError):
        point_latest(options.reports_dir, measured.run_dir)
    return manifest


def build_manifest(measured: Measured, options: RunOptions) -> rundir.Manifest:
    resolved, run_dir, collected = measured.resolved, measured.run_dir, measured.collected
    return rundir.build_manifest(
        run_dir,
        run_id=measured.run_id,
        scenario_name=resolved.scenario.name,
        scenario_path=str(options.scenario_path),
        scenario=resolved.dump(),
        cli=options.cli,
        tags={**resolved.scenario.tags, **options.tags},
        target=measured.target,
        load=LoadInfo(
            model=resolved.scenario.load.model,
            workers=options.workers,
            time_scale=resolved.time_scale,
            duration_s=resolved.duration_s,
            window_start=collected.window_start,
            setup_context=measured.context,
            pacer=collected.pacer,
        ),
        started_at=measured.started_at,
        ended_at=now_iso(),
        duration_s=collected.duration_s,
        status=collected.status,
        abort_reason=collected.reason,
        optional_files=EXTRA_FILES,
        profiles=measured.profiles,
        not_measured=measured.not_measured,
        git=options.git,
    )


def point_latest(reports_dir: Path, run_dir: Path) -> None:
    link = reports_dir / "latest"
    reports_dir.mkdir(parents=True, exist_ok=True)
    target = os.path.relpath(run_dir.resolve(), reports_dir.resolve())
    tmp = reports_dir / f".latest.{os.getpid()}"
    with contextlib.suppress(FileNotFoundError):
        tmp.unlink()
    os.symlink(target, tmp)
    os.replace(tmp, link)
