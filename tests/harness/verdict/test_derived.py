"""Spike recovery and stress breaking point on runs with known stage behaviour."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from harness.contract import rundir
from harness.contract.runfolder import RunFolder
from harness.derive.files import write_derived_files
from harness.nightly.markdown import extras_text
from harness.nightly.plan import NightlyStep
from harness.nightly.suite import step_extras
from harness.testing.synthetic import SyntheticSpec, make_run
from harness.verdict.gate import evaluate_run
from tests.harness.conftest import harness
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


# ---------------------------------------------------------------- honest when too short / not reached

RISING = [(0, 10, 10), (10, 20, 20), (20, 30, 30), (30, 40, 40), (40, 50, 50)]


def test_a_stress_run_too_short_at_its_time_scale_is_not_a_zero_breaking_point(tmp_path: Path) -> None:
    # the stress scenario at --time-scale 0.01: 0.6 s stages, too short to show an achieved rate
    short = [(0.0, 0.6, 10), (0.6, 1.2, 20), (1.2, 1.8, 30), (1.8, 2.4, 40)]
    run = staged_run(tmp_path, "stress_short", short, lambda t: 20.0)
    result = one(run, "breaking_point >= 100 req/s")
    assert result.status == "not-measured" and result.measured is None
    assert (result.reason or "").startswith("too short at this time scale: stages of 0.6 s")
    # the nightly's stress extras say so too, never "breaking_point=0.0" / "0 req/s"
    extras = step_extras(NightlyStep("stress", Path("stress.yaml")), run)
    assert extras.breaking_point is None
    text = extras_text(extras)
    assert text.startswith("breaking point: too short at this time scale") and "0 req/s" not in text


def test_a_stress_run_that_never_broke_says_so(tmp_path: Path) -> None:
    run = staged_run(tmp_path, "stress_unbroken", RISING, lambda t: 20.0)
    undecided = one(run, "breaking_point >= 1000 req/s")
    assert undecided.status == "not-measured" and undecided.measured is None
    assert (undecided.reason or "").startswith("no breaking point reached within 50 req/s")
    decided = one(run, "breaking_point >= 25 req/s")  # a lower bound of ~50 already holds
    assert decided.status == "pass" and decided.measured == pytest.approx(50, abs=2)
    assert decided.reason == "no breaking point reached within 50 req/s (a lower bound)"
    extras = step_extras(NightlyStep("stress", Path("stress.yaml")), run)
    assert re.fullmatch(
        r"breaking point: >= \d+(\.\d+)? req/s \(no breaking point reached within 50 req/s\)",
        extras_text(extras),
    )


def test_a_stress_run_broken_from_the_first_stage_reports_an_upper_bound(tmp_path: Path) -> None:
    run = staged_run(tmp_path, "stress_broken", RISING, lambda t: 20.0, lambda t: 0.2)
    failed = one(run, "breaking_point >= 100 req/s")
    assert failed.status == "fail" and failed.measured == 10  # below 10 req/s: an upper bound
    assert "below 10 req/s" in (failed.reason or "")
    assert one(run, "breaking_point >= 5 req/s").status == "not-measured"  # below 10 may be >= 5


def test_spike_recovery_too_short_at_its_time_scale(tmp_path: Path) -> None:
    run = staged_run(tmp_path, "spike_short", [(0, 3, 20), (3, 6, 100), (6, 9, 20)], lambda t: 20.0)
    result = one(run, "recovery_time < 2min")
    assert result.status == "not-measured" and result.measured is None
    assert (result.reason or "").startswith("too short at this time scale")


def test_spike_never_recovered_within_the_run(tmp_path: Path) -> None:
    stages = [(0, 30, 20), (30, 40, 100), (40, 60, 20)]
    run = staged_run(tmp_path, "spike_stuck", stages, lambda t: 500.0 if t >= 30 else 20.0)
    assert one(run, "recovery_time < 5s").status == "fail"  # >= 11 s already breaks 5 s
    undecided = one(run, "recovery_time < 2min")
    assert undecided.status == "not-measured"
    assert (undecided.reason or "").startswith("not recovered within the 20 s after the spike")


# ---------------------------------------------------------------- per-agent and storage: a real runtime

PER_AGENT = """\
name: per_agent
kind: steady
load: {model: open, rate: 25, duration: 8s, max_in_flight: 200, timeout: 30s, drain: 5s}
mix:
  - {operation: command_ack, weight: 3}
  - {operation: simple_query, weight: 1}
  - {operation: handoff, weight: 1}
monitor: {interval: 0.5s}
"""


@pytest.mark.slow
def test_per_agent_and_storage_rules_are_measured_from_a_real_runtime(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`harness run` against the reference runtime: the monitor records agents, the busiest
    agent's CPU, RSS per agent and the SQLite database's size from the runtime's own metrics, and
    the guide's rules read those columns (no agents=N tag anywhere)."""
    scenario = tmp_path / "per_agent.yaml"
    scenario.write_text(PER_AGENT)
    reports = tmp_path / "reports"
    out = harness("run", str(scenario), "--reports-dir", str(reports), timeout=240)
    assert out.returncode == 0, out.stdout + out.stderr
    run_dir = (reports / "latest").resolve()
    folder = RunFolder(run_dir)
    assert "agents" not in folder.manifest.tags
    series = folder.timeseries
    assert series is not None
    assert series["agents"].max() >= 1  # the reference team the setup's project activated
    storage = series["storage_mb"].dropna()
    assert len(storage) >= 5 and storage.iloc[-1] > storage.iloc[0] > 0  # commands were persisted
    rss_share = series["rss_per_agent_mb"] * series["agents"] / series["rss_mb"]
    assert rss_share.dropna().between(0.999, 1.001).all()
    assert series["cpu_per_agent_pct"].notna().sum() >= 5
    monkeypatch.setattr("harness.verdict.derived.MIN_STORAGE_RUN_S", 5)  # an 8 s run: a slope anyway
    rules = {r.id: r for r in evaluate_run(run_dir).rules if r.origin == "checklist"}
    for rule_id in ("memory_per_agent", "cpu_per_agent", "storage_growth"):
        assert rules[rule_id].status in ("pass", "fail"), (rule_id, rules[rule_id].reason)
        assert rules[rule_id].measured is not None
    assert rules["storage_growth"].measured > 0  # MB/h of a database that grew
    assert rules["memory_per_agent"].where["agents"] == int(series["agents"].max())
