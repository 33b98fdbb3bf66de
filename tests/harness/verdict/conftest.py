"""Synthetic run folders with known behaviour, built once per test session."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from harness.contract import rundir
from harness.testing.synthetic import SyntheticOp, SyntheticSpec, make_run

SMALL = {"rate": 50.0, "duration_s": 40.0}


def with_scenario(run_dir: Path, **changes: Any) -> Path:
    """Rewrite the manifest's resolved scenario (e.g. add an expect block or gates)."""
    manifest = rundir.load_manifest(run_dir)
    scenario = {**manifest.scenario, **changes}
    rundir.write_model(run_dir / rundir.MANIFEST_FILE, manifest.model_copy(update={"scenario": scenario}))
    return run_dir


@pytest.fixture(scope="session")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    parent = tmp_path_factory.mktemp("verdict-runs")
    slow_ops = tuple(
        SyntheticOp(op.name, op.weight, op.median_ms, op.sigma, op.error_rate, op.target_ms)
        for op in SyntheticSpec().ops
    )
    return {
        "good": make_run(parent, SyntheticSpec(run_id="good", **SMALL)),
        "slow": make_run(parent, SyntheticSpec(run_id="slow", latency_scale=20.0, ops=slow_ops, **SMALL)),
        "aborted": make_run(parent, SyntheticSpec(run_id="aborted", status="aborted", **SMALL)),
        "no_monitor": make_run(parent, SyntheticSpec(run_id="no_monitor", monitor=False, **SMALL)),
        "no_runtime_metrics": make_run(
            parent, SyntheticSpec(run_id="no_runtime_metrics", with_runtime_metrics=False, **SMALL)
        ),
        # A 3 s stall every 10 s: the p99 of some 10 s windows shows it, the whole-run p50 does not.
        "stall": make_run(
            parent, SyntheticSpec(run_id="stall", stall_every_s=10.0, stall_ms=3000.0, **SMALL)
        ),
        "errors": make_run(
            parent,
            SyntheticSpec(
                run_id="errors",
                ops=(SyntheticOp("command_ack", 1.0, 8.0, 0.4, 0.05, 100.0),),
                **SMALL,
            ),
        ),
    }
