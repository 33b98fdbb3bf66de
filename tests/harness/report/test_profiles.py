"""The run page's profiles section: own code first, links that survive an uploaded run folder,
memray's RSS growth labelled as the memray pass's."""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import time
from pathlib import Path

from harness.contract import rundir
from harness.profiling.collapsed import hotspot_table, parse_collapsed, to_speedscope, to_svg
from harness.report.profiles import SPEEDSCOPE_PAGE, speedscope_viewer
from harness.report.run_page import render_report
from harness.testing.synthetic import SyntheticSpec, make_run

RAW = """\
process 1:"python";main (reference_runtime/cli.py:293);Runner.run (asyncio/runners.py:118);\
handle (reference_runtime/routes/commands.py:57);json_dumps (json/encoder.py:200) 30
process 1:"python";main (reference_runtime/cli.py:293);Runner.run (asyncio/runners.py:118) 50
process 1:"python";Thread._bootstrap (threading.py:1002);_worker (concurrent/futures/thread.py:81);\
commit (reference_runtime/store/sqlite_writer.py:96);execute (sqlite3/dbapi2.py:1) 20
"""


def _profiled_run(parent: Path) -> Path:
    """A run whose profiles sit where ``harness run`` now puts them: ``<run>/profiles/<run-id>/``."""
    run_dir = make_run(parent, SyntheticSpec(run_id="prof", rate=20.0, duration_s=10.0))
    out = run_dir / "profiles" / "prof"
    (out / "memory").mkdir(parents=True)
    stacks = parse_collapsed(RAW)
    (out / "cpu.collapsed.txt").write_text(RAW)
    (out / "hotspots.json").write_text(
        json.dumps(hotspot_table(stacks, own_prefixes=("reference_runtime/",)))
    )
    (out / "cpu.flamegraph.svg").write_text(to_svg(stacks, "CPU prof"))
    (out / "cpu.speedscope.json").write_text(json.dumps(to_speedscope(stacks, "prof")))
    memory = {
        "schema_version": 1,
        "kind": "motherbox-perf/memory",
        "peak_memory_mb": 80.0,
        "under_memray": {"rss_growth_mb_per_h": 5633.0, "rss_growth_r2": 0.9, "note": "x"},
        "top_sites": [],
    }
    (out / "memory" / "memory.json").write_text(json.dumps(memory))
    (out / "memory" / "memory.flamegraph.html").write_text("<html><body>memray</body></html>")
    cpu = {
        k: f"profiles/prof/{n}"
        for k, n in (
            ("collapsed", "cpu.collapsed.txt"),
            ("hotspots", "hotspots.json"),
            ("flamegraph", "cpu.flamegraph.svg"),
            ("speedscope", "cpu.speedscope.json"),
        )
    }
    mem = {
        "memory": "profiles/prof/memory/memory.json",
        "flamegraph": "profiles/prof/memory/memory.flamegraph.html",
    }
    profiles = {
        "cpu": rundir.ProfileRecord(status="ok", files=cpu),
        "memory": rundir.ProfileRecord(status="ok", files=mem),
    }
    manifest = rundir.load_manifest(run_dir)
    rundir.write_model(run_dir / rundir.MANIFEST_FILE, manifest.model_copy(update={"profiles": profiles}))
    return run_dir


def _section(html: str) -> str:
    return html[html.index('id="profiles"') : html.index('id="context"')]


def test_own_code_leads_with_file_and_line_and_every_frame_stays_one_click_away(tmp_path: Path) -> None:
    run_dir = _profiled_run(tmp_path)
    section = _section(render_report(run_dir).read_text())
    own = section[section.index('class="own-hotspots"') : section.index("</table>")]
    rows = re.findall(r'<td class="mono">([^<]+)</td><td class="mono muted">([^<]+)</td>', own)
    assert rows == [
        ("handle", "reference_runtime/routes/commands.py:57"),  # 30 samples charged to it
        ("commit", "reference_runtime/store/sqlite_writer.py:96"),  # 20
    ]  # main() only started the event loop: its 50 idle samples are not own code at work
    assert "Runner.run" not in own and "_worker" not in own  # event loop and thread pool: not own
    assert "<details>" in section and "Runner.run" in section  # everything, behind a toggle
    assert "files under reference_runtime/" in section and "at work in 50.0%" in section


def test_links_stay_inside_an_uploaded_run_folder(tmp_path: Path) -> None:
    run_dir = _profiled_run(tmp_path / "made")
    render_report(run_dir)
    uploaded = shutil.copytree(run_dir, tmp_path / "elsewhere" / "prof")
    shutil.rmtree(tmp_path / "made")
    html = render_report(uploaded).read_text()
    hrefs = re.findall(r'href="(profiles/[^"]+)"', _section(html))
    assert len(hrefs) == 7 and all((uploaded / h).is_file() for h in hrefs)
    assert "../" not in "".join(hrefs)
    section = _section(html)
    assert "interactive flamegraph (SVG: click to zoom" in section
    assert "speedscope (offline viewer)" in section and "speedscope JSON" in section
    assert 'href="profiles/prof/cpu.speedscope.html"' in section  # the viewer, beside the JSON


def test_the_speedscope_viewer_holds_the_profile_and_follows_it(tmp_path: Path) -> None:
    profile = tmp_path / "cpu.speedscope.json"
    profile.write_text(json.dumps(to_speedscope(parse_collapsed(RAW), "prof")))
    page = speedscope_viewer(profile)
    assert page == tmp_path / "cpu.speedscope.html" and page.read_bytes() == SPEEDSCOPE_PAGE.read_bytes()
    call = (tmp_path / "cpu.speedscope.js").read_text()
    name, data = re.fullmatch(r'speedscope\.loadFileFromBase64\("([^"]+)", "([^"]+)"\);\n', call).groups()
    assert name == profile.name and base64.b64decode(data) == profile.read_bytes()
    profile.write_text("{}")  # a newer profile: the script follows it
    os.utime(profile, (time.time() + 5, time.time() + 5))
    speedscope_viewer(profile)
    assert base64.b64decode((tmp_path / "cpu.speedscope.js").read_text().split('"')[3]) == b"{}"


def test_memray_rss_growth_is_labelled_as_the_memray_pass(tmp_path: Path) -> None:
    section = _section(render_report(_profiled_run(tmp_path)).read_text())
    assert "RSS growth under memray, not the run&#39;s (MB/h)" in section and "5,633" in section
    assert "not the run&#39;s RSS growth" in section
    assert "rss growth (MB/h)" not in section


def test_an_old_memory_json_is_labelled_too_and_old_layout_links_resolve(tmp_path: Path) -> None:
    """Before: ``profiles/<id>/`` beside ``reports/``, rss_growth at memory.json's top level."""
    repo = tmp_path / "repo"
    run_dir = make_run(repo / "reports" / "runs", SyntheticSpec(run_id="old", rate=20.0, duration_s=10.0))
    old = repo / "profiles" / "old"
    old.mkdir(parents=True)
    (old / "memory.json").write_text(json.dumps({"peak_memory_mb": 9.0, "rss_growth_mb_per_h": 12.0}))
    record = rundir.ProfileRecord(status="ok", files={"memory": "profiles/old/memory.json"})
    manifest = rundir.load_manifest(run_dir)
    update = {"profiles": {"memory": record}}
    rundir.write_model(run_dir / rundir.MANIFEST_FILE, manifest.model_copy(update=update))
    section = _section(render_report(run_dir).read_text())
    assert 'href="../../../profiles/old/memory.json"' in section
    assert "RSS growth under memray, not the run&#39;s (MB/h)" in section and "peak memory (MB)" in section
