"""Spike recovery and stress breaking point on runs with known stage behaviour."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from harness.contract import rundir
from harness.derive.files import write_derived_files
from harness.testing.synthetic import SyntheticSpec, make_run
from tests.harness.verdict.test_evaluate import one

Stages = list[tuple[float, float, float]]


def staged_run(
    parent: Path,
    name: str,
    stages: Stages,
    latency_ms: Callable[[float], float],
    error_share: Callable[[float], float] = lambda t: 0.0,
) -> Path:
    """A run whose requests follow ``stages`` exactly, with latency and errors as functions of time."""
    run_dir = make_run(parent, SyntheticSpec(run_id=name, rate=10, duration_s=stages[-1][1]))
    start = pd.Timestamp(rundir.load_manifest(run_dir).started_at).timestamp()
    intended = np.concatenate([s + np.arange(int((e - s) * rate)) / rate for s, e, rate in stages])
    latency = np.array([latency_ms(t) for t in intended])
    rng = np.random.default_rng(0)
    errors = rng.random(len(intended)) < np.array([error_share(t) for t in intended])
    samples = pd.DataFrame(
        {
            "ts": start + intended + latency / 1000.0,
            "operation": "command_ack",
            "intended_start": start + intended,
            "start": start + intended,
            "latency_ms": latency,
            "service_ms": latency,
            "status": np.where(errors, 503, 200).astype(np.int16),
            "bytes": np.full(len(intended), 100, dtype=np.int32),
            "error": np.where(errors, "HTTP 503", None),
            "worker": np.zeros(len(intended), dtype=np.int16),
        }
    )
    samples.to_parquet(run_dir / rundir.SAMPLES_FILE, index=False)
    write_derived_files(run_dir, name, samples, window_start=start, duration_s=stages[-1][1], stages=stages)
    return run_dir


@pytest.fixture(scope="module")
def spike(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # 20/s, a 10 s spike to 100/s, back to 20/s; latency stays high until t=65: recovery 25 s.
    return staged_run(
        tmp_path_factory.mktemp("spike"),
        "spike",
        [(0, 30, 20), (30, 40, 100), (40, 100, 20)],
        lambda t: 500.0 if 30 <= t < 65 else 20.0,
    )


@pytest.fixture(scope="module")
def stress(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # +10/s every 10 s; from the 40/s stage on, 5% of requests fail.
    return staged_run(
        tmp_path_factory.mktemp("stress"),
        "stress",
        [(0, 10, 10), (10, 20, 20), (20, 30, 30), (30, 40, 40), (40, 50, 50)],
        lambda t: 20.0,
        lambda t: 0.05 if t >= 30 else 0.0,
    )


def test_recovery_time_after_a_spike(spike: Path) -> None:
    within = one(spike, "recovery_time < 2min")
    assert within.status == "pass"
    assert within.measured == pytest.approx(25_000, abs=1_500)
    assert within.where["spike_end_s"] == 40
    assert one(spike, "recovery_time < 10s").status == "fail"


def test_breaking_point_of_a_stress_ramp(stress: Path) -> None:
    result = one(stress, "breaking_point >= 25 req/s")
    assert result.status == "pass"
    assert result.measured == pytest.approx(30, abs=1.5)
    assert result.where["broke_at_rate"] == 40
    assert one(stress, "breaking_point >= 1000 req/s").status == "fail"


def test_spike_and_stress_metrics_need_their_shape(spike: Path, stress: Path) -> None:
    assert one(stress, "recovery_time < 2min").status == "not-measured"
    assert one(spike, "breaking_point >= 10").status == "not-measured"


def test_breaking_point_is_read_from_the_climb_when_a_recovery_stage_follows(tmp_path: Path) -> None:
    # The guide's stress shape: rising steps, then back to a low rate to watch recovery.
    run = staged_run(
        tmp_path,
        "stress_recovery",
        [(0, 10, 10), (10, 20, 20), (20, 30, 30), (30, 40, 40), (40, 60, 10)],
        lambda t: 20.0,
        lambda t: 0.05 if 20 <= t < 30 else 0.0,
    )
    result = one(run, "breaking_point >= 15 req/s")
    assert result.status == "pass"
    assert result.measured == pytest.approx(20, abs=1.5)
    assert result.where["broke_at_rate"] == 30
