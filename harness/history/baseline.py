"""Stored baselines: one run per scenario and machine fingerprint, in ``reports/history.db``.

The SQL (the ``baselines`` table) lives in :mod:`harness.history.db`; this module is the API:
set, list, unset, and resolve ``--baseline REF``. A baseline that names a repeat group's run
stands for the whole group (compare pools repeats).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, astuple, dataclass
from pathlib import Path
from typing import Any

from harness.contract import rundir
from harness.history import db
from harness.history.db import db_path

AUTO = "auto"
UNKNOWN_FINGERPRINT = "unknown"


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


def fingerprint_of(manifest: rundir.Manifest) -> str:
    """The machine a run was measured on: baselines are per machine, never compared across."""
    return manifest.machine.fingerprint or UNKNOWN_FINGERPRINT


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
        git_commit=db.commit_of(manifest),
        started_at=manifest.started_at,
        set_at=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        note=note,
    )
    db.put_baseline(db_path(reports_dir), astuple(record))
    return record


def list_baselines(
    reports_dir: Path = Path("reports"), scenario: str | None = None, fingerprint: str | None = None
) -> list[Baseline]:
    return [Baseline(*row) for row in db.select_baselines(db_path(reports_dir), scenario, fingerprint)]


def get_baseline(scenario: str, fingerprint: str, reports_dir: Path = Path("reports")) -> Baseline | None:
    found = list_baselines(reports_dir, scenario, fingerprint)
    return found[0] if found else None


def unset_baseline(scenario: str, fingerprint: str, reports_dir: Path = Path("reports")) -> bool:
    return db.delete_baseline(db_path(reports_dir), scenario, fingerprint)


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
