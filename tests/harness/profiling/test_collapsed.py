import json
import xml.etree.ElementTree as ET

from harness.profiling.collapsed import diff_hotspots, hotspot_table, parse_collapsed, to_speedscope, to_svg
from harness.profiling.memory import growth

RAW = """\
process 1:"python app.py";main (app.py:10);handle (app.py:20);cpu_hog_burn (faults.py:75) 60
process 1:"python app.py";main (app.py:10);handle (app.py:21);parse (app.py:40) 30
process 1:"python app.py";main (app.py:10);handle (app.py:20);cpu_hog_burn (faults.py:76) 10
bad line without count
"""


def test_hotspots_by_self_and_total():
    stacks = parse_collapsed(RAW)
    table = hotspot_table(stacks)
    assert table["total_samples"] == 100
    top = table["hotspots"][0]
    assert (top["function"], top["file"], top["line"]) == ("cpu_hog_burn", "faults.py", 75)
    assert top["self_percent"] == 70.0 and top["total_percent"] == 70.0
    by_total = {r["function"]: r["total_percent"] for r in table["by_total"]}
    assert by_total["main"] == 100.0 and by_total["handle"] == 100.0
    assert "process 1" not in json.dumps(table["hotspots"])  # process frames are not functions


def test_speedscope_and_svg_are_well_formed():
    stacks = parse_collapsed(RAW)
    doc = to_speedscope(stacks, "run")
    profile = doc["profiles"][0]
    assert profile["type"] == "sampled" and sum(profile["weights"]) == 100
    assert all(0 <= i < len(doc["shared"]["frames"]) for s in profile["samples"] for i in s)
    root = ET.fromstring(to_svg(stacks, "CPU <run>"))
    rects = root.findall("{http://www.w3.org/2000/svg}g/{http://www.w3.org/2000/svg}rect")
    assert len(rects) >= 5
    titles = [t.text for t in root.iter("{http://www.w3.org/2000/svg}title")]
    assert any("cpu_hog_burn" in (t or "") for t in titles)


def test_diff_lists_growth_first():
    before = hotspot_table(parse_collapsed("main (a.py:1);work (a.py:2) 90\nmain (a.py:1);hog (b.py:3) 10\n"))
    after = hotspot_table(parse_collapsed("main (a.py:1);work (a.py:2) 40\nmain (a.py:1);hog (b.py:3) 60\n"))
    rows = diff_hotspots(before, after)
    assert rows[0]["function"].startswith("hog") and rows[0]["delta_percent"] == 50.0
    assert rows[1]["function"].startswith("work") and rows[1]["delta_percent"] == -50.0


def test_rss_growth_slope_and_r2():
    ts = [float(t) for t in range(60)]
    mb = [100.0 + t / 60.0 for t in ts]  # +1 MB per minute
    out = growth((ts, mb))
    assert abs(out["rss_growth_mb_per_h"] - 60.0) < 0.01 and out["rss_growth_r2"] > 0.999
    assert growth(None)["rss_growth_mb_per_h"] is None


class _Record:
    def __init__(self, size, stack):
        self.size, self.n_allocations, self._stack = size, 1, stack

    def stack_trace(self, max_stacks=12):
        return self._stack


def test_leak_sites_skip_import_time_but_not_the_launcher_module():
    from harness.profiling.memory import leak_sites

    launcher = ("<module>", "launch_runtime.py", 14)
    records = [
        _Record(5_000, [("leak_retain", "faults.py", 53), ("handle", "app.py", 9), launcher]),
        _Record(
            9_000,
            [("<module>", "big.py", 1), ("_call_with_frames_removed", "<frozen importlib._bootstrap>", 241)],
        ),
        _Record(
            1_000, [("_run_once", "/usr/lib/python3.11/asyncio/base_events.py", 1), ("cache", "c.py", 3)]
        ),
    ]
    sites = leak_sites(records)
    assert [s["function"] for s in sites] == ["leak_retain", "cache"]  # asyncio plumbing skipped too


ASYNC = """\
main (reference_runtime/cli.py:293);Runner.run (asyncio/runners.py:118) 50
main (reference_runtime/cli.py:293);Runner.run (asyncio/runners.py:118);handle (reference_runtime/app.py:9);\
dumps (json/encoder.py:200) 30
Thread._bootstrap (threading.py:1002);_worker (concurrent/futures/thread.py:81);\
commit (reference_runtime/store/writer.py:96);execute (aiosqlite/core.py:1) 20
"""


def test_own_code_table_charges_each_sample_to_its_deepest_own_frame():
    table = hotspot_table(parse_collapsed(ASYNC), own_prefixes=("reference_runtime/",))
    assert table["hotspots"][0]["function"] == "Runner.run"  # the all-frames table: event loop first
    own = table["own_code"]
    # the loop waiting (Runner.run the leaf) is not charged to main(), which only started the loop
    assert own["percent"] == 50.0 and own["rule"] == "files under reference_runtime/"
    rows = [(r["function"], r["location"], r["own_percent"]) for r in own["hotspots"]]
    assert rows == [
        ("handle", "reference_runtime/app.py:9", 30.0),
        ("commit", "reference_runtime/store/writer.py:96", 20.0),
    ]


def test_own_code_without_prefixes_leaves_out_stdlib_and_site_packages():
    raw = "Runner.run (asyncio/runners.py:1);main (myservice/app.py:3);call (pytest/main.py:2) 10\n"
    own = hotspot_table(parse_collapsed(raw))["own_code"]
    assert [r["function"] for r in own["hotspots"]] == ["main"]
    assert "standard library" in own["rule"]


def test_svg_is_interactive_and_labels_name_function_and_line():
    svg = to_svg(parse_collapsed(ASYNC), "CPU run")
    root = ET.fromstring(svg)
    ns = "{http://www.w3.org/2000/svg}"
    script = root.find(f"{ns}script")
    assert script is not None and "function zoom(" in (script.text or "") and "prompt(" in (script.text or "")
    assert "http" not in (script.text or "")  # nothing fetched
    ids = {el.get("id") for el in root.iter() if el.get("id")}
    assert {"unzoom", "search", "matched"} <= ids
    boxes = [g for g in root.iter(f"{ns}g") if g.get("class") == "f"]
    assert any(g.get("data-n") == "handle (reference_runtime/app.py:9)" for g in boxes)
    widest = [g for g in boxes if float(g.get("data-w", 0)) > 500]
    labels = [g.find(f"{ns}text").text for g in widest]  # type: ignore[union-attr]
    assert "main (reference_runtime/cli.py:293)" in labels  # wide boxes keep the whole name


def test_memory_sites_are_named_as_imported_like_cpu_frames():
    from harness.profiling.memory import import_relative

    roots = ["/venv/lib/python3.11/site-packages", "/venv/lib/python3.11", "/repo"]
    assert (
        import_relative("/venv/lib/python3.11/site-packages/uvicorn/server.py", roots) == "uvicorn/server.py"
    )
    assert import_relative("/venv/lib/python3.11/asyncio/base_events.py", roots) == "asyncio/base_events.py"
    assert import_relative("/repo/reference_runtime/faults.py", roots) == "reference_runtime/faults.py"
    assert import_relative("/elsewhere/x.py", roots) == "/elsewhere/x.py"
    assert import_relative("/repository/x.py", roots) == "/repository/x.py"  # a prefix, not a folder
