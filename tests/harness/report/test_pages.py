"""The compare, history and ROI pages: the run report's frame and chart style, links to the runs.

Markup, not pixels: every page extends the one frame (header, CSP, inlined stylesheet, no
scripts), charts are inline SVG figures, every link to a run is relative and leads to a file that
exists when the reports folder is opened from disk, and the numbers come from the stage's file.
"""

from __future__ import annotations

import datetime as dt
import re
import urllib.parse
from pathlib import Path

import pytest

from harness.compare.compare import compare_paths
from harness.compare.result import load_compare
from harness.history.series import build_history, load_history
from harness.report.compare_page import render_compare, write_compare
from harness.report.history_page import render_history, write_history
from harness.report.jinja import CSS_FILE
from harness.report.roi_page import render_roi, write_roi
from harness.report.run_page import render_report
from harness.roi.model import load_cost_model
from harness.roi.outputs import load_roi
from harness.roi.roi import roi_from_compare
from harness.testing.synthetic import SyntheticOp, SyntheticSpec, make_run

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"
START = dt.datetime(2026, 11, 1, 2, 0, tzinfo=dt.UTC)


def make_reports(root: Path, n: int, error_rate: float) -> list[Path]:
    """``n`` nightly runs, each a little slower, with their reports (reports/runs/r<i>)."""
    runs = []
    for i in range(n):
        ops = (
            SyntheticOp("command_ack", 0.7, 10.0 * (1 + i / 4), 0.4, error_rate, 100.0),
            SyntheticOp("handoff", 0.3, 300.0, 0.5, 0.0, 2000.0),
        )
        spec = SyntheticSpec(
            run_id=f"r{i}", ops=ops, duration_s=5, seed=i, started_at=START + dt.timedelta(days=i)
        )
        runs.append(make_run(root / "runs", spec))
        render_report(runs[-1])
    return runs


@pytest.fixture(scope="module")
def pages(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    reports = tmp_path_factory.mktemp("pages") / "reports"
    runs = make_reports(reports, 4, error_rate=0.02)
    comparison = compare_paths([runs[0]], [runs[3]], reports_dir=reports)
    _, compare_html = write_compare(comparison, runs[3])  # where `harness compare` writes it
    _, roi_html = write_roi(roi_from_compare(comparison, load_cost_model()), runs[3])
    history_html = write_history(build_history(reports), reports)
    return {"compare": compare_html, "history": history_html, "roi": roi_html, "run": runs[3] / "report.html"}


def html_of(pages: dict[str, Path], name: str) -> str:
    return pages[name].read_text(encoding="utf-8")


def run_hrefs(html: str) -> list[str]:
    return re.findall(r'<a class="run" href="([^"]+)"', html)


def figures(html: str) -> list[str]:
    return re.findall(r"<figure\b[^>]*>(.*?)</figure>", html, re.DOTALL)


@pytest.mark.parametrize("name", ["compare", "history", "roi"])
def test_pages_share_the_run_report_s_frame_and_chart_encoder(pages: dict[str, Path], name: str) -> None:
    html, run = html_of(pages, name), html_of(pages, "run")
    frame = re.compile(r'<meta http-equiv="Content-Security-Policy" content="([^"]+)">')
    assert frame.findall(html) == frame.findall(run)  # the same CSP: no scripts, no network
    assert '<header class="top">' in html and "motherbox-perf" in html and "<footer" in html
    assert CSS_FILE.read_text(encoding="utf-8") in html  # the one stylesheet, inlined
    assert "<script" not in html and not re.search(r'(src|href)="(https?:)?//', html)
    charts = figures(html)
    assert charts and all('<svg role="img"' in chart for chart in charts), name
    assert 'class="charts"' in html  # laid out like the run report's charts


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("compare", {"../r0/report.html", "report.html"}),
        ("roi", {"../r0/report.html", "report.html"}),
        ("history", {"runs/r3/report.html"}),
    ],
)
def test_pages_link_the_runs_by_relative_paths_that_resolve_from_disk(
    pages: dict[str, Path], name: str, expected: set[str]
) -> None:
    hrefs = run_hrefs(html_of(pages, name))
    assert expected <= set(hrefs), hrefs
    for href in hrefs:
        assert not href.startswith(("/", "file:")), href
        assert (pages[name].parent / urllib.parse.unquote(href)).is_file(), href


def test_compare_chart_shows_each_operation_s_p50_and_p95_with_the_change_from_compare_json(
    pages: dict[str, Path],
) -> None:
    html = html_of(pages, "compare")
    chart = re.search(r'<figure id="chart-changes">(.*?)</figure>', html, re.DOTALL)
    assert chart is not None and "<svg" in chart.group(1)
    stored = load_compare(pages["compare"].parent)  # the numbers the chart draws
    for m in stored.metrics:
        if m.metric in ("p50", "p95") and m.change is not None:
            assert f"{m.operation} {m.metric}" in chart.group(1)
            assert f"{m.change * 100:+.1f}%" in chart.group(1)
    assert "regression" in chart.group(1)  # the legend names the colour of the changes found


def test_history_axes_of_rates_and_errors_start_at_zero(pages: dict[str, Path]) -> None:
    (chart,) = figures(html_of(pages, "history"))
    for title in ("latency (ms)", "error rate (%)", "achieved rate (req/s)", "peak RSS (MB)"):
        assert title in chart
    assert "\u2212" not in chart  # matplotlib's minus sign: no negative tick (was −0.04 on errors)


def test_history_without_errors_says_so_in_one_line_instead_of_an_empty_panel(tmp_path: Path) -> None:
    reports = tmp_path / "reports"
    make_reports(reports, 2, error_rate=0.0)
    html = write_history(build_history(reports), reports).read_text(encoding="utf-8")
    (chart,) = figures(html)
    assert "error rate (%)" not in chart and "achieved rate (req/s)" in chart
    assert '<p class="empty">error rate: no failed requests in any run.</p>' in html


def test_old_files_still_render_without_links() -> None:
    """Each stored version of compare.json, history.json and roi.json renders (no run folders
    beside them: the run ids are shown without links)."""
    for version in ("v1", "v2"):
        html = render_compare(load_compare(FIXTURES / "compare" / version))
        assert '<figure id="chart-changes">' in html and not run_hrefs(html)
    history = render_history(load_history(FIXTURES / "history" / "v1" / "history.json"))
    assert '<header class="top">' in history and not run_hrefs(history)
    roi = render_roi(load_roi(FIXTURES / "roi" / "v1"))
    assert '<figure id="chart-cumulative"' in roi and "<svg" in roi
