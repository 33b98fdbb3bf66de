"""memray's pages open offline (assets inlined with --no-web) and its RSS growth is kept apart."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

from harness.profiling.memory import OFFLINE_NOTE, MemrayPass, mark_online_only
from harness.profiling.tools import executable

SCRIPT = "keep = [bytearray(1024) for _ in range(2000)]\n"


def test_flamegraph_pages_load_nothing_from_the_network(tmp_path: Path) -> None:
    memray = MemrayPass(tmp_path / "memory")
    memray.out_dir.mkdir()
    (tmp_path / "leak.py").write_text(SCRIPT)
    binary = executable("memray")
    assert binary is not None
    cmd = [binary, "run", "--output", str(memray.capture), "--force", "--quiet", "--aggregate"]
    subprocess.run([*cmd, str(tmp_path / "leak.py")], check=True, timeout=120)
    record = memray.report(([0.0, 1.0, 2.0], [100.0, 101.0, 102.0]))
    assert record.status == "ok", record.reason
    for label in ("flamegraph", "leaks_flamegraph"):
        page = Path(record.files[label]).read_text()
        assert re.search(r"<script[^>]+src=", page) is None  # every script inline
        assert re.search(r"<link[^>]+href=\"https?:", page) is None  # and every stylesheet
        assert "d3.flamegraph" in page or "flamegraph(" in page  # the graph's code is in the page
    memory = json.loads(Path(record.files["memory"]).read_text())
    assert "rss_growth_mb_per_h" not in memory  # not the run's: only under the memray pass's key
    assert memory["under_memray"]["rss_growth_mb_per_h"] == 3600.0
    assert "not the run's" in memory["under_memray"]["note"]


def test_a_page_that_needs_the_network_says_so_at_the_top(tmp_path: Path) -> None:
    page = tmp_path / "p.html"
    page.write_text('<html><head><script src="https://cdn.example/x.js"></script></head><body><h1>x</h1>')
    mark_online_only(page)
    mark_online_only(page)
    text = page.read_text()
    assert text.count(OFFLINE_NOTE) == 1 and text.index(OFFLINE_NOTE) < text.index("<h1>")
