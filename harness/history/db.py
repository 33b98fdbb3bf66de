"""``reports/history.db``: the one module that opens it, with its one schema and all its SQL.

Tables:

- ``runs``: one row per run (written at the end of every ``harness run``);
- ``op_summaries``: one row per run and operation (``overall`` included), the summary's figures;
- ``baselines``: the baseline run of each (scenario, machine fingerprint), see
  :mod:`harness.history.baseline`;
- ``calibrations``: the noise of a machine, one row per ``harness calibrate`` and mode
  (sequential | duet), see :mod:`harness.run.calibrate`; the compare and ab pages quote the
  latest one of the machine their runs ran on (:func:`calibration_for`).

``runs`` and ``op_summaries`` are for the user's own queries (``sqlite3 reports/history.db``):
the history page reads run folders instead (:mod:`harness.history.series`). Schema creation is
idempotent and additive: a column added later must have a default so old databases keep working.
"""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Iterable, Iterator
from contextlib import closing, contextmanager
from dataclasses import astuple, dataclass, fields
from pathlib import Path
from typing import Any

from harness.contract.rundir import OVERALL, Manifest, Summary

HISTORY_DB = "history.db"

SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    run_id TEXT PRIMARY KEY,
    scenario TEXT NOT NULL,
    started_at TEXT NOT NULL,
    ended_at TEXT,
    status TEXT NOT NULL,
    git_commit TEXT,
    machine_fingerprint TEXT,
    tags TEXT NOT NULL DEFAULT '{}',
    run_dir TEXT NOT NULL,
    time_scale REAL,
    duration_s REAL
);
CREATE INDEX IF NOT EXISTS runs_scenario_started ON runs (scenario, started_at);
CREATE TABLE IF NOT EXISTS op_summaries (
    run_id TEXT NOT NULL REFERENCES runs (run_id) ON DELETE CASCADE,
    operation TEXT NOT NULL,
    count INTEGER,
    rate REAL,
    error_rate REAL,
    dropped INTEGER,
    p50 REAL, p90 REAL, p95 REAL, p99 REAL, p99_9 REAL, max REAL, mean REAL,
    service_p95 REAL,
    peak_rss_mb REAL,
    cpu_percent_mean REAL,
    PRIMARY KEY (run_id, operation)
);
CREATE TABLE IF NOT EXISTS baselines (
    scenario TEXT NOT NULL,
    machine_fingerprint TEXT NOT NULL,
    run_id TEXT NOT NULL,
    run_dir TEXT NOT NULL,
    git_commit TEXT,
    started_at TEXT,
    set_at TEXT NOT NULL,
    note TEXT,
    PRIMARY KEY (scenario, machine_fingerprint)
);
CREATE TABLE IF NOT EXISTS calibrations (
    machine_fingerprint TEXT NOT NULL,
    measured_at TEXT NOT NULL,
    scenario TEXT NOT NULL,
    duration_s REAL,
    mode TEXT NOT NULL,
    pairs INTEGER NOT NULL,
    cv_p50 REAL,
    cv_p95 REAL,
    mde_p50 REAL,
    mde_p95 REAL,
    detectable_p50 REAL,
    detectable_p95 REAL,
    calibration_dir TEXT,
    PRIMARY KEY (machine_fingerprint, mode, measured_at)
);
"""
#: Column order of ``baselines`` (the order :func:`put_baseline` takes and :func:`select_baselines` returns).
BASELINE_COLUMNS = (
    "scenario",
    "machine_fingerprint",
    "run_id",
    "run_dir",
    "git_commit",
    "started_at",
    "set_at",
    "note",
)


def db_path(reports_dir: Path) -> Path:
    return reports_dir / HISTORY_DB


def find_db(*near: Path) -> Path | None:
    """The history.db of the reports folder holding one of ``near`` (its nearest ancestor that has
    one), else ``$HARNESS_REPORTS_DIR/history.db``; None when there is none (nothing is created)."""
    for path in near:
        for folder in [path.resolve(), *path.resolve().parents]:
            if (folder / HISTORY_DB).is_file():
                return folder / HISTORY_DB
    env = os.environ.get("HARNESS_REPORTS_DIR")
    if env and db_path(Path(env)).is_file():
        return db_path(Path(env))
    return None


@contextmanager
def connect(path: Path) -> Iterator[sqlite3.Connection]:
    """One transaction on the database (file and schema created if needed); rolled back on error."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with closing(sqlite3.connect(path, timeout=30)) as conn:
        conn.execute("PRAGMA foreign_keys = ON")
        conn.executescript(SCHEMA)
        with conn:
            yield conn


# ---------------------------------------------------------------- runs and op_summaries


def commit_of(manifest: Manifest) -> str | None:
    return manifest.git.commit or None


def _run_row(manifest: Manifest, run_dir: Path) -> tuple[Any, ...]:
    return (
        manifest.run_id,
        manifest.scenario_name,
        manifest.started_at,
        manifest.ended_at,
        manifest.status,
        commit_of(manifest),
        manifest.machine.fingerprint,
        json.dumps(manifest.tags, sort_keys=True),
        str(run_dir),
        manifest.load.time_scale,
        manifest.duration_s,
    )


def _op_rows(run_id: str, summary: Summary) -> list[tuple[Any, ...]]:
    rss, cpu = summary.resources.get("rss_mb"), summary.resources.get("cpu_percent")
    peak_rss = rss.max if rss is not None else None
    cpu_mean = cpu.mean if cpu is not None else None
    rows = []
    for name, op in {OVERALL: summary.overall, **summary.operations}.items():
        lat = op.latency_ms
        percentiles = (lat.p50, lat.p90, lat.p95, lat.p99, lat.p99_9, lat.max, lat.mean)
        counts = (op.count, op.rate, op.error_rate, op.dropped)
        rows.append((run_id, name, *counts, *percentiles, op.service_time_ms.p95, peak_rss, cpu_mean))
    return rows


def record_run(db_file: Path, manifest: Manifest, summary: Summary | None, run_dir: Path) -> None:
    """Insert (or replace) the run and its per-operation summaries."""
    with connect(db_file) as conn:
        conn.execute(
            "INSERT OR REPLACE INTO runs (run_id, scenario, started_at, ended_at, status, git_commit,"
            " machine_fingerprint, tags, run_dir, time_scale, duration_s) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
            _run_row(manifest, run_dir),
        )
        conn.execute("DELETE FROM op_summaries WHERE run_id = ?", (manifest.run_id,))
        if summary is not None:
            conn.executemany(
                "INSERT INTO op_summaries (run_id, operation, count, rate, error_rate, dropped,"
                " p50, p90, p95, p99, p99_9, max, mean, service_p95, peak_rss_mb, cpu_percent_mean)"
                " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                _op_rows(manifest.run_id, summary),
            )


# ---------------------------------------------------------------- baselines


def put_baseline(db_file: Path, row: tuple[Any, ...]) -> None:
    """Store a baseline row (columns in :data:`BASELINE_COLUMNS` order), replacing the previous one."""
    columns = ", ".join(BASELINE_COLUMNS)
    marks = ", ".join("?" for _ in BASELINE_COLUMNS)
    with connect(db_file) as conn:
        conn.execute(f"INSERT OR REPLACE INTO baselines ({columns}) VALUES ({marks})", row)


def select_baselines(
    db_file: Path, scenario: str | None = None, fingerprint: str | None = None
) -> list[tuple[Any, ...]]:
    """Baseline rows (columns in :data:`BASELINE_COLUMNS` order); none when the database does not exist."""
    if not db_file.is_file():
        return []
    query = f"SELECT {', '.join(BASELINE_COLUMNS)} FROM baselines WHERE 1=1"
    params: list[str] = []
    if scenario:
        query, params = query + " AND scenario = ?", [*params, scenario]
    if fingerprint:
        query, params = query + " AND machine_fingerprint = ?", [*params, fingerprint]
    with connect(db_file) as conn:
        return conn.execute(query + " ORDER BY scenario, machine_fingerprint", params).fetchall()


def delete_baseline(db_file: Path, scenario: str, fingerprint: str) -> bool:
    if not db_file.is_file():
        return False
    with connect(db_file) as conn:
        cursor = conn.execute(
            "DELETE FROM baselines WHERE scenario = ? AND machine_fingerprint = ?", (scenario, fingerprint)
        )
    return cursor.rowcount > 0


# ---------------------------------------------------------------- calibrations


@dataclass(frozen=True)
class CalibrationRow:
    """One mode of one ``harness calibrate`` on one machine (fractions: 0.05 = 5 %)."""

    machine_fingerprint: str
    measured_at: str
    scenario: str
    duration_s: float | None
    mode: str  # sequential | duet
    pairs: int
    cv_p50: float | None  # between-run CV (sequential) or SD of the paired log ratios (duet)
    cv_p95: float | None
    mde_p50: float | None  # median MDE of the mode's comparisons
    mde_p95: float | None
    detectable_p50: float | None = None  # what a comparison on this machine can see (docs/regressions.md)
    detectable_p95: float | None = None
    calibration_dir: str | None = None


CALIBRATION_COLUMNS = tuple(f.name for f in fields(CalibrationRow))


def record_calibration(db_file: Path, row: CalibrationRow) -> None:
    """Store one calibration row (a later one of the same machine and mode does not replace it)."""
    columns = ", ".join(CALIBRATION_COLUMNS)
    marks = ", ".join("?" for _ in CALIBRATION_COLUMNS)
    with connect(db_file) as conn:
        conn.execute(f"INSERT OR REPLACE INTO calibrations ({columns}) VALUES ({marks})", astuple(row))


def latest_calibration(db_file: Path, fingerprint: str, mode: str) -> CalibrationRow | None:
    """The most recent calibration of this machine in this mode; None without one (or without a db)."""
    if not db_file.is_file():
        return None
    query = (
        f"SELECT {', '.join(CALIBRATION_COLUMNS)} FROM calibrations"
        " WHERE machine_fingerprint = ? AND mode = ? ORDER BY measured_at DESC LIMIT 1"
    )
    with connect(db_file) as conn:
        found = conn.execute(query, (fingerprint, mode)).fetchone()
    return CalibrationRow(*found) if found else None


def machines_of_runs(db_file: Path, run_ids: Iterable[str]) -> set[str]:
    """The machine fingerprints the ``runs`` table recorded (from their manifests) for these runs."""
    ids = list(dict.fromkeys(run_ids))
    if not ids or not db_file.is_file():
        return set()
    marks = ", ".join("?" for _ in ids)
    query = f"SELECT DISTINCT machine_fingerprint FROM runs WHERE run_id IN ({marks})"
    with connect(db_file) as conn:
        return {fp for (fp,) in conn.execute(query, ids).fetchall() if fp}


def calibration_for(
    db_file: Path | None, fingerprints: Iterable[str | None], mode: str
) -> CalibrationRow | None:
    """The latest calibration of the one machine the compared runs ran on; None when they ran on
    several (or unknown) machines, or when there is no calibration or no database."""
    machines = set(fingerprints)
    if db_file is None or len(machines) != 1 or None in machines:
        return None
    return latest_calibration(db_file, str(next(iter(machines))), mode)
