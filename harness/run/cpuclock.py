"""CPU time of another process at nanosecond resolution, for the per-interval ``cpu_percent``.

psutil reads ``/proc/PID/stat``, whose user and system times count clock ticks (10 ms on Linux):
a process using 100 ms of CPU per second is measured as 9, 10 or 11 ticks, a quantization error of
about ±10 % per one-second sample. Totals are exact (the counter telescopes), but any statistic
that resamples seconds or blocks of seconds — the bootstrap of ``cpu_per_request`` in compare and
ab — sees that error as noise: in an A/A duet of two identical runtimes at ~10 % CPU, the per-second
difference of the two sides was almost all quantization (sd 1.1 points, the totals within 0.3 %).

On Linux, ``clock_getcpuclockid(pid)`` gives a clock whose ``clock_gettime`` is the process's
CPU time summed over all its threads (including exited ones) in nanoseconds — the kernel's
``sum_exec_runtime``, the figure the scheduler itself accounts. :class:`CpuClocks` reads it
through ctypes and falls back to psutil's ``cpu_times`` (ticks) where the call is not available
(other systems, a process that cannot be read).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys
import time
from collections.abc import Callable

import psutil


def _load_getcpuclockid() -> Callable[[int], int | None] | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        call = libc.clock_getcpuclockid
    except (OSError, AttributeError):
        return None

    def clock_id(pid: int) -> int | None:
        out = ctypes.c_int()
        return out.value if call(ctypes.c_int(pid), ctypes.byref(out)) == 0 else None

    return clock_id


_CLOCK_ID = _load_getcpuclockid()


def process_cpu_seconds(proc: psutil.Process) -> tuple[float, bool]:
    """(CPU seconds of ``proc`` so far, whether at nanosecond resolution). Raises psutil.Error when
    the process is gone."""
    if _CLOCK_ID is not None and proc.is_running():
        clock = _CLOCK_ID(proc.pid)
        if clock is not None:
            try:
                return time.clock_gettime(clock), True
            except OSError:
                pass  # exited between the two calls: psutil below raises NoSuchProcess
    times = proc.cpu_times()
    return times.user + times.system, False


class CpuClocks:
    """Per-interval CPU percent of processes, from their CPU clocks (see the module docstring).

    Like psutil's ``cpu_percent(None)``, the first reading of a process is 0.0 (no interval yet);
    afterwards each reading is the CPU used since the previous one over the wall time between them.
    """

    def __init__(self, wall: Callable[[], float] = time.monotonic) -> None:
        self._wall = wall
        self._last: dict[int, tuple[float, float]] = {}
        self.precise = True  # False once any process fell back to clock ticks

    def percent(self, proc: psutil.Process) -> float:
        cpu, precise = process_cpu_seconds(proc)
        self.precise = self.precise and precise
        now = self._wall()
        previous = self._last.get(proc.pid)
        self._last[proc.pid] = (cpu, now)
        if previous is None or now <= previous[1]:
            return 0.0
        return max(cpu - previous[0], 0.0) / (now - previous[1]) * 100.0

    def forget_except(self, pids: set[int]) -> None:
        """Drop the state of processes no longer in the tree (a reused pid starts afresh)."""
        for pid in set(self._last) - pids:
            del self._last[pid]
