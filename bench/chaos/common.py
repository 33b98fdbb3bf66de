"""What every chaos probe shares: the result row, running ``harness`` as a child, the real runtime
(``tests.reference_runtime.helpers``: the same start-up the runtime's own tests use), process and
file checks."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import httpx
import psutil

from tests.reference_runtime.helpers import Server, start_backend, start_runtime

ROOT = Path(__file__).resolve().parents[2]
TRACEBACK = "Traceback (most recent call last)"


@dataclass
class Row:
    """One line of the table: what was probed, the count, what is expected, and the verdict
    (``ok`` None: skipped, with the reason in ``detail``)."""

    probe: str
    what: str
    count: str
    expect: str
    ok: bool | None
    detail: str = ""
    seconds: float = 0.0

    @property
    def verdict(self) -> str:
        return "SKIP" if self.ok is None else ("PASS" if self.ok else "FAIL")

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "verdict": self.verdict}


def skipped(probe: str, what: str, expect: str, reason: str) -> Row:
    return Row(probe, what, "-", expect, None, reason)


def harness(
    *args: str, timeout: float = 180, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """``python -m harness ARGS`` from the repository, output captured (never raises on a code)."""
    return subprocess.run(
        [sys.executable, "-m", "harness", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
    )


def start_harness(*args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    """``python -m harness ARGS`` in the background, output captured."""
    return subprocess.Popen(
        [sys.executable, "-m", "harness", *args],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def output(out: subprocess.CompletedProcess[str]) -> str:
    return (out.stdout or "") + (out.stderr or "")


def last_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1].strip()[:160] if lines else ""


def write(folder: Path, name: str, text: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(text)
    return path


def wait_until(condition: Callable[[], bool], timeout_s: float, step_s: float = 0.1) -> bool:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(step_s)
    return True


def alive(pid: int) -> bool:
    """Running (a zombie waiting to be reaped has ended)."""
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def descendants(pid: int) -> list[psutil.Process]:
    with contextlib.suppress(psutil.NoSuchProcess):
        return list(psutil.Process(pid).children(recursive=True))
    return []


def describe(proc: psutil.Process, width: int = 90) -> str:
    """The end of the process's command line (its pid once it is gone)."""
    with contextlib.suppress(psutil.Error):
        return " ".join(proc.cmdline())[-width:]
    return str(proc.pid)


def kill_all(pids: list[int]) -> None:
    for pid in pids:
        if alive(pid):
            with contextlib.suppress(OSError):
                os.kill(pid, 9)


@contextlib.contextmanager
def runtime(tmp: Path, *args: str, backend_args: tuple[str, ...] = ()) -> Iterator[Server]:
    """The real runtime on loopback with a separate model backend (both stopped at the end)."""
    backend = start_backend(tmp / "backend", *backend_args)
    try:
        server = start_runtime(tmp / "state", "--model-url", backend.base_url, *args)
        try:
            yield server
        finally:
            server.stop()
    finally:
        backend.stop()


def slope_per_hour(points: list[tuple[float, float]]) -> float:
    """Least-squares slope of (seconds, value) points, per hour (0 with fewer than 2 points)."""
    if len(points) < 2:
        return 0.0
    n = len(points)
    mean_t = sum(t for t, _ in points) / n
    mean_v = sum(v for _, v in points) / n
    var = sum((t - mean_t) ** 2 for t, _ in points)
    if var == 0:
        return 0.0
    cov = sum((t - mean_t) * (v - mean_v) for t, v in points)
    return cov / var * 3600.0


def files_holding(
    root: Path, needle: bytes, newer_than: float = 0.0, skip: frozenset[Path] = frozenset()
) -> list[Path]:
    """Files under ``root`` (modified after ``newer_than``, under 64 MB) whose bytes hold ``needle``."""
    found = []
    for path in root.rglob("*"):
        with contextlib.suppress(OSError):
            if path in skip or path.is_symlink() or not path.is_file():
                continue
            stat = path.stat()
            if stat.st_mtime >= newer_than and stat.st_size < 64 << 20 and needle in path.read_bytes():
                found.append(path)
    return found


def settle(api: httpx.Client, ids: list[str], timeout_s: float) -> tuple[int, int, int, str]:
    """Wait (bounded) for the executions to finish: (completed, failed with a reason, unfinished or
    failed without one, the most frequent failure reason)."""
    deadline, bodies = time.monotonic() + timeout_s, {}
    pending = set(ids)
    while pending and time.monotonic() < deadline:
        for e in list(pending):
            body = api.get(f"/v1/executions/{e}").json()
            if body.get("status") in ("completed", "failed"):
                bodies[e] = body
                pending.discard(e)
        time.sleep(0.5)
    completed = sum(1 for b in bodies.values() if b["status"] == "completed")
    failed = sum(1 for b in bodies.values() if b["status"] == "failed" and b.get("error"))
    reasons = Counter(str(b.get("error"))[:80] for b in bodies.values() if b["status"] == "failed")
    top = reasons.most_common(1)[0][0] if reasons else ""
    return completed, failed, len(ids) - completed - failed, top
