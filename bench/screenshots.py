"""Screenshots of the pages a reader opens, from a real profiled run of the reference runtime.

    .venv/bin/python -m bench.screenshots OUT_DIR [--duration 6]

Two ``harness run``s of the reference runtime: a base (CPU profile) and one with the runtime's
fault injector on (a CPU hog and a leak per request; CPU and memory profiles), then ``harness
compare``. Headless Chromium (Debian package ``chromium``) opens, from disk, the run page, the
compare page, the CPU flamegraph (as opened, then zoomed on a click and searched), the offline
speedscope viewer and memray's pages, and writes one PNG each to OUT_DIR. Prints each PNG, any console error
or non-file request a page made, and the sizes of the run folder and its profiles folder.
Exit codes: 0 done, 1 a page made a request or logged an error, 2 usage, 3 no chromium.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

from tests.harness.report.cdp import Browser, chromium_path

ROOT = Path(__file__).resolve().parents[1]
SCENARIO = """\
name: screenshots
load: {{rate: 25, duration: {duration}s, drain: 3s}}
mix:
  - {{operation: simple_query}}
profile: {{memory_duration: {duration}s}}
"""
FAULTS = {
    "MOTHERBOX_FAULTS__CPU_HOG__MS": "5",
    "MOTHERBOX_FAULTS__MEMORY_LEAK__BYTES_PER_REQUEST": "65536",
}
HOT_BOX = "[...document.querySelectorAll('g.f')].find(g => g.dataset.n.startsWith('cpu_hog_burn'))"


def harness(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "harness", *args]
    return subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)


def profiled_run(reports: Path, scenario: Path, profile: str, faults: bool) -> Path:
    env = {**os.environ, **(FAULTS if faults else {})}
    args = ["run", str(scenario), "--profile", profile, "--quiet", "--reports-dir", str(reports)]
    out = harness(*args, "--profiles-dir", str(reports.parent / "profiles"), env=env)
    if out.returncode != 0:
        raise SystemExit(f"harness run failed ({out.returncode}): {out.stderr.strip()[-500:]}")
    return (reports / "latest").resolve()


def problems(browser: Browser, name: str) -> list[str]:
    network = [u for u in browser.requests() if not u.startswith(("file://", "data:"))]
    return [f"{name}: {e}" for e in browser.console_errors()] + [f"{name}: request {u}" for u in network]


def link(browser: Browser, run: Path, suffix: str) -> str | None:
    browser.open((run / "report.html").as_uri())
    href = browser.evaluate(f"(document.querySelector('#profiles a[href$=\"{suffix}\"]') || {{}}).href")
    return str(href) if href else None


def shoot(browser: Browser, run: Path, out: Path) -> tuple[list[Path], list[str]]:
    """Every page's screenshot (in ``out``) and what each did wrong."""
    shots, found = [], []
    pages = [("run", (run / "report.html").as_uri()), ("compare", (run / "compare.html").as_uri())]
    for suffix in (
        "cpu.flamegraph.svg",
        "cpu.speedscope.html",
        "memory.flamegraph.html",
        "memory.leaks.html",
    ):
        url = link(browser, run, suffix)
        if url is None:
            found.append(f"the run page has no link to {suffix}")
        else:
            pages.append((suffix.rsplit(".", 1)[0].replace(".", "-"), url))
    for name, url in pages:
        browser.open(url)
        browser.screenshot(out / f"{name}.png", settle_s=0.3 if name in ("run", "compare") else 1.5)
        shots.append(out / f"{name}.png")
        if name == "cpu-flamegraph":
            shots.append(zoom_and_search(browser, out / "cpu-flamegraph-zoomed-searched.png"))
        found += problems(browser, name)
    return shots, found


def zoom_and_search(browser: Browser, shot: Path) -> Path:
    """Click the hot spot's box (zoom), then search ``faults`` (highlight) and capture."""
    centre = "(r => [r.x + r.width / 2, r.y + r.height / 2])({}.getBoundingClientRect())"
    if browser.evaluate(f"!!{HOT_BOX}"):
        browser.click(*browser.evaluate(centre.format(HOT_BOX)))
    search = "document.getElementById('search').dispatchEvent(new MouseEvent('click'))"
    browser.answer_prompt(search, "faults")
    browser.screenshot(shot)
    return shot


def du(path: Path) -> str:
    return subprocess.run(["du", "-sh", str(path)], capture_output=True, text=True).stdout.split("\t")[0]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", type=Path, help="folder for the PNGs (and the runs, under runs/)")
    parser.add_argument("--duration", type=int, default=6, help="seconds of load per run (default 6)")
    args = parser.parse_args(argv)
    chromium = chromium_path()
    if chromium is None:
        print("chromium is not installed (Debian package `chromium`)", file=sys.stderr)
        return 3
    out: Path = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    scenario = out / "scenario.yaml"
    scenario.write_text(SCENARIO.format(duration=args.duration))
    base = profiled_run(out / "runs" / "reports", scenario, "cpu", faults=False)
    run = profiled_run(out / "runs" / "reports", scenario, "cpu,memory", faults=True)
    compared = harness("compare", str(base), str(run))  # compare.html into the run folder
    if compared.returncode not in (0, 1):
        raise SystemExit(f"harness compare failed ({compared.returncode}): {compared.stderr.strip()}")
    with Browser(chromium) as browser:
        shots, found = shoot(browser, run, out)
    for shot in shots:
        print(f"{shot}  {shot.stat().st_size:,} bytes")
    print(f"run folder {run}: {du(run)}; its profiles folder: {du(run / 'profiles')}")
    for page in sorted((run / "profiles").rglob("*.html")):
        print(f"  {page.relative_to(run)}: {page.stat().st_size:,} bytes")
    print("\n".join(found) or "no console error, no request but file:// and data:")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
