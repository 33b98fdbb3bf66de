"""A target the harness started never outlives it: SIGKILL `harness run` mid-load against a managed
reference runtime, and the runtime, its model backend and the Locust driver all end within seconds
(the parent-death stub of ``harness.run.target``; real processes on loopback)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import psutil
import pytest

from harness.run.target import parent_death_argv
from tests.harness.conftest import ROOT, write

SCENARIO = """\
name: sigkill-managed
load:
  rate: 10
  duration: 60s
  drain: 1s
mix:
  - {operation: command_ack, weight: 1}
  - {operation: simple_query, weight: 1}
"""


def wait_for(condition: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


def gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def roles(pid: int) -> dict[str, list[int]]:
    """The harness's descendants by what they are: runtime, model backend, driver."""
    found: dict[str, list[int]] = {"runtime": [], "backend": [], "driver": []}
    for child in psutil.Process(pid).children(recursive=True):
        with_args = " ".join(child.cmdline())
        if "harness.load.driver" in with_args:
            found["driver"].append(child.pid)
        elif "model-backend" in with_args:
            found["backend"].append(child.pid)
        elif " serve " in with_args:
            found["runtime"].append(child.pid)
    return found


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux's")
def test_sigkill_of_the_harness_leaves_no_runtime_backend_or_driver(tmp_path: Path) -> None:
    scenario = write(tmp_path, "managed.yaml", SCENARIO)
    reports = tmp_path / "reports"
    cmd = [sys.executable, "-m", "harness", "run", str(scenario), "--reports-dir", str(reports)]
    proc = subprocess.Popen([*cmd, "--quiet", "--no-report"], cwd=ROOT, stdout=subprocess.DEVNULL)
    pids: list[int] = []
    try:
        wait_for(lambda: any(reports.glob("runs/*/.work/parts/part-*.parquet")), 90, "the first samples")
        found = roles(proc.pid)
        pids = [pid for group in found.values() for pid in group]
        assert all(found.values()), found  # runtime, backend and driver all running under load
        assert all(psutil.Process(pid).ppid() == proc.pid for pid in found["runtime"])  # exec'd stub
        proc.kill()  # SIGKILL: the harness cleans up nothing
        proc.wait(timeout=10)
        wait_for(lambda: all(gone(pid) for pid in pids), 20, f"the orphans {pids} to end")
    finally:
        proc.kill()
        for pid in pids:
            if not gone(pid):
                os.kill(pid, signal.SIGKILL)


def test_the_stub_execs_the_command_under_its_own_pid() -> None:
    """What the harness started is the command itself (py-spy and the monitor attach to that pid)."""
    code = "import os, sys; print(os.getpid(), os.getppid(), sys.argv[1:])"
    argv = parent_death_argv([sys.executable, "-c", code, "a b", "{port}"])
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True)
    stdout, _ = proc.communicate(timeout=30)
    pid, ppid, args = stdout.split(" ", 2)
    assert int(pid) == proc.pid and int(ppid) == os.getpid()
    assert args.strip() == "['a b', '{port}']"


def test_a_missing_program_is_refused_before_anything_starts() -> None:
    with pytest.raises(FileNotFoundError, match="no-such-program-xyz"):
        parent_death_argv(["no-such-program-xyz", "--port", "1"])
    with pytest.raises(OSError, match="empty command"):
        parent_death_argv([])


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux's")
def test_the_stub_exits_when_its_parent_is_already_gone() -> None:
    argv = parent_death_argv([sys.executable, "-c", "print('alive')"])
    argv[argv.index(str(os.getpid()))] = "1"  # as if the harness died before the stub ran
    out = subprocess.run(argv, capture_output=True, text=True, timeout=30)
    assert out.returncode == 3 and "alive" not in out.stdout
