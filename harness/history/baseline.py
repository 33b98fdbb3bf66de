"""Stored baselines: one run per scenario and machine fingerprint, in ``reports/history.db``.

Only the ``baselines`` table belongs to this module (created with IF NOT EXISTS, additive); the
``runs``/``op_summaries`` tables of the same database belong to :mod:`harness.history.db`.
A baseline that names a repeat group's run stands for the whole group (compare pools repeats).
"""

from __future__ import annotations

import datetime as dt
import sqlite3
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from harness.contract import rundir

HISTORY_DB = "history.db"
AUTO = "auto"
UNKNOWN_FINGERPRINT = "unknown"

_SCHEMA = """
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
)
"""


@dataclass(frozen=True)
class Baseline:
    scenario: str
    machine_fingerprint: str
    run_id: str
    run_dir: str
    git_commit: str | None
    started_at: str | None
    set_at: str
    note: str | None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def db_path(reports_dir: Path) -> Path:
    return reports_dir / HISTORY_DB


@contextmanager
def _connect(reports_dir: Path) -> Iterator[sqlite3.Connection]:
    reports_dir.mkdir(parents=True, exist_ok=True)
    with closing(sqlite3.connect(db_path(reports_dir), timeout=30)) as conn:
        conn.execute(_SCHEMA)
        with conn:  # commit on success, roll back on error
            yield conn


def fingerprint_of(manifest: rundir.Manifest) -> str:
    value = manifest.machine.get("fingerprint")
    return str(value) if value else UNKNOWN_FINGERPRINT


def set_baseline(
    run_ref: str | Path, reports_dir: Path = Path("reports"), note: str | None = None
) -> Baseline:
    """Make a run the baseline of its scenario on its machine. Raises RunDirError for a bad run."""
    run_dir = rundir.resolve_run_dir(run_ref, reports_dir)
    manifest = rundir.load_manifest(run_dir)
    record = Baseline(
        scenario=manifest.scenario_name,
        machine_fingerprint=fingerprint_of(manifest),
        run_id=manifest.run_id,
        run_dir=str(run_dir.resolve()),
        git_commit=manifest.git.get("commit"),
        started_at=manifest.started_at,
        set_at=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        note=note,
    )
    with _connect(reports_dir) as conn:
        conn.execute(
            "INSERT OR REPLACE INTO baselines VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            tuple(asdict(record).values()),
        )
    return record


def list_baselines(
    reports_dir: Path = Path("reports"), scenario: str | None = None, fingerprint: str | None = None
) -> list[Baseline]:
    if not db_path(reports_dir).is_file():
        return []
    query = "SELECT * FROM baselines WHERE 1=1"
    params: list[str] = []
    if scenario:
        query, params = query + " AND scenario = ?", [*params, scenario]
    if fingerprint:
        query, params = query + " AND machine_fingerprint = ?", [*params, fingerprint]
    with _connect(reports_dir) as conn:
        rows = conn.execute(query + " ORDER BY scenario, machine_fingerprint", params).fetchall()
    return [Baseline(*row) for row in rows]


def get_baseline(scenario: str, fingerprint: str, reports_dir: Path = Path("reports")) -> Baseline | None:
    found = list_baselines(reports_dir, scenario, fingerprint)
    return found[0] if found else None


def unset_baseline(scenario: str, fingerprint: str, reports_dir: Path = Path("reports")) -> bool:
    if not db_path(reports_dir).is_file():
        return False
    with _connect(reports_dir) as conn:
        cursor = conn.execute(
            "DELETE FROM baselines WHERE scenario = ? AND machine_fingerprint = ?", (scenario, fingerprint)
        )
    return cursor.rowcount > 0


def resolve_baseline(
    ref: str | Path, scenario: str, fingerprint: str, reports_dir: Path = Path("reports")
) -> Path | None:
    """The baseline run folder for ``--baseline REF``.

    ``auto`` looks up the stored baseline of (scenario, fingerprint) and returns None when there is
    none or its folder is gone; anything else is a run reference (folder, run id, ``latest``) and
    raises :class:`harness.contract.rundir.RunDirError` if it does not name a run folder.
    """
    if str(ref) != AUTO:
        return rundir.resolve_run_dir(ref, reports_dir)
    record = get_baseline(scenario, fingerprint, reports_dir)
    if record is None:
        return None
    for candidate in (Path(record.run_dir), reports_dir / "runs" / record.run_id):
        if (candidate / rundir.MANIFEST_FILE).is_file():
            return candidate
    return None
