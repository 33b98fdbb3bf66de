from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

from harness.report.index_page import build_index
from harness.testing.synthetic import SyntheticSpec, make_run
from harness.verdict.gate import gate_run


def test_index_lists_runs_newest_first_with_status_and_verdict(tmp_path: Path) -> None:
    runs = tmp_path / "reports" / "runs"
    base = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)
    older = make_run(runs, SyntheticSpec(run_id="older", started_at=base, rate=20, duration_s=10))
    newer = make_run(
        runs, SyntheticSpec(run_id="newer", started_at=base + dt.timedelta(hours=1), rate=20, duration_s=10)
    )
    make_run(
        runs,
        SyntheticSpec(
            run_id="broken", status="aborted", started_at=base + dt.timedelta(hours=2), rate=20, duration_s=10
        ),
    )
    (runs / "not-a-run").mkdir()
    gate_run(older, checklist=None, rules=["p95 < 1ms"], baseline=None)
    gate_run(newer, checklist=None, rules=["p95 < 10s"], baseline=None)
    html = build_index(tmp_path / "reports").read_text()
    order = [m.group(1) for m in re.finditer(r'<td class="mono">(?:<a [^>]*>)?([a-z-]+)', html)]
    assert order == ["broken", "newer", "older"]
    rows = html.split("<tr>")[2:]
    assert "aborted" in rows[0] and "not evaluated" in rows[0]
    assert "pill-pass" in rows[1] or "pill-warn" in rows[1]
    assert "pill-fail" in rows[2] and "p95 &lt; 1ms" in rows[2]


def test_empty_reports_folder(tmp_path: Path) -> None:
    html = build_index(tmp_path).read_text()
    assert "No runs yet" in html
