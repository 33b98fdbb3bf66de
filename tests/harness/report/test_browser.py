"""Open the pages from disk in headless Chromium: no console errors, charts drawn, verdict visible."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from harness.compare.compare import compare_paths
from harness.history.series import build_history
from harness.report.compare_page import write_compare
from harness.report.history_page import write_history
from harness.report.roi_page import write_roi
from harness.report.run_page import render_report
from harness.roi.model import load_cost_model
from harness.roi.roi import roi_from_compare
from harness.testing.synthetic import SyntheticSpec, make_run
from harness.verdict.gate import gate_run
from tests.harness.report.cdp import Browser, chromium_path

pytestmark = pytest.mark.browser

CHROMIUM = chromium_path()
needs_chromium = pytest.mark.skipif(
    CHROMIUM is None, reason="chromium not installed (Debian package `chromium`; .ci/run installs it)"
)

_ELEMENT_SIZES = """
Array.from(document.querySelectorAll('figure > svg, img')).map(e => {
  const r = e.getBoundingClientRect();
  const loaded = e.tagName !== 'IMG' || (e.complete && e.naturalWidth > 0);
  const figure = e.closest('figure');
  return {tag: e.tagName, id: figure ? figure.id : '', w: r.width, h: r.height, loaded};
})
"""
_VERDICT = """
(() => {
  const e = document.getElementById('verdict');
  const r = e.getBoundingClientRect();
  const s = getComputedStyle(e);
  const visible = s.visibility !== 'hidden' && s.display !== 'none';
  return {text: e.innerText, w: r.width, h: r.height, top: r.top, visible};
})()
"""


def rendered(element: dict[str, object]) -> bool:
    """Drawn at a chart-like size (a broken image shows as a 16x16 icon) and, for images, decoded."""
    return bool(element["loaded"]) and float(element["w"]) > 100 and float(element["h"]) > 50  # type: ignore[arg-type]


@needs_chromium
@pytest.mark.parametrize(("run", "verdict_word"), [("failing", "FAIL"), ("aborted", "INCOMPLETE")])
def test_report_renders_in_chromium(
    report_runs: dict[str, Path], tmp_path: Path, run: str, verdict_word: str
) -> None:
    assert CHROMIUM is not None
    run_dir = Path(shutil.copytree(report_runs[run], tmp_path / run))
    gate_run(run_dir, checklist=None, rules=["p95(command_ack) < 100ms"], baseline=None)
    report = render_report(run_dir)
    with Browser(CHROMIUM) as browser:
        browser.open(report.resolve().as_uri())
        sizes = browser.evaluate(_ELEMENT_SIZES)
        verdict = browser.evaluate(_VERDICT)
        browser.screenshot(report.with_name("report.png"))
        errors = browser.console_errors()
    assert errors == []
    assert len(sizes) >= 5
    for element in sizes:
        assert rendered(element), element
    assert verdict["visible"] and verdict["w"] > 0 and verdict["h"] > 0
    assert verdict["top"] < 900  # above the fold
    assert verdict_word in verdict["text"]
    assert report.with_name("report.png").stat().st_size > 10_000


def _history_and_roi_pages(root: Path) -> list[Path]:
    reports = root / "reports"
    runs = [
        make_run(
            reports / "runs", SyntheticSpec(seed=i, run_id=f"r{i}", duration_s=6, latency_scale=1 + i / 10)
        )
        for i in range(4)
    ]
    history = write_history(build_history(reports), reports)
    _, roi = write_roi(roi_from_compare(compare_paths([runs[0]], [runs[3]]), load_cost_model()), root)
    _, compare = write_compare(compare_paths([runs[0]], [runs[3]], reports_dir=reports), runs[3])
    return [history, roi, compare]


@needs_chromium
def test_history_roi_and_compare_pages_render_in_chromium(tmp_path: Path) -> None:
    """The pages of the other stages use the same frame, stylesheet, CSP and chart encoder."""
    assert CHROMIUM is not None
    for page in _history_and_roi_pages(tmp_path):
        with Browser(CHROMIUM) as browser:
            browser.open(page.resolve().as_uri())
            sizes = browser.evaluate(_ELEMENT_SIZES)
            errors = browser.console_errors()
        assert errors == [], page.name
        assert sizes, f"{page.name} has no chart"
        for element in sizes:
            assert rendered(element), (page.name, element)


@needs_chromium
def test_a_broken_chart_would_be_detected(tmp_path: Path) -> None:
    """The checks above can fail: an external image is blocked by the CSP and has no size."""
    assert CHROMIUM is not None
    page = tmp_path / "page.html"
    page.write_text(
        '<!doctype html><meta http-equiv="Content-Security-Policy" content="default-src \'none\'">'
        '<figure><img src="https://example.invalid/chart.png"></figure>'
    )
    with Browser(CHROMIUM) as browser:
        browser.open(page.as_uri())
        sizes = browser.evaluate(_ELEMENT_SIZES)
        errors = browser.console_errors()
    assert errors, "a CSP violation must show up as a console error"
    assert sizes and not rendered(sizes[0])
