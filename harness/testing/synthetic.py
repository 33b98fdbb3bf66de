"""Synthetic run folders with known distributions, for tests and benchmarks of later stages.

A synthetic run goes through the same derivation as a real one (:mod:`harness.derive.files`), so a
verdict, report or comparison computed on it exercises the real code paths. The numbers are
known by construction: e.g. ``latency_scale=1.10`` makes every latency 10% slower.
"""

from __future__ import annotations

import datetime as dt
import platform
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from harness.contract import rundir
from harness.contract.columns import DROPPED
from harness.contract.meta import GitInfo, MachineInfo
from harness.derive.files import write_derived_files
from harness.derive.samples import Stage


@dataclass(frozen=True)
class SyntheticOp:
    name: str
    weight: float = 1.0
    median_ms: float = 50.0
    sigma: float = 0.5  # lognormal shape
    error_rate: float = 0.0
    target_ms: float | None = None


DEFAULT_OPS: tuple[SyntheticOp, ...] = (
    SyntheticOp("command_ack", 0.6, 8.0, 0.4, 0.0, 100.0),
    SyntheticOp("simple_query", 0.3, 40.0, 0.5, 0.0, 1000.0),
    SyntheticOp("handoff", 0.1, 300.0, 0.6, 0.0, 2000.0),
)


@dataclass(frozen=True)
class SyntheticSpec:
    scenario: str = "synthetic"
    rate: float = 100.0
    duration_s: float = 60.0
    ops: tuple[SyntheticOp, ...] = DEFAULT_OPS
    seed: int = 0
    latency_scale: float = 1.0  # multiply every latency (a known regression)
    dropped_fraction: float = 0.0
    stall_every_s: float | None = None  # a stall of stall_ms every N seconds (latency from intended)
    stall_ms: float = 0.0
    rss_start_mb: float = 120.0
    rss_growth_mb_per_h: float = 0.0
    cpu_percent: float = 35.0
    monitor: bool = True
    with_runtime_metrics: bool = True  # queue depth, cache hit rates, slow queries
    status: rundir.RunStatus = "complete"
    tags: dict[str, str] = field(default_factory=dict)
    git_commit: str = "0000000"
    started_at: dt.datetime = field(default_factory=lambda: dt.datetime(2026, 11, 1, 2, 0, tzinfo=dt.UTC))
    run_id: str | None = None
    #: Shared interference (duet runs): when set, every latency of second t (and the target CPU of
    #: that second) is multiplied by exp(interference_sigma · z_t), z_t drawn from this seed alone —
    #: two specs with the same seed, started_at and duration see the same slow seconds.
    interference_seed: int | None = None
    interference_sigma: float = 0.0


def interference_factors(spec: SyntheticSpec) -> np.ndarray | None:
    """The per-second multiplicative interference of ``spec``; None when it has none."""
    if spec.interference_seed is None or spec.interference_sigma <= 0:
        return None
    seconds = max(1, int(np.ceil(spec.duration_s)))
    z = np.random.default_rng(spec.interference_seed).standard_normal(seconds)
    factors: np.ndarray = np.exp(spec.interference_sigma * z)
    return factors


def make_samples(spec: SyntheticSpec, window_start: float) -> pd.DataFrame:
    rng = np.random.default_rng(spec.seed)
    n = max(1, int(spec.rate * spec.duration_s))
    intended = window_start + np.arange(n) / spec.rate
    weights = np.array([op.weight for op in spec.ops], dtype=float)
    op_index = rng.choice(len(spec.ops), size=n, p=weights / weights.sum())
    medians = np.array([op.median_ms for op in spec.ops])[op_index]
    sigmas = np.array([op.sigma for op in spec.ops])[op_index]
    service = medians * np.exp(sigmas * rng.standard_normal(n)) * spec.latency_scale
    factors = interference_factors(spec)
    if factors is not None:
        second = np.clip(np.floor(intended - window_start).astype(np.int64), 0, factors.size - 1)
        service = service * factors[second]
    waited = np.zeros(n)
    if spec.stall_every_s:
        # A stall holds every send scheduled inside it until it ends (what CO correction shows).
        phase = (intended - window_start) % spec.stall_every_s
        in_stall = phase < spec.stall_ms / 1000.0
        waited[in_stall] = spec.stall_ms - phase[in_stall] * 1000.0
    start = intended + waited / 1000.0
    latency = waited + service
    err_rates = np.array([op.error_rate for op in spec.ops])[op_index]
    is_error = rng.random(n) < err_rates
    is_dropped = rng.random(n) < spec.dropped_fraction
    names = np.array([op.name for op in spec.ops], dtype=object)[op_index]
    error = np.full(n, None, dtype=object)
    error[is_error] = "HTTP 503"
    error[is_dropped] = DROPPED
    status = np.where(is_error, 503, 200)
    status[is_dropped] = 0
    latency[is_dropped] = np.nan
    service[is_dropped] = np.nan
    return pd.DataFrame(
        {
            "ts": np.where(is_dropped, intended, start + service / 1000.0),
            "operation": names,
            "intended_start": intended,
            "start": np.where(is_dropped, np.nan, start),
            "latency_ms": latency,
            "service_ms": service,
            "status": status.astype(np.int16),
            "bytes": np.where(is_dropped, 0, 512).astype(np.int32),
            "error": error,
            "worker": np.zeros(n, dtype=np.int16),
        }
    )


def make_monitor(spec: SyntheticSpec, window_start: float) -> pd.DataFrame:
    rng = np.random.default_rng(spec.seed + 1)
    seconds = max(1, int(spec.duration_s))
    t = np.arange(seconds, dtype=float)
    frame = pd.DataFrame({"ts": window_start + t})
    frame["cpu_percent"] = np.clip(spec.cpu_percent + rng.normal(0, 3, seconds), 0, None)
    factors = interference_factors(spec)
    if factors is not None:
        frame["cpu_percent"] *= factors[:seconds]
    frame["rss_mb"] = spec.rss_start_mb + spec.rss_growth_mb_per_h * t / 3600.0 + rng.normal(0, 0.2, seconds)
    frame["threads"] = 12.0
    frame["open_fds"] = 40.0
    frame["sys_cpu_percent"] = np.clip(frame["cpu_percent"] / 2 + 5, 0, 100)
    frame["sys_memory_percent"] = 30.0
    if spec.with_runtime_metrics:
        frame["queue_depth"] = np.clip(rng.normal(5, 2, seconds), 0, None)
        frame["cache_hit_rate"] = 0.7
        frame["cache_hit_rate_l1"] = 0.82
        frame["cache_hit_rate_l2"] = 0.63
        frame["cache_hit_rate_l3"] = 0.45
        frame["slow_queries"] = 0.0
    return frame


#: Where synthetic runs "ran": one fixed machine, so history and baselines group them together.
SYNTHETIC_MACHINE = MachineInfo(
    hostname="synthetic", platform=platform.platform(), cpu_count=2, fingerprint="synthetic"
)


def _write_inputs(
    run_dir: Path, spec: SyntheticSpec, window_start: float
) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    """samples.parquet and monitor.csv, as the run stage leaves them before derivation."""
    samples = make_samples(spec, window_start)
    monitor = make_monitor(spec, window_start) if spec.monitor else None
    with rundir.atomic_path(run_dir / rundir.SAMPLES_FILE) as tmp:
        pq.write_table(pa.Table.from_pandas(samples, preserve_index=False), tmp)
    if monitor is not None:
        with rundir.atomic_path(run_dir / rundir.MONITOR_FILE) as tmp:
            monitor.to_csv(tmp, index=False)
    return samples, monitor


def _scenario(spec: SyntheticSpec) -> dict[str, object]:
    """The resolved scenario a synthetic run claims: one open-model stage at ``spec.rate``."""
    return {
        "name": spec.scenario,
        "load": {
            "model": "open",
            "rate": spec.rate,
            "stages": [{"duration": spec.duration_s, "rate": spec.rate}],
        },
        "mix": [{"operation": op.name, "weight": op.weight} for op in spec.ops],
    }


def _manifest(run_dir: Path, run_id: str, spec: SyntheticSpec, window_start: float) -> rundir.Manifest:
    started = spec.started_at
    return rundir.build_manifest(
        run_dir,
        run_id=run_id,
        scenario_name=spec.scenario,
        scenario=_scenario(spec),
        cli=["synthetic"],
        git=GitInfo(commit=spec.git_commit, dirty=False),
        machine=SYNTHETIC_MACHINE,
        tags=spec.tags,
        target=rundir.TargetInfo(url="http://127.0.0.1:0", managed=False, config_profile="synthetic"),
        load=rundir.LoadInfo(
            model="open", workers=0, time_scale=1.0, duration_s=spec.duration_s, window_start=window_start
        ),
        started_at=started.isoformat(),
        ended_at=(started + dt.timedelta(seconds=spec.duration_s)).isoformat(),
        duration_s=spec.duration_s,
        status=spec.status,
        abort_reason="synthetic abort" if spec.status == "aborted" else None,
        not_measured=[] if spec.monitor else [rundir.NotMeasured(metric="rss", reason="monitor disabled")],
    )


def make_run(parent: Path, spec: SyntheticSpec | None = None) -> Path:
    """Create a complete run folder under ``parent`` and return its path."""
    spec = spec or SyntheticSpec()
    run_id = spec.run_id or f"{spec.started_at.strftime('%Y%m%dT%H%M%SZ')}-{spec.scenario}-s{spec.seed}"
    run_dir = parent / run_id
    run_dir.mkdir(parents=True, exist_ok=True)
    window_start = spec.started_at.timestamp()
    samples, monitor = _write_inputs(run_dir, spec, window_start)
    stages: list[Stage] = [(0.0, spec.duration_s, spec.rate)]
    write_derived_files(
        run_dir,
        run_id,
        samples,
        window_start=window_start,
        duration_s=spec.duration_s,
        stages=stages,
        targets_ms={op.name: op.target_ms for op in spec.ops},
        monitor=monitor,
    )
    rundir.write_manifest(run_dir, _manifest(run_dir, run_id, spec, window_start))
    return run_dir
