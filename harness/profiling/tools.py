"""Locating profiler executables and small process helpers shared by the profilers."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

LAUNCHER = Path(__file__).with_name("launch_runtime.py")


def executable(name: str) -> str | None:
    """The venv's copy first (sys.executable's folder), then PATH."""
    candidate = Path(sys.executable).parent / name
    if candidate.is_file() and os.access(candidate, os.X_OK):
        return str(candidate)
    return shutil.which(name)


def stop_process(proc: subprocess.Popen[bytes], sig: int = signal.SIGINT, timeout_s: float = 30.0) -> int:
    """Ask politely (profilers write their output on SIGINT), then kill: never outlive the run."""
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(sig)
        try:
            proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)
    return int(proc.returncode)


def tail(path: Path, lines: int = 8) -> str:
    try:
        return " | ".join(path.read_text(errors="replace").strip().splitlines()[-lines:])
    except OSError:
        return ""


def display_path(path: Path) -> str:
    """Relative to the working directory when inside it (the repo), else absolute."""
    resolved = path.resolve()
    try:
        return str(resolved.relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(resolved)
