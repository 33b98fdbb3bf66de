"""The profile views open offline in a real browser: the flamegraph SVG zooms and searches, the
memray page draws its graph; no console errors and no network request (file:// only)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from harness.profiling.collapsed import parse_collapsed, to_svg
from harness.profiling.memory import MemrayPass
from harness.profiling.tools import executable
from tests.harness.report.cdp import Browser, chromium_path

CHROMIUM = chromium_path()
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(CHROMIUM is None, reason="chromium not installed (Debian package `chromium`)"),
]

RAW = """\
Runner.run (asyncio/runners.py:118) 50
Runner.run (asyncio/runners.py:118);handle (reference_runtime/app.py:9);dumps (json/encoder.py:200) 30
Runner.run (asyncio/runners.py:118);commit (reference_runtime/store/writer.py:96) 20
"""


def off_disk(requests: list[str]) -> list[str]:
    """Requests that leave the page's own files: anything but file:// and inline data: URLs (seen
    through CDP's Network domain; the page's resource-timing list would leave file:// out)."""
    return [url for url in requests if not url.startswith(("file://", "data:"))]


BOX = "[...document.querySelectorAll('g.f')].find(g => g.dataset.n.startsWith('{name}'))"


def test_flamegraph_zooms_and_searches_offline(tmp_path: Path) -> None:
    assert CHROMIUM is not None
    svg = tmp_path / "cpu.flamegraph.svg"
    svg.write_text(to_svg(parse_collapsed(RAW), "CPU run"))
    handle = BOX.format(name="handle")
    with Browser(CHROMIUM) as browser:
        browser.open(svg.resolve().as_uri())
        before = browser.evaluate(f"+{handle}.querySelector('rect').getAttribute('width')")
        browser.evaluate(f"{handle}.dispatchEvent(new MouseEvent('click', {{bubbles: true}}))")
        after = browser.evaluate(f"+{handle}.querySelector('rect').getAttribute('width')")
        hidden = browser.evaluate(f"{BOX.format(name='commit')}.style.display")
        label = browser.evaluate(f"{handle}.querySelector('text').textContent")
        browser.evaluate("window.prompt = () => 'commit'")
        browser.evaluate("document.getElementById('search').dispatchEvent(new MouseEvent('click'))")
        matched = browser.evaluate("document.getElementById('matched').textContent")
        browser.screenshot(tmp_path / "flamegraph.png")
        requests, errors = browser.requests(), browser.console_errors()
    assert before == pytest.approx(360.0) and after == pytest.approx(1200.0)  # zoomed to full width
    assert hidden == "none" and label == "handle (reference_runtime/app.py:9)"
    assert matched == 'Matched "commit": 20.0% of samples'
    assert errors == [] and off_disk(requests) == [] and requests == [svg.resolve().as_uri()]


def test_memray_page_draws_its_graph_offline(tmp_path: Path) -> None:
    assert CHROMIUM is not None
    memray = MemrayPass(tmp_path / "memory")
    memray.out_dir.mkdir()
    (tmp_path / "alloc.py").write_text("keep = [bytearray(4096) for _ in range(500)]\n")
    binary = executable("memray")
    assert binary is not None
    run = [binary, "run", "--output", str(memray.capture), "--force", "--quiet", "--aggregate"]
    subprocess.run([*run, str(tmp_path / "alloc.py")], check=True, timeout=120)
    page = Path(memray.report(None).files["flamegraph"])
    with Browser(CHROMIUM) as browser:
        browser.open(page.resolve().as_uri())
        boxes = browser.evaluate("document.querySelectorAll('#chart svg rect').length")
        styled = browser.evaluate("getComputedStyle(document.body).fontFamily")
        requests, errors = browser.requests(), browser.console_errors()
    assert boxes > 3  # d3-flamegraph ran: it needs d3 inlined
    assert "Times" not in styled  # Bootstrap's font stack, not the browser default
    assert errors == [] and off_disk(requests) == []
    assert any("memray-assets-" in url for url in requests)  # the shared libraries, beside the page
