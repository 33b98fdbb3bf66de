"""reports/index.html: every run folder under reports/runs, newest first, with status and verdict,
and the checklist coverage matrix of the newest nightly (its ``coverage.json``, read as written)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

from harness.contract import rundir
from harness.contract.runfolder import RunFolder
from harness.report import jinja
from harness.report.run_page import REPORT_FILE
from harness.verdict.coverage import COVERAGE_FILE, Coverage, CoverageFileError, load_coverage
from harness.verdict.format import format_ms, format_value
from harness.verdict.metrics import Kind
from harness.verdict.model import load_verdict

INDEX_FILE = "index.html"


@dataclass(frozen=True)
class IndexRow:
    run_id: str
    scenario: str
    started: str
    started_sort: str
    duration: str
    run_status: str
    verdict: str  # pass / warn / fail / not evaluated / unreadable
    failed: str
    p95: str
    error_rate: str
    rate: str
    report_href: str | None
    tags: str


def _row(run_dir: Path, reports_dir: Path) -> IndexRow | None:
    try:
        folder = RunFolder(run_dir)
    except rundir.RunDirError:
        return None
    manifest = folder.manifest
    try:
        summary = folder.summary
    except rundir.RunDirError:
        summary = None
    try:
        verdict = load_verdict(run_dir)
        verdict_text: str = verdict.status if verdict else "not evaluated"
        failed = (
            ", ".join(verdict.failed[:3]) + (" …" if verdict and len(verdict.failed) > 3 else "")
            if verdict
            else ""
        )
    except rundir.RunDirError:
        verdict_text, failed = "unreadable", ""
    overall = summary.overall if summary else None
    report = run_dir / REPORT_FILE
    return IndexRow(
        run_id=manifest.run_id,
        scenario=manifest.scenario_name,
        started=manifest.started_at.replace("T", " ")[:19],
        started_sort=manifest.started_at,
        duration=format_ms(manifest.duration_s * 1000.0) if manifest.duration_s is not None else "—",
        run_status=manifest.status,
        verdict=verdict_text,
        failed=failed,
        p95=format_value(Kind.TIME, overall.latency_ms.p95) if overall else "—",
        error_rate=format_value(Kind.RATIO, overall.error_rate) if overall else "—",
        rate=format_value(Kind.RATE, overall.rate) if overall else "—",
        report_href=report.relative_to(reports_dir).as_posix() if report.is_file() else None,
        tags=", ".join(f"{k}={v}" for k, v in manifest.tags.items()),
    )


def collect_rows(reports_dir: Path) -> list[IndexRow]:
    runs_dir = reports_dir / "runs"
    folders = sorted(p for p in runs_dir.iterdir() if p.is_dir()) if runs_dir.is_dir() else []
    rows = [row for row in (_row(folder, reports_dir) for folder in folders) if row is not None]
    return sorted(rows, key=lambda row: (row.started_sort, row.run_id), reverse=True)


def latest_coverage(reports_dir: Path) -> tuple[Coverage | None, str | None]:
    """The newest nightly's coverage matrix (nightly ids are UTC timestamps: the last sorts newest)
    and its link from the index; (None, None) when no nightly wrote one."""
    found = sorted((reports_dir / "nightly").glob(f"*/{COVERAGE_FILE}"))
    if not found:
        return None, None
    try:
        coverage = load_coverage(found[-1])
    except CoverageFileError:
        return None, None
    # nightly.md is written beside coverage.json by the same step, right after this page
    return coverage, (found[-1].parent / "nightly.md").relative_to(reports_dir).as_posix()


def build_index(reports_dir: Path) -> Path:
    """Write ``reports_dir/index.html`` listing the runs under ``reports_dir/runs``; return its path."""
    rows = collect_rows(reports_dir)
    coverage, nightly_href = latest_coverage(reports_dir)
    generated_at = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    html = jinja.render(
        "index.html.j2", rows=rows, generated_at=generated_at, coverage=coverage, nightly_href=nightly_href
    )
    out = reports_dir / INDEX_FILE
    rundir.write_text_atomic(out, html)
    return out
