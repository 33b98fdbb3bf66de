from __future__ import annotations

from pathlib import Path

import pytest

from harness.synthetic import SyntheticSpec, make_run


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
