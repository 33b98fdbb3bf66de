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


def test_v2_fixture_shows_the_differential_hotspots_beside_the_verdict_and_the_repeats() -> None:
    result = load_ab(FIXTURES / "v2")
    html = render_ab(result)
    banner, hotspots, metrics = (
        html.index(x) for x in ("callout banner-fail", 'id="hotspots"', 'id="metrics"')
    )
    assert banner < hotspots < metrics  # right after the verdict, before the tables
    table = html[hotspots:metrics]
    assert "slow_path_burn" in table and "app.py:42" in table and "+35.0" in table
    assert table.index("slow_path_burn") < table.index("encode")  # largest growth first
    assert "2 repeats pooled" in html and "reports/ab/ab0/b-2" in html


def test_hotspot_strings_are_escaped_and_an_unprofiled_side_is_a_note() -> None:
    result = load_ab(FIXTURES / "v2")
    assert result.profile is not None
    evil = result.profile.hotspots[0].model_copy(update={"function": "<lambda>", "location": "<x>.py:1"})
    side_a = result.profile.a.model_copy(update={"status": "skipped", "reason": "no --a-pid <PID>"})
    profile = result.profile.model_copy(update={"hotspots": [evil], "a": side_a})
    html = render_ab(result.model_copy(update={"profile": profile}))
    assert "<lambda>" not in html and "&lt;lambda&gt;" in html and "&lt;x&gt;.py:1" in html
    assert "Side A not CPU-profiled (skipped): no --a-pid &lt;PID&gt;" in html
    assert 'id="hotspots"' not in render_ab(load_ab(FIXTURES / "v1"))
