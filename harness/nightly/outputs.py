"""``nightly.json``: the typed, versioned result of ``harness nightly`` and its one writer and loader.

Old versions keep loading: every version in :data:`SUPPORTED_VERSIONS` has a fixture under
``tests/fixtures/nightly/v<N>/``. ``regressions``, ``failed_steps`` and ``exit_code`` are written
for readers of the file but derived from the steps, so the loader recomputes them.

Versions: 1 — each step compared with the stored baseline of its scenario; 2 — ``baseline_ref``
and ``baseline_commit`` (``harness nightly --baseline-ref REF``) and each step's ``paired``
result: the step ran as a duet, REF's runtime (side a) against the working tree's (side b), with
the paired verdict and the headline figures of its ``ab.json``. A version-1 file loads with
``baseline_ref is None`` and ``paired is None`` on every step.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_serializer

from harness.contract import rundir
from harness.contract.exits import EXIT_ABORTED, EXIT_FAILED, EXIT_OK
from harness.contract.versioned import read_versioned_json, validate_as

NIGHTLY_KIND: Literal["motherbox-perf/nightly"] = "motherbox-perf/nightly"
NIGHTLY_JSON = "nightly.json"
SCHEMA_VERSION = 2
SUPPORTED_VERSIONS = (1, 2)
DERIVED_KEYS = ("regressions", "failed_steps", "exit_code")


class NightlyFileError(ValueError):
    """nightly.json is missing, unreadable, of another kind or of an unsupported schema version."""


class StepExtras(BaseModel):
    """What a step adds beyond compare; only the fields of the step's kind are set (and written)."""

    model_config = ConfigDict(extra="allow")  # v1 files may hold "<metric>_reason" keys
    rss_slope_mb_per_h: float | None = None  # endurance
    rss_slope_r2: float | None = None
    rss_slope_second_half_mb_per_h: float | None = None
    recovery_time: float | None = None  # spike (ms)
    recovery_time_display: str | None = None
    breaking_point: float | None = None  # stress (req/s)
    breaking_point_display: str | None = None
    reason: str | None = None  # why recovery time / breaking point is missing
    profiles: dict[str, str] | None = None  # profile: status of each profiler

    def shown(self) -> dict[str, Any]:
        return self.model_dump(exclude_unset=True)


PairedVerdict = Literal["regression", "improvement", "no_change", "inconclusive"]


class PairedFigure(BaseModel):
    """One headline metric (the overall operation) of a step's duet, as its ``ab.json`` says."""

    model_config = ConfigDict(extra="forbid")
    metric: str  # label, e.g. "p95(overall)"
    unit: str
    change_kind: Literal["relative", "absolute"]
    a: float | None  # REF
    b: float | None  # the working tree
    change: float | None  # B/A - 1 (relative) or B - A (absolute)
    ci_low: float | None
    ci_high: float | None
    mde: float | None
    status: str  # ab.json's status: regression, improvement, no_change, inconclusive, too_few_samples


class PairedStep(BaseModel):
    """A step run as a duet against ``--baseline-ref`` (v2): its paired verdict and where to look."""

    model_config = ConfigDict(extra="forbid")
    verdict: PairedVerdict
    ab_dir: str
    ab_json: str
    ab_html: str
    a_run_dir: str  # REF's run folder (``run_dir`` of the step is the working tree's, side b)
    mde: float | None  # of the overall p95: "this comparison could see changes >= mde"
    headline: list[PairedFigure] = Field(default_factory=list)
    warnings: list[str] = Field(default_factory=list)


class StepResult(BaseModel):
    model_config = ConfigDict(extra="forbid")
    step: str
    scenario: str
    exit_code: int
    run_dir: str | None
    run_status: str | None
    baseline: str | None = None
    baseline_set: bool = False
    regressions: list[str] = Field(default_factory=list)
    compare_html: str | None = None
    extras: StepExtras = Field(default_factory=StepExtras)
    error: str | None = None
    paired: PairedStep | None = None  # v2: the step ran as a duet against --baseline-ref

    @field_serializer("extras")
    def _only_set_extras(self, extras: StepExtras) -> dict[str, Any]:
        return extras.shown()


class NightlyResult(BaseModel):
    model_config = ConfigDict(extra="forbid")
    kind: Literal["motherbox-perf/nightly"] = NIGHTLY_KIND
    schema_version: int = SCHEMA_VERSION
    nightly_id: str
    time_scale: float
    started_at: str
    ended_at: str
    steps: list[StepResult]
    pages: dict[str, str]
    baseline_ref: str | None = None  # v2: --baseline-ref as given
    baseline_commit: str | None = None  # v2: the commit it named when the night began

    @property
    def regressions(self) -> list[str]:
        return [f"{s.step}: {r}" for s in self.steps for r in s.regressions]

    @property
    def failed_steps(self) -> list[str]:
        return [s.step for s in self.steps if s.run_status != "complete"]

    def exit_code(self) -> int:
        """1 on any regression, 3 when a step produced no complete run, else 0."""
        if self.regressions:
            return EXIT_FAILED
        return EXIT_ABORTED if self.failed_steps else EXIT_OK

    def to_json(self) -> dict[str, Any]:
        """Today's format (a loaded older file is written as the current version)."""
        data = self.model_dump()
        data["schema_version"] = SCHEMA_VERSION
        data["regressions"] = self.regressions
        data["failed_steps"] = self.failed_steps
        data["exit_code"] = self.exit_code()
        return data


def write_nightly_json(result: NightlyResult, out_dir: Path) -> Path:
    """Write ``nightly.json`` atomically into ``out_dir``."""
    path = out_dir / NIGHTLY_JSON
    rundir.write_json_atomic(path, result.to_json())
    return path


def load_nightly(path: Path) -> NightlyResult:
    """Load ``nightly.json`` (a file, or a folder holding one) of any supported schema version."""
    if path.is_dir():
        path = path / NIGHTLY_JSON
    data = read_versioned_json(path, supported=SUPPORTED_VERSIONS, error=NightlyFileError, kind=NIGHTLY_KIND)
    kept = {k: v for k, v in data.items() if k not in DERIVED_KEYS}
    return validate_as(NightlyResult, kept, path, NightlyFileError)
