"""The monitor's CPU clock: nanosecond CPU time of another process, not 10 ms ticks."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator

import psutil
import pytest

from harness.run.cpuclock import CpuClocks, process_cpu_seconds

BURN = "import time\nend = time.process_time() + 0.6\nwhile time.process_time() < end: pass\ntime.sleep(30)"


@pytest.fixture()
def burner() -> Iterator[psutil.Process]:
    child = subprocess.Popen([sys.executable, "-c", BURN])
    proc = psutil.Process(child.pid)
    yield proc
    child.kill()
    child.wait()


def test_cpu_seconds_agree_with_psutil_and_resolve_below_a_tick(burner: psutil.Process) -> None:
    readings = []
    for _ in range(6):
        readings.append(process_cpu_seconds(burner))
        time.sleep(0.05)
    ticks = sum(burner.cpu_times()[:2])
    seconds, precise = readings[-1]
    if not sys.platform.startswith("linux"):
        pytest.skip("nanosecond CPU clocks are read on Linux only")
    assert precise
    assert seconds == pytest.approx(ticks, abs=0.05)  # same quantity, psutil in 10 ms ticks
    # not multiples of the 10 ms tick: the clock resolves finer than /proc/PID/stat
    assert any(abs(s * 100 - round(s * 100)) > 1e-6 for s, _ in readings)


def test_percent_is_cpu_over_wall_between_readings(burner: psutil.Process) -> None:
    now = [0.0]
    clocks = CpuClocks(wall=lambda: now[0])
    assert clocks.percent(burner) == 0.0  # first reading: no interval yet
    deadline = time.monotonic() + 5
    while process_cpu_seconds(burner)[0] < 0.6 and time.monotonic() < deadline:
        time.sleep(0.05)
    now[0] = 2.0
    percent = clocks.percent(burner)
    # the child burned ~0.6 s of CPU in its first second of life; we read its CPU over "2 s"
    assert 10.0 < percent < 50.0
    clocks.forget_except(set())
    assert clocks.percent(burner) == 0.0  # forgotten: starts afresh
