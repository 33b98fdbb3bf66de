"""The live view: the collector's per-operation figures, the table and JSON built from a progress
message, the ``--web`` server (a real one on a free loopback port) and the plain line for CI logs."""

from __future__ import annotations

import argparse
import http.client
import io
import json
import math
import re
import shutil
import socket
import subprocess
from types import SimpleNamespace

import pytest
from rich.console import Console

from harness.commands import run as run_command
from harness.derive.percentiles import values_at
from harness.load.collector import Collector
from harness.load.recorder import Recorder
from harness.load.schedule import schedule_from
from harness.run.live import LiveState, render_table, snapshot
from harness.run.live_web import PAGE, LiveServer
from harness.run.progress import Progress
from harness.scenario import parse_scenario_text, resolve

SCENARIO = """\
name: live
load:
  stages:
    - {duration: 10s, rate: 10, ramp: true}
    - {duration: 20s, rate: 40}
mix:
  - {name: get, path: /x, weight: 3}
  - {name: other, path: /y}
"""
#: The scenario schema limits names to letters, digits, _ . -; the views escape whatever comes.
EVIL = "[bold]<b>evil</b>"


def resolved_scenario():
    return resolve(parse_scenario_text(SCENARIO))


def figures(rate, completed, p50, p95, p99, ip95, errors=0, dropped=0):
    return {
        "rate": rate,
        "completed": completed,
        "errors": errors,
        "dropped": dropped,
        "interval_ms": {"p50": None, "p95": ip95, "p99": None},
        "total_ms": {"p50": p50, "p95": p95, "p99": p99},
    }


def progress_message(elapsed=15.0, final=False):
    """A progress message as the Locust process sends it (harness.load.driver._emit_progress)."""
    return {
        "kind": "progress",
        "elapsed": elapsed,
        "total": 30.0,
        "final": final,
        "rate": 38.5,
        "p95_ms": 41.5,
        "completed": 400,
        "errors": 4,
        "dropped": 2,
        "overall": figures(38.5, 400, 12.25, 48.5, 97.0, 41.5, errors=4, dropped=2),
        "operations": {
            "get": figures(30.0, 300, 10.0, 20.0, 30.0, 19.5),
            EVIL: figures(8.5, 100, 50.0, 90.0, 120.0, None, errors=4, dropped=2),
        },
    }


def test_collector_reports_each_operation_interval_and_run_so_far_by_the_one_definition(tmp_path):
    collector = Collector(tmp_path / "parts", per_op=True)
    rec = Recorder()
    fast = [float(ms) for ms in range(1, 101)]
    slow = [float(ms) for ms in range(100, 401, 5)]
    for ms in fast:
        rec.on_request("fast", ms, 0, SimpleNamespace(status_code=200), {}, None, 1.0)
    for ms in slow:
        rec.on_request("slow", ms, 0, SimpleNamespace(status_code=503), {}, RuntimeError("503"), 1.0)
    rec.record_unsent("slow", 2.0, "dropped")
    collector.add(rec.take())
    first = collector.progress(now=collector._last_progress + 2.0)
    ops = first["operations"]
    assert set(ops) == {"fast", "slow"}
    assert ops["fast"]["rate"] == 50.0 and ops["fast"]["completed"] == 100 and ops["fast"]["errors"] == 0
    assert ops["slow"]["errors"] == len(slow) and ops["slow"]["dropped"] == 1
    for name, values in (("fast", fast), ("slow", slow)):
        expected = dict(zip(("p50", "p95", "p99"), values_at(values, [50, 95, 99]).tolist(), strict=True))
        assert ops[name]["total_ms"] == expected == ops[name]["interval_ms"]
    assert first["overall"]["total_ms"]["p95"] == values_at(fast + slow, [95])[0] == first["p95_ms"]
    # a second interval with more fast samples: the interval is only them, the run so far is all
    for ms in (500.0, 600.0):
        rec.on_request("fast", ms, 0, SimpleNamespace(status_code=200), {}, None, 1.0)
    collector.add(rec.take())
    ops = collector.progress()["operations"]
    assert ops["fast"]["interval_ms"]["p50"] == values_at([500.0, 600.0], [50])[0]
    assert ops["fast"]["total_ms"]["p99"] == values_at([*fast, 500.0, 600.0], [99])[0]
    assert ops["slow"]["interval_ms"] == {"p50": None, "p95": None, "p99": None}  # JSON-safe: no NaN
    assert ops["slow"]["total_ms"]["p50"] == values_at(slow, [50])[0]
    collector.close()


def test_collector_without_per_op_figures_keeps_the_overall_ones(tmp_path, monkeypatch):
    monkeypatch.setenv("HARNESS_LIVE_PER_OP", "0")
    collector = Collector(tmp_path / "parts")
    rec = Recorder()
    rec.on_request("a", 7.0, 0, SimpleNamespace(status_code=200), {}, None, 1.0)
    collector.add(rec.take())
    out = collector.progress()
    assert out["operations"] == {} and out["completed"] == 1 and out["overall"]["total_ms"]["p50"] is not None
    collector.close()


def test_table_shows_each_operation_the_total_stage_and_target_rate():
    resolved = resolved_scenario()
    schedule = schedule_from([(s.start_s, s.end_s, s.rate_from, s.rate_to) for s in resolved.stages])
    shot = snapshot(progress_message(), resolved, schedule, "run-42")
    assert shot["stage"] == 2 and shot["stages"] == 2 and shot["target_rate"] == 40.0
    assert [r["name"] for r in shot["operations"]] == [EVIL, "get"]
    console = Console(record=True, width=200, file=io.StringIO())
    console.print(render_table(shot))
    text = console.export_text()
    assert "run-42  15/30s  stage 2/2  rate 38.5/s (target 40.0/s)" in text
    assert EVIL in text  # a name from YAML is text, never rich markup
    rows = {cells[0]: cells[1:] for cells in map(table_cells, text.splitlines()) if len(cells) == 9}
    assert rows["get"] == ["30.0", "300", "10.0", "20.0", "30.0", "19.5", "0 (0.00%)", "0"]
    assert rows[EVIL] == ["8.5", "100", "50.0", "90.0", "120.0", "-", "4 (4.00%)", "2"]
    assert rows["all"] == ["38.5", "400", "12.2", "48.5", "97.0", "41.5", "4 (1.00%)", "2"]


def table_cells(line: str) -> list[str]:
    return [cell.strip() for cell in line.split("\u2502")]


def test_state_json_has_no_nan_and_a_history_without_the_final_reading():
    resolved = resolved_scenario()
    schedule = schedule_from([(s.start_s, s.end_s, s.rate_from, s.rate_to) for s in resolved.stages])
    state = LiveState("run-42", "live", 30.0)
    assert json.loads(state.json_bytes())["waiting"] is True
    message = progress_message(elapsed=3.0)
    message["overall"]["interval_ms"]["p95"] = math.nan  # as an older message might carry
    state.update(snapshot(message, resolved, schedule, "run-42"))
    state.update(snapshot(progress_message(elapsed=4.0), resolved, schedule, "run-42"))
    state.update(snapshot(progress_message(elapsed=31.0, final=True), resolved, schedule, "run-42"))
    body = json.loads(state.json_bytes())  # strict JSON: a browser's JSON.parse has no NaN
    assert body["final"] is True and body["elapsed_s"] == 30.0
    assert body["history"] == [{"t": 3.0, "rate": 38.5, "p95": None}, {"t": 4.0, "rate": 38.5, "p95": 41.5}]
    assert body["operations"][0]["name"] == EVIL and body["stage"] == 2


def get(port, path, host=None):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    headers = {"Host": host} if host else {}
    conn.request("GET", path, headers=headers)
    response = conn.getresponse()
    return response.status, dict(response.getheaders()), response.read()


def external_urls(page: str) -> list[str]:
    """Every URL the page could fetch or link to that is not this loopback server."""
    found = re.findall(r"""(?:src|href|action|url\()\s*=?\s*["']?([^"' )>]+)""", page, flags=re.I)
    found += re.findall(r"https?://[^\s\"'<>]+", page)
    return [u for u in found if re.match(r"(?i)(https?:)?//", u) and not u.startswith("http://127.0.0.1")]


def test_web_server_serves_page_and_json_on_loopback_only_and_stops():
    state = LiveState("run-42", "live", 30.0)
    resolved = resolved_scenario()
    schedule = schedule_from([(s.start_s, s.end_s, s.rate_from, s.rate_to) for s in resolved.stages])
    state.update(snapshot(progress_message(), resolved, schedule, "run-42"))
    server = LiveServer(state, 0)
    try:
        assert server.server.server_address[0] == "127.0.0.1" and server.url.endswith(f":{server.port}/")
        status, headers, page = get(server.port, "/")
        text = page.decode()
        assert status == 200 and headers["Content-Type"].startswith("text/html")
        assert "default-src 'none'" in headers["Content-Security-Policy"]
        assert external_urls(text) == [] and "innerHTML" not in text and "live.json" in text
        status, headers, body = get(server.port, "/live.json")
        data = json.loads(body)
        assert status == 200 and headers["Content-Type"] == "application/json"
        assert data["run_id"] == "run-42" and {r["name"] for r in data["operations"]} == {"get", EVIL}
        assert get(server.port, "/nope")[0] == 404
        assert get(server.port, "/live.json", host=f"evil.example:{server.port}")[0] == 403  # DNS rebinding
    finally:
        server.stop()
    with pytest.raises(OSError), socket.create_connection(("127.0.0.1", server.port), timeout=2):
        pass


def test_not_a_terminal_prints_the_plain_line_at_most_every_5_s():
    out = io.StringIO()
    console = Console(file=out, width=140)
    assert not console.is_terminal
    progress = Progress(console, resolved_scenario(), quiet=False, run_id="run-42")
    with progress:
        assert progress._live is None and progress.web is None
        progress.update(progress_message(elapsed=1.0))
        progress.update(progress_message(elapsed=2.0))
    lines = out.getvalue().splitlines()
    assert len(lines) == 1
    assert re.search(r"1/30s stage 0\s+rate\s+38\.5/\s+1\.0 req/s\s+p95\s+41\.5 ms", lines[0]), lines
    assert json.loads(progress.state.json_bytes())["elapsed_s"] == 2.0  # the web figures follow every message


def test_a_taken_web_port_costs_the_page_not_the_run():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        out = io.StringIO()
        port = taken.getsockname()[1]
        progress = Progress(Console(file=out, width=200), resolved_scenario(), True, web_port=port)
        with progress:
            assert progress.web is None
    assert "--web: cannot listen on 127.0.0.1:" in out.getvalue()


def parse(*argv):
    parser = argparse.ArgumentParser(exit_on_error=False)
    run_command.add_arguments(parser)
    return parser.parse_args(list(argv))


def test_live_and_web_options():
    assert parse("s.yaml").live is None and parse("s.yaml").web is None
    assert parse("s.yaml", "--no-live").live is False and parse("s.yaml", "--live").live is True
    assert parse("s.yaml", "--web").web == 0 and parse("s.yaml", "--web", "8123").web == 8123
    assert parse("s.yaml", "--web=0").web == 0
    with pytest.raises(argparse.ArgumentError):
        parse("s.yaml", "--web", "70000")
    options = run_command.options_from(parse("s.yaml", "--web", "--no-live"), Console(file=io.StringIO()))
    assert options.web == 0 and options.live is False


@pytest.mark.skipif(shutil.which("node") is None, reason="node checks the page's script")
def test_page_script_parses(tmp_path):
    script = tmp_path / "live.js"
    script.write_text(re.search(r"<script>(.*)</script>", PAGE, flags=re.S).group(1))
    checked = subprocess.run(["node", "--check", str(script)], capture_output=True, text=True, timeout=60)
    assert checked.returncode == 0, checked.stderr
