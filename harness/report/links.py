"""Relative links from a page to the run folders it shows, so they work from disk.

A page written into a reports folder (``compare.html`` in a run folder, ``history.html`` in
``reports/``, ``roi.html`` anywhere) links each run it names to that run's ``report.html`` (or its
folder, when it has no report) by a path relative to the page: the reports folder can be moved,
zipped or opened with ``file://`` and the links still hold. A run that cannot be found from the
page is named without a link.
"""

from __future__ import annotations

import os
import urllib.parse
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from harness.contract import rundir
from harness.history import db
from harness.report.run_page import REPORT_FILE


@dataclass(frozen=True)
class RunLink:
    run_id: str
    href: str | None  # relative to the page; None: the run folder was not found


def href_to(target: Path, page_dir: Path) -> str:
    """``target`` as a URL relative to a page in ``page_dir`` (``/`` separators, escaped)."""
    relative = os.path.relpath(target.resolve(), page_dir.resolve())
    quoted = urllib.parse.quote(Path(relative).as_posix())
    return quoted + "/" if target.is_dir() else quoted


def run_href(run_dir: Path, page_dir: Path) -> str:
    """The run's ``report.html`` if it has one, else its folder."""
    report = run_dir / REPORT_FILE
    return href_to(report if report.is_file() else run_dir, page_dir)


def _is_run(folder: Path, run_id: str) -> bool:
    if not (folder / rundir.MANIFEST_FILE).is_file():
        return False
    if folder.name == run_id:
        return True
    try:
        return rundir.load_manifest(folder).run_id == run_id
    except rundir.RunDirError:
        return False


def find_run(run_id: str, near: Path) -> Path | None:
    """The folder of ``run_id`` seen from ``near`` (the page's folder): ``near`` itself, a folder
    in it or beside it, or ``runs/<id>`` of the reports folder ``near`` is in (the one holding
    history.db, else ``$HARNESS_REPORTS_DIR``)."""
    candidates = [near, near / run_id, near.parent / run_id, near / "runs" / run_id]
    db_file = db.find_db(near)
    if db_file is not None:
        candidates.append(db_file.parent / "runs" / run_id)
    env = os.environ.get("HARNESS_REPORTS_DIR")
    if env:
        candidates.append(Path(env) / "runs" / run_id)
    return next((c for c in candidates if _is_run(c, run_id)), None)


def run_links(run_ids: Iterable[str], page_dir: Path) -> list[RunLink]:
    """One link per run id, relative to a page written into ``page_dir``."""
    links = []
    for run_id in run_ids:
        folder = find_run(run_id, page_dir)
        links.append(RunLink(run_id, None if folder is None else run_href(folder, page_dir)))
    return links
