"""The run folder: the versioned contract between `harness run` and every later stage.

A run folder (``reports/runs/<run-id>/``) holds:

- ``manifest.json``   -- :class:`Manifest`: what ran, where, when, status, which files exist.
- ``summary.json``    -- :class:`Summary`: per-operation and overall latency/traffic figures.
- ``samples.parquet`` -- one row per request, columns in :data:`SAMPLE_COLUMNS`.
- ``timeseries.csv``  -- one row per second, columns in :data:`TIMESERIES_COLUMNS` (+ extra
  monitored columns); a value that could not be measured is empty (NaN), never 0.
- ``histograms.json`` -- encoded HdrHistograms (see :class:`HistogramSet`).
- ``monitor.csv``     -- raw target-monitor samples.
- ``locust_*.csv``    -- Locust's own CSV output.
- later stages add ``verdict.json``, ``junit.xml``, ``summary.md``, ``report.html``, ``compare.json``...

Readers must call :func:`load_manifest` / :func:`load_summary` (or use
:class:`harness.contract.runfolder.RunFolder`), which accept every schema version listed in
``SUPPORTED_VERSIONS`` (old runs keep loading; fixtures live in tests). Writers build the manifest
with :func:`build_manifest` and write through :mod:`harness.contract.atomic`; the manifest's
``machine`` and ``git`` come from :mod:`harness.contract.meta`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from harness.contract.atomic import atomic_path, write_json_atomic, write_model, write_text_atomic
from harness.contract.columns import (
    MONITOR_COLUMNS,
    OVERALL,
    SAMPLE_COLUMNS,
    TIMESERIES_COLUMNS,
)
from harness.contract.meta import GitInfo, MachineInfo, git_info, machine_info
from harness.contract.redact import redact_scenario
from harness.contract.versioned import read_versioned_json, validate_as

__all__ = [
    "MONITOR_COLUMNS",
    "OVERALL",
    "SAMPLE_COLUMNS",
    "TIMESERIES_COLUMNS",
    "GitInfo",
    "MachineInfo",
    "atomic_path",
    "write_json_atomic",
    "write_model",
    "write_text_atomic",
]

SCHEMA_VERSION = 1
SUPPORTED_VERSIONS = (1,)

MANIFEST_FILE = "manifest.json"
SUMMARY_FILE = "summary.json"
SAMPLES_FILE = "samples.parquet"
TIMESERIES_FILE = "timeseries.csv"
HISTOGRAMS_FILE = "histograms.json"
MONITOR_FILE = "monitor.csv"

RunStatus = Literal["complete", "aborted"]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="allow")


class Percentiles(_Frozen):
    """Milliseconds. Keys (the summary.json contract): p50 p90 p95 p99 p99_9 max mean."""

    p50: float | None = None
    p90: float | None = None
    p95: float | None = None
    p99: float | None = None
    p99_9: float | None = None
    max: float | None = None
    mean: float | None = None
    min: float | None = None


class OperationSummary(_Frozen):
    count: int = 0
    errors: int = 0
    error_rate: float | None = None  # fraction 0..1 of completed requests
    dropped: int = 0  # sends that could not start (max_in_flight reached)
    late: int = 0  # sends that started later than the pacing tolerance
    target_rate: float | None = None
    rate: float | None = None  # achieved completed req/s over the measured window
    latency_ms: Percentiles = Field(default_factory=Percentiles)
    service_time_ms: Percentiles = Field(default_factory=Percentiles)
    bytes: int = 0
    errors_by_kind: dict[str, int] = Field(default_factory=dict)
    target_ms: float | None = None  # the guide's response-time target, when known


class StageSummary(_Frozen):
    index: int
    start_s: float
    end_s: float
    target_rate: float | None = None
    achieved_rate: float | None = None


class SeriesStats(_Frozen):
    mean: float | None = None
    max: float | None = None
    min: float | None = None
    p95: float | None = None
    start: float | None = None
    end: float | None = None
    slope_per_h: float | None = None  # least-squares slope, units per hour
    r2: float | None = None


class Summary(_Frozen):
    schema_version: int = SCHEMA_VERSION
    run_id: str
    duration_s: float
    overall: OperationSummary
    operations: dict[str, OperationSummary] = Field(default_factory=dict)
    stages: list[StageSummary] = Field(default_factory=list)
    #: monitored series by column name (see MONITOR_COLUMNS); absent key = not measured
    resources: dict[str, SeriesStats] = Field(default_factory=dict)


class NotMeasured(_Frozen):
    metric: str
    reason: str


class ProfileRecord(_Frozen):
    status: Literal["ok", "failed", "skipped"]
    reason: str | None = None
    files: dict[str, str] = Field(default_factory=dict)  # name -> path relative to repo or absolute


class TargetInfo(_Frozen):
    url: str
    managed: bool  # True when the harness started the reference runtime itself
    config_profile: str | None = None
    switches: dict[str, Any] = Field(default_factory=dict)
    pids: list[int] = Field(default_factory=list)
    version: str | None = None


class PacerCounts(_Frozen):
    """The pacer's own counts of scheduled, sent, dropped and late sends (open model)."""

    scheduled: int | None = None
    sent: int | None = None
    dropped: int | None = None
    late: int | None = None
    max_lag_s: float | None = None


class LoadInfo(_Frozen):
    """How the load was generated. Optional fields: older run folders recorded fewer of them."""

    model: str | None = None  # "open" or "closed"
    workers: int | None = None  # Locust worker processes (0 = one local process)
    time_scale: float | None = None
    duration_s: float | None = None  # planned measured window, time scale applied
    #: epoch second where the measured window starts: second 0 of timeseries.csv
    window_start: float | None = None
    setup_context: dict[str, Any] | None = None  # ids created by the scenario's setup steps
    pacer: PacerCounts | None = None


class Manifest(_Frozen):
    schema_version: int = SCHEMA_VERSION
    kind: str = "motherbox-perf/run"
    run_id: str
    scenario_name: str
    scenario_path: str | None = None
    scenario: dict[str, Any]  # as resolved (time scale applied)
    cli: list[str] = Field(default_factory=list)
    git: GitInfo = Field(default_factory=GitInfo)
    machine: MachineInfo = Field(default_factory=MachineInfo)
    tags: dict[str, str] = Field(default_factory=dict)
    target: TargetInfo
    load: LoadInfo = Field(default_factory=LoadInfo)
    started_at: str  # ISO-8601 UTC
    ended_at: str | None = None
    duration_s: float | None = None
    status: RunStatus
    abort_reason: str | None = None
    files: dict[str, str] = Field(default_factory=dict)  # logical name -> file name in the run folder
    profiles: dict[str, ProfileRecord] = Field(default_factory=dict)
    not_measured: list[NotMeasured] = Field(default_factory=list)


class HistogramSet(_Frozen):
    """Encoded HdrHistograms (``HdrHistogram.encode()``, base64 text), values in microseconds."""

    schema_version: int = SCHEMA_VERSION
    unit: Literal["us"] = "us"
    significant_figures: int = 3
    latency: dict[str, str] = Field(default_factory=dict)  # "__overall__" and one per operation
    service: dict[str, str] = Field(default_factory=dict)
    windows: list[dict[str, Any]] = Field(default_factory=list)  # [{"t": int, "latency": enc}]


class RunDirError(Exception):
    """A run folder is missing, unreadable or of an unsupported schema version."""


# ---------------------------------------------------------------- building the manifest

#: Files every derived run folder holds (written by :func:`harness.derive.files.write_derived_files`).
CORE_FILES: dict[str, str] = {
    "samples": SAMPLES_FILE,
    "summary": SUMMARY_FILE,
    "timeseries": TIMESERIES_FILE,
    "histograms": HISTOGRAMS_FILE,
}


def present_files(run_dir: Path, optional: Mapping[str, str]) -> dict[str, str]:
    """``files`` of the manifest: the core files, then each optional file that exists."""
    return {**CORE_FILES, **{key: name for key, name in optional.items() if (run_dir / name).is_file()}}


def build_manifest(
    run_dir: Path,
    *,
    run_id: str,
    scenario_name: str,
    scenario: dict[str, Any],
    target: TargetInfo,
    load: LoadInfo,
    started_at: str,
    ended_at: str | None,
    duration_s: float | None,
    status: RunStatus,
    abort_reason: str | None = None,
    scenario_path: str | None = None,
    cli: Sequence[str] = (),
    tags: Mapping[str, str] | None = None,
    optional_files: Mapping[str, str] | None = None,
    profiles: Mapping[str, ProfileRecord] | None = None,
    not_measured: Sequence[NotMeasured] = (),
    machine: MachineInfo | None = None,
    git: GitInfo | None = None,
) -> Manifest:
    """The manifest of a derived run folder; ``machine`` and ``git`` default to this machine/checkout.

    ``files`` lists the core files plus ``monitor.csv`` and each of ``optional_files`` present in
    ``run_dir``, so write the files first and the manifest last. The scenario is recorded with its
    secrets redacted (:func:`harness.contract.redact.redact_scenario`): no key is ever written.
    """
    return Manifest(
        run_id=run_id,
        scenario_name=scenario_name,
        scenario_path=scenario_path,
        scenario=redact_scenario(scenario),
        cli=list(cli),
        git=git if git is not None else git_info(),
        machine=machine if machine is not None else machine_info(),
        tags=dict(tags or {}),
        target=target,
        load=load,
        started_at=started_at,
        ended_at=ended_at,
        duration_s=duration_s,
        status=status,
        abort_reason=abort_reason,
        files=present_files(run_dir, {"monitor": MONITOR_FILE, **(optional_files or {})}),
        profiles=dict(profiles or {}),
        not_measured=list(not_measured),
    )


def write_manifest(run_dir: Path, manifest: Manifest) -> None:
    """Write ``manifest.json`` atomically, after every other file (a folder with one is a run folder)."""
    write_model(run_dir / MANIFEST_FILE, manifest)


# ---------------------------------------------------------------- loading


def _read_json(path: Path) -> dict[str, Any]:
    return read_versioned_json(path, supported=SUPPORTED_VERSIONS, error=RunDirError)


def resolve_run_dir(ref: str | Path, reports_dir: Path = Path("reports")) -> Path:
    """Accept a run folder path, a run id under ``reports/runs``, or ``latest``."""
    candidate = Path(ref)
    if (candidate / MANIFEST_FILE).is_file():
        return candidate
    for alt in (reports_dir / "runs" / str(ref), reports_dir / str(ref)):
        if (alt / MANIFEST_FILE).is_file():
            return alt.resolve() if alt.is_symlink() else alt
    raise RunDirError(f"{ref}: not a run folder (no {MANIFEST_FILE})")


def load_manifest(run_dir: Path) -> Manifest:
    path = run_dir / MANIFEST_FILE
    return validate_as(Manifest, _read_json(path), path, RunDirError)


def load_summary(run_dir: Path) -> Summary:
    path = run_dir / SUMMARY_FILE
    return validate_as(Summary, _read_json(path), path, RunDirError)


def load_histograms(run_dir: Path) -> HistogramSet:
    path = run_dir / HISTOGRAMS_FILE
    return validate_as(HistogramSet, _read_json(path), path, RunDirError)


def load_samples(run_dir: Path, columns: list[str] | None = None) -> Any:
    """samples.parquet as a pandas DataFrame (pandas imported lazily: it is slow to import)."""
    import pandas as pd

    path = run_dir / SAMPLES_FILE
    if not path.is_file():
        raise RunDirError(f"{path}: not found")
    return pd.read_parquet(path, columns=columns)


def load_timeseries(run_dir: Path) -> Any:
    import pandas as pd

    path = run_dir / TIMESERIES_FILE
    if not path.is_file():
        raise RunDirError(f"{path}: not found")
    return pd.read_csv(path)
