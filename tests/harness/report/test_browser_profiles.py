"""A real profiled run, opened from disk in headless Chromium the way a reader would: the run
page, the compare page of two runs, and every profile view the run page links to (the CPU
flamegraph SVG with click-to-zoom and search, the speedscope file, memray's pages).

Each page: a screenshot under ``<run>/screenshots/``, no console error, and no request but
``file://`` (seen through the DevTools Network domain; ``data:`` URLs are inline, not network).
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from tests.harness.report.cdp import Browser, chromium_path

CHROMIUM = chromium_path()
ROOT = Path(__file__).resolve().parents[3]
pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.skipif(CHROMIUM is None, reason="chromium not installed (Debian package `chromium`)"),
]

#: The stand-in runtime (tests/harness/fake_runtime.py): with FAKE_FAULTS=1 each request burns
#: CPU in ``cpu_hog_burn`` and keeps memory in ``leak_retain``.
SCENARIO = """\
name: browserprof
load: {rate: 25, duration: 2s, drain: 1s}
mix:
  - {name: things, path: /v1/things}
profile: {memory_duration: 2s}
"""
#: Frames, the CPU flamegraph's boxes and memray's, by the start of their label.
BOX = "[...document.querySelectorAll('g.f')].find(g => g.dataset.n.startsWith({name!r}))"
CHART_SIZE = "(e => e ? [e.getBoundingClientRect().width, e.getBoundingClientRect().height] : null)({})"
PINK = "r => r.getAttribute('fill') == 'rgb(230,0,230)'"  # the search's highlight colour
LINK = """(document.querySelector('#profiles a[href$="{suffix}"]') || {{}}).href"""


def harness_run(reports: Path, profile: str, faults: bool, scenario: Path) -> Path:
    """``harness run`` as a user runs it (report.html included) against the stand-in runtime."""
    env = {
        **os.environ,
        "HARNESS_RUNTIME_MODULE": "tests.harness.fake_runtime",
        "FAKE_FAULTS": str(int(faults)),
    }
    cmd = [sys.executable, "-m", "harness", "run", str(scenario), "--profile", profile, "--quiet"]
    cmd += ["--reports-dir", str(reports), "--profiles-dir", str(reports.parent / "profiles")]
    out = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=240)
    assert out.returncode == 0, out.stdout + out.stderr
    return (reports / "latest").resolve()


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    """(base run: CPU profile, no faults; profiled run: CPU and memory, faults on; compare page).
    The two runs go side by side (each its own reports folder and runtime): half the wait."""
    tmp = tmp_path_factory.mktemp("browser-prof")
    scenario = tmp / "scenario.yaml"
    scenario.write_text(SCENARIO)
    with ThreadPoolExecutor(2) as pool:
        base_run = pool.submit(harness_run, tmp / "base" / "reports", "cpu", False, scenario)
        new_run = pool.submit(harness_run, tmp / "new" / "reports", "cpu,memory", True, scenario)
        base, run = base_run.result(), new_run.result()
    cmd = [sys.executable, "-m", "harness", "compare", str(base), str(run)]  # into the run folder
    env = {**os.environ, "HARNESS_REPORTS_DIR": str(tmp / "base" / "reports")}  # the page finds base
    out = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode in (0, 1), out.stdout + out.stderr  # 1: the faults read as a regression
    return base, run, run / "compare.html"


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    assert CHROMIUM is not None
    with Browser(CHROMIUM) as opened:
        yield opened


def offline(browser: Browser) -> list[str]:
    """What went wrong on the open page: console errors, and every request that was not a file."""
    network = [u for u in browser.requests() if not u.startswith(("file://", "data:"))]
    return browser.console_errors() + [f"network request: {u}" for u in network]


def open_page(browser: Browser, url: str, shot: Path, settle_s: float = 0.3) -> None:
    browser.open(url)
    browser.screenshot(shot, settle_s=settle_s)
    assert offline(browser) == [], url
    assert shot.stat().st_size > 5_000


def charts(browser: Browser) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = browser.evaluate(
        "[...document.querySelectorAll('figure > svg')].map(e => e.getBoundingClientRect())"
        ".map(r => ({w: r.width, h: r.height}))"
    )
    return found


def test_run_page_and_its_profile_links(runs: tuple[Path, Path, Path], browser: Browser) -> None:
    _, run, _ = runs
    open_page(browser, (run / "report.html").as_uri(), run / "screenshots" / "run.png")
    drawn = charts(browser)
    assert len(drawn) >= 3 and all(c["w"] > 100 and c["h"] > 50 for c in drawn), drawn
    own = browser.evaluate("document.querySelector('#profiles .own-hotspots').innerText")
    assert "cpu_hog_burn" in own  # the hot spot the faults put there leads the own-code table
    links = browser.evaluate("[...document.querySelectorAll('#profiles a')].map(a => a.href)")
    assert len(links) >= 7 and all(link.startswith(run.as_uri() + "/profiles/") for link in links)
    assert all(Path(link.removeprefix("file://")).is_file() for link in links)


def test_compare_page(runs: tuple[Path, Path, Path], browser: Browser) -> None:
    _, run, compare = runs
    open_page(browser, compare.as_uri(), run / "screenshots" / "compare.png")
    assert charts(browser), "the compare page has no chart"
    text = browser.evaluate("document.body.innerText")
    assert "things" in text  # the operation, compared
    assert browser.evaluate("[...document.querySelectorAll('a[href$=\"report.html\"]')].length") >= 2


def test_cpu_flamegraph_zooms_on_click_and_highlights_search(
    runs: tuple[Path, Path, Path], browser: Browser
) -> None:
    _, run, _ = runs
    browser.open((run / "report.html").as_uri())
    url = browser.evaluate(LINK.format(suffix="cpu.flamegraph.svg"))
    browser.open(url)
    hog = BOX.format(name="cpu_hog_burn")
    width = f"+{hog}.querySelector('rect').getAttribute('width')"
    before = browser.evaluate(width)
    box = browser.evaluate(f"(r => [r.x + r.width / 2, r.y + r.height / 2])({hog}.getBoundingClientRect())")
    browser.click(*box)  # a real mouse click, through the page's own handlers
    after = browser.evaluate(width)
    hidden = browser.evaluate(
        "[...document.querySelectorAll('g.f')].filter(g => g.style.display == 'none').length"
    )
    browser.answer_prompt(
        "document.getElementById('search').dispatchEvent(new MouseEvent('click'))", "cpu_hog"
    )
    matched = browser.evaluate("document.getElementById('matched').textContent")
    highlighted = browser.evaluate(f"[...document.querySelectorAll('g.f rect')].filter({PINK}).length")
    browser.screenshot(run / "screenshots" / "flamegraph.png")
    assert offline(browser) == []
    assert before < 1200 and after == pytest.approx(1200.0)  # zoomed: the box spans the width
    assert (
        hidden > 0
        and browser.evaluate("getComputedStyle(document.getElementById('unzoom')).display") != "none"
    )
    assert matched.startswith('Matched "cpu_hog": ') and highlighted >= 1


def test_speedscope_viewer_opens_the_profile_offline(runs: tuple[Path, Path, Path], browser: Browser) -> None:
    """The run page's speedscope link opens speedscope itself (vendored, inlined) with this run's
    profile loaded: its name in the title, its frames in the sandwich (table) view."""
    _, run, _ = runs
    browser.open((run / "report.html").as_uri())
    url = browser.evaluate(LINK.format(suffix="cpu.speedscope.html"))
    browser.open(url + "#view=sandwich")
    title = browser.wait_until("document.title.endsWith(' - speedscope') && document.title")
    table = browser.wait_until("document.body.innerText.includes('cpu_hog_burn') && document.body.innerText")
    browser.screenshot(run / "screenshots" / "speedscope.png")
    assert offline(browser) == []
    assert title == f"{run.name} - speedscope"  # the profile's name (to_speedscope's title)
    assert "cpu_hog_burn" in table and "Handler.do_GET" in table  # its frames, drawn by speedscope


@pytest.mark.parametrize("page", ["memory.flamegraph.html", "memory.leaks.html"])
def test_memray_pages_render_offline_with_shared_assets(
    runs: tuple[Path, Path, Path], browser: Browser, page: str
) -> None:
    _, run, _ = runs
    browser.open((run / "report.html").as_uri())
    url = browser.evaluate(LINK.format(suffix=page))
    open_page(browser, url, run / "screenshots" / page.replace(".html", ".png"), settle_s=1.5)
    frames = browser.wait_until("document.querySelectorAll('#chart svg rect').length")
    graph = browser.evaluate(CHART_SIZE.format("document.querySelector('.js-plotly-plot')"))
    labels = browser.evaluate("document.getElementById('chart').innerText")
    folder = Path(url.removeprefix("file://")).parent
    assert frames > 3 and graph is not None and graph[0] > 100 and graph[1] > 10, (frames, graph)
    assert "leak_retain" in labels  # the leaking site is drawn in both views
    assets = {u.rsplit("/", 1)[1] for u in browser.requests() if "memray-assets-" in u}
    assert assets and all((folder / name).is_file() for name in assets)  # shared, beside the page
    assert (folder / page).stat().st_size < 1_000_000  # the page holds its data, not plotly
