"""Stopping `harness run` from outside: SIGTERM is handled like Ctrl-C, SIGKILL leaves no load
generator behind, and the API key is never on disk (real Locust processes, a loopback server)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import psutil
import pytest

from harness.contract import rundir
from tests.harness import servers
from tests.harness.conftest import ROOT, write

pytestmark = pytest.mark.slow

KEY = "k3y-7f0c2b9e-do-not-leak"
SCENARIO = """\
name: stop
target:
  api_key: {{env: HARNESS_STOP_TEST_KEY}}
load:
  rate: 20
  duration: {duration}
  drain: 1s
mix:
  - {{name: get_x, path: /x}}
"""


@pytest.fixture
def keyed_server() -> Iterator[str]:
    with servers.keyed_server(KEY) as url:
        yield url


def start_run(tmp_path: Path, url: str, duration: str) -> tuple[subprocess.Popen[str], Path]:
    scenario = write(tmp_path, "stop.yaml", SCENARIO.format(duration=duration))
    reports = tmp_path / "reports"
    env = {**os.environ, "HARNESS_STOP_TEST_KEY": KEY}
    cmd = [sys.executable, "-m", "harness", "run", str(scenario), "--target", url]
    cmd += ["--reports-dir", str(reports), "--quiet", "--no-report"]
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    return proc, reports


def files_with_key(folder: Path) -> list[Path]:
    found = []
    for path in folder.rglob("*"):
        try:
            if path.is_file() and KEY.encode() in path.read_bytes():
                found.append(path)
        except OSError:  # renamed or removed while we looked
            continue
    return found


def wait_for(condition: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


def drivers_of(pid: int) -> list[int]:
    return [
        child.pid
        for child in psutil.Process(pid).children(recursive=True)
        if "harness.load.driver" in " ".join(child.cmdline())
    ]


def gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def load_running(proc: subprocess.Popen[str], reports: Path) -> tuple[Path, list[int]]:
    """Wait until samples flow (the driver has written a part file): the run folder, the drivers."""
    wait_for(lambda: any(reports.glob("runs/*/.work/parts/part-*.parquet")), 60, "the first samples")
    run_dir = next(reports.glob("runs/*"))
    drivers = drivers_of(proc.pid)
    assert drivers, "no harness.load.driver child"
    return run_dir, drivers


def test_sigterm_stops_the_driver_writes_partial_results_and_exits_3(
    tmp_path: Path, keyed_server: str
) -> None:
    proc, reports = start_run(tmp_path, keyed_server, "60s")
    try:
        run_dir, drivers = load_running(proc, reports)
        assert (run_dir / ".work").stat().st_mode & 0o777 == 0o700
        assert files_with_key(reports) == []  # the plan went to the driver on its stdin
        time.sleep(1.5)
        proc.send_signal(signal.SIGTERM)
        stdout, stderr = proc.communicate(timeout=90)
    finally:
        proc.kill()
    assert proc.returncode == 3, stdout + stderr
    assert "Traceback" not in stdout + stderr
    manifest = rundir.load_manifest(run_dir)
    assert manifest.status == "aborted" and "SIGTERM" in (manifest.abort_reason or "")
    summary = rundir.load_summary(run_dir)
    assert 0 < summary.overall.count < 60 * 20  # the samples collected before the signal
    assert summary.duration_s < 60
    assert not (run_dir / ".work").exists()
    assert files_with_key(reports) == []
    wait_for(lambda: all(gone(pid) for pid in drivers), 10, "the driver to end")


def test_sigkill_of_the_harness_leaves_no_driver_running(tmp_path: Path, keyed_server: str) -> None:
    proc, reports = start_run(tmp_path, keyed_server, "60s")
    try:
        _, drivers = load_running(proc, reports)
        proc.kill()
        proc.wait(timeout=10)
        # the kernel kills the driver with its parent (PR_SET_PDEATHSIG): well before its 60 s load
        wait_for(lambda: all(gone(pid) for pid in drivers), 5, "the orphaned driver to die")
    finally:
        proc.kill()
        for pid in drivers_of(proc.pid) if proc.poll() is None else []:
            os.kill(pid, signal.SIGKILL)


def test_a_complete_run_never_has_the_key_on_disk(tmp_path: Path, keyed_server: str) -> None:
    proc, reports = start_run(tmp_path, keyed_server, "4s")
    seen: list[Path] = []
    try:
        while proc.poll() is None:  # look while the run is going, not only after
            seen += files_with_key(reports)
            time.sleep(0.2)
        stdout, stderr = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 0, stdout + stderr
    run_dir = next(reports.glob("runs/*"))
    overall = rundir.load_summary(run_dir).overall
    assert overall.count > 0 and overall.errors == 0  # every request carried the key (else 401)
    assert seen == [] and files_with_key(tmp_path) == []
    assert not (run_dir / ".work").exists()


def test_sigterm_before_the_load_starts_exits_3_and_leaves_no_folder(tmp_path: Path) -> None:
    # A target that accepts connections (the kernel completes the handshake) but never answers:
    # the harness waits for it (a refused connection would fail at once, exit 3, with no signal).
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(64)
        proc, reports = start_run(tmp_path, f"http://127.0.0.1:{silent.getsockname()[1]}", "60s")
        try:
            wait_for(lambda: any(reports.glob("runs/*")), 30, "the run folder")  # waiting for the target
            proc.send_signal(signal.SIGTERM)
            stdout, stderr = proc.communicate(timeout=30)
        finally:
            proc.kill()
    assert proc.returncode == 3, stdout + stderr
    assert stdout.strip() == "error: interrupted (SIGTERM) before the load started"
    assert list(reports.glob("runs/*")) == []
