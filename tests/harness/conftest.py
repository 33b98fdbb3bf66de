import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.harness.servers import serve

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def mixed_server():
    with serve("mixed", fast_ms=5, slow_ms=50) as url:
        yield url


@pytest.fixture
def fast_server():
    with serve("fixed", delay_ms=2) as url:
        yield url


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def harness(*args: str, timeout: float = 120, **kw) -> subprocess.CompletedProcess[str]:
    if args and args[0] == "run":
        args = (*args, "--no-report")  # report.html has its own tests; keep these runs short
    return subprocess.run(
        [sys.executable, "-m", "harness", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        **kw,
    )


def interrupt_after(proc: subprocess.Popen[str], seconds: float) -> None:
    time.sleep(seconds)
    os.kill(proc.pid, signal.SIGINT)
