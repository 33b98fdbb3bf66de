"""ab.html renders ab.json's model: banner, metrics table and the two window charts, no computing."""

from __future__ import annotations

from pathlib import Path

from harness.compare.ab_result import load_ab
from harness.compare.paired import paired_compare
from harness.report.ab_page import render_ab, write_ab
from tests.harness.compare.test_paired import FIXTURES, duet


def test_write_ab_writes_both_files_from_one_result(tmp_path: Path) -> None:
    a, b = duet(tmp_path / "runs", 0, scale=1.3, duration_s=20)
    result = paired_compare(a, b)
    json_path, html_path = write_ab(result, tmp_path / "out")
    assert (json_path.name, html_path.name) == ("ab.json", "ab.html")
    assert load_ab(json_path) == result
    html = html_path.read_text()
    assert "Regression: p50(overall)" in html and html.count("<svg") == 2
    assert "could see changes ≥" in html and "<script" not in html


def test_fixture_renders_every_status_and_the_banner() -> None:
    result = load_ab(FIXTURES / "v1")
    html = render_ab(result)
    assert "callout banner-fail" in html
    assert "too few samples" in html and "regression" in html
    mde = result.headline.mde
    assert mde is not None and f"{mde * 100:.1f}%" in html


def test_inconclusive_and_no_regression_banners(tmp_path: Path) -> None:
    result = paired_compare(*duet(tmp_path, 1, duration_s=10))
    html = render_ab(result)
    banner = "banner-warn" if result.headline.verdict == "inconclusive" else "banner-pass"
    assert f"callout {banner}" in html and "callout banner-fail" not in html
