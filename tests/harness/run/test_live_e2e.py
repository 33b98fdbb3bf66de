"""`harness run --web PORT` against the managed reference runtime: the page's JSON, polled while the
run goes, has per-operation figures that grow, ends on the run's own p50/p95/p99 (summary.json),
the page fetches nothing outside 127.0.0.1, the port is closed after the run, and stdout (not a
terminal) still gets the plain progress lines."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from harness.contract import rundir
from tests.harness.conftest import ROOT
from tests.harness.run.test_live import external_urls

pytestmark = pytest.mark.slow


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def fetch(url: str) -> bytes | None:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return bytes(response.read())
    except (urllib.error.URLError, OSError):
        return None


def poll_run(proc: subprocess.Popen[str], port: int, timeout_s: float) -> tuple[list[dict], str | None]:
    """Every JSON reading while the run goes (a new one each ~0.1 s), and the page once."""
    readings: list[dict] = []
    page: str | None = None
    deadline = time.monotonic() + timeout_s
    while proc.poll() is None and time.monotonic() < deadline:
        body = fetch(f"http://127.0.0.1:{port}/live.json")
        if body is not None:
            readings.append(json.loads(body))
            if page is None:
                html = fetch(f"http://127.0.0.1:{port}/")
                page = html.decode() if html is not None else None
        time.sleep(0.1)
    return readings, page


def test_web_view_follows_the_run_and_ends_on_its_figures(tmp_path: Path) -> None:
    port, reports = free_port(), tmp_path / "reports"
    cmd = [sys.executable, "-m", "harness", "run", "scenarios/smoke.yaml", "--time-scale", "0.25"]
    cmd += ["--web", str(port), "--no-report", "--reports-dir", str(reports)]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        readings, page = poll_run(proc, port, timeout_s=180)
        out, _ = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 0, out
    with pytest.raises(OSError), socket.create_connection(("127.0.0.1", port), timeout=2):
        pass  # the server stopped with the run
    assert page is not None and external_urls(page) == [] and "live.json" in page
    assert f"live figures: http://127.0.0.1:{port}/" in out
    assert "req/s  p95" in out  # not a terminal: the plain line (every 5 s), no table redraws
    running = [r for r in readings if not r.get("waiting")]
    assert len(running) >= 3, readings
    completed = [r["overall"]["completed"] for r in running]
    assert completed == sorted(completed) and completed[-1] > completed[0] > 0
    assert all(r["run_id"] == running[0]["run_id"] and r["planned_s"] == 5.0 for r in running)
    run_dir = reports / "runs" / running[0]["run_id"]
    summary = rundir.load_summary(run_dir)
    last = running[-1]
    assert {op["name"] for op in last["operations"]} == set(summary.operations)
    assert len(last["history"]) >= 3 and all(p["rate"] >= 0 for p in last["history"])
    if last["final"]:  # the final figures (read before the server stopped) are the run's own
        assert last["overall"]["completed"] == summary.overall.count
        for op in last["operations"]:
            reported = summary.operations[op["name"]].latency_ms
            assert (op["p50"], op["p95"], op["p99"]) == (reported.p50, reported.p95, reported.p99), op["name"]
