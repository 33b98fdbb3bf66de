import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from harness.testing.synthetic import SyntheticSpec, make_run
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


def two_op_scenario(name: str, rate: int, duration: str, extra_mix: str = "") -> str:
    """A small open-model scenario text: GET /x (weight 3) and POST /y/{seq}, then ``extra_mix``
    (more mix lines), with a 2 s drain (the e2e runs of run, ab and percentile agreement)."""
    return f"""\
name: {name}
load:
  rate: {rate}
  duration: {duration}
  drain: 2s
mix:
  - {{name: get_x, path: /x, weight: 3}}
  - {{name: post_y, method: POST, path: "/y/{{seq}}", json: {{a: 1}}}}
{extra_mix}"""


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


# Synthetic run folders shared by the compare, history and nightly tests.
@pytest.fixture(scope="session")
def runs_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("runs")


@pytest.fixture(scope="session")
def base_run(runs_dir: Path) -> Path:
    return make_run(runs_dir, SyntheticSpec(seed=101, run_id="base", duration_s=30))


@pytest.fixture(scope="session")
def slower_run(runs_dir: Path) -> Path:
    """Every latency 10% slower than ``base_run``'s distribution (different seed)."""
    return make_run(runs_dir, SyntheticSpec(seed=202, run_id="slower", latency_scale=1.10, duration_s=30))


@pytest.fixture(scope="session")
def aa_runs(runs_dir: Path) -> list[Path]:
    """Same distribution as ``base_run``, different seeds: pure noise."""
    return [make_run(runs_dir, SyntheticSpec(seed=300 + i, run_id=f"aa{i}", duration_s=30)) for i in range(4)]
