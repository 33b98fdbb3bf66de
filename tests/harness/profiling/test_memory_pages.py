"""memray's pages open offline (assets inlined with --no-web) and its RSS growth is kept apart."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

from harness.profiling.memory import OFFLINE_NOTE, MemrayPass, mark_online_only, share_assets
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
        page = Path(record.files[label])
        text = page.read_text()
        assets = re.findall(r'<(?:script|link)[^>]+(?:src|href)="([^"#]+)"', text)
        assert assets and all("/" not in a and (page.parent / a).is_file() for a in assets)  # beside it
        code = text + "".join((page.parent / a).read_text() for a in assets)
        assert "d3.flamegraph" in code or "flamegraph(" in code  # the graph's code is there
        assert page.stat().st_size < 1_000_000  # plotly & co. once per folder, not per page
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


def test_assets_two_pages_share_move_to_one_file_each_and_the_rest_stays(tmp_path: Path) -> None:
    lib, style = "var lib = 1;" * 1000, "b{color:red}" * 1000
    head = f'<style>{style}</style><script type="text/javascript">{lib}</script>'
    pages = [tmp_path / "a.html", tmp_path / "b.html"]
    for page, data in zip(pages, ("A", "B"), strict=True):
        data_script = f'<script type="text/javascript">const d = "{data}{"x" * 9999}"</script>'
        page.write_text(f"<html>{head}{data_script}</html>")
    alone = tmp_path / "alone" / "c.html"
    alone.parent.mkdir()
    alone.write_text(pages[0].read_text())
    before = sum(p.stat().st_size for p in pages)
    assert share_assets(pages) == before - sum(p.stat().st_size for p in pages) > 2 * len(lib)
    js, css = sorted(tmp_path.glob("memray-assets-*.js")), sorted(tmp_path.glob("memray-assets-*.css"))
    assert [f.read_text() for f in js] == [lib] and [f.read_text() for f in css] == [style]
    for page, data in zip(pages, ("A", "B"), strict=True):
        text = page.read_text()
        assert f'src="{js[0].name}"' in text and f'href="{css[0].name}"' in text
        assert f'"{data}{"x" * 9999}"' in text  # each page's own data stays inline
    assert share_assets(pages) == 0  # nothing left to share
    assert share_assets([alone]) == 0 and not list(alone.parent.glob("memray-assets-*"))
