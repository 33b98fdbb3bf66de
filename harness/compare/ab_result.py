"""``ab.json``: the typed, versioned result of a paired (duet) comparison of two targets.

:func:`harness.compare.paired.paired_compare` builds an :class:`AbResult` from the two run folders
of one ``harness ab`` run; :func:`write_ab_json` writes it and :func:`load_ab` reads any supported
version back (``tests/fixtures/ab/v1`` and ``v2`` keep every version loading). Everything a page
shows is here — the verdict, the headline MDE, the per-window series and the interval band of the
charts, the differential CPU hotspots — so the page (:mod:`harness.report.ab_page`) computes nothing.

Versions: 1 — one measured window; 2 — ``repeats`` (the windows of ``harness ab --repeat N``, pooled
into one analysis), ``profile`` (``--profile cpu``: each side's py-spy record and the differential
hotspots B vs A) and ``series.repeat_starts``. A version-1 file loads with ``repeats == []`` (one
window: ``window_start``/``window_seconds``, run folders in ``a``/``b``) and ``profile is None``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field

from harness.compare.result import DEFAULT_MIN_EFFECT_MS, default_min_samples
from harness.contract import rundir
from harness.contract.versioned import read_versioned_json, validate_as

AB_KIND: Final = "motherbox-perf/ab"
AB_SCHEMA_VERSION = 2
SUPPORTED_VERSIONS = (1, 2)
AB_JSON = "ab.json"

AbStatus = Literal["regression", "improvement", "no_change", "inconclusive", "too_few_samples", "untested"]
AbVerdict = Literal["regression", "inconclusive", "no_regression"]


class AbFileError(Exception):
    """ab.json is missing, unreadable, of another kind or of an unsupported version."""


@dataclass(frozen=True)
class PairedSettings:
    threshold: float = 0.05  # relative change that matters
    alpha: float = 0.01  # family-wise, over every judged metric (Holm)
    min_effect_ms: float = DEFAULT_MIN_EFFECT_MS  # a latency change must also exceed this (ms)
    n_boot: int = 2000
    seed: int = 0
    error_threshold: float = 0.001  # absolute increase of the error rate that matters (0.1 pp)
    #: samples a paired window should hold per operation: W = max(1, ceil(block_samples / rate))
    block_samples: int = 40
    #: fewest windows a bootstrap may resample (fewer: too_few_samples)
    min_blocks: int = 5
    #: windows are shortened (down to 1 s) to give at least this many when the window allows
    target_blocks: int = 20
    power: float = 0.95  # the MDE's power
    #: percentile name -> fewest samples per operation and side for it to be compared
    min_samples: dict[str, int] = field(default_factory=default_min_samples)

    @property
    def confidence(self) -> float:
        return 1.0 - self.alpha


class AbMetric(BaseModel):
    operation: str
    metric: str  # p50 p95 p99 error_rate cpu_per_request
    unit: str
    change_kind: Literal["relative", "absolute"]
    a: float | None
    b: float | None
    change: float | None  # B/A - 1 (relative) or B - A (absolute: error rate)
    ci_low: float | None  # (1 - alpha) interval of the change, paired windows
    ci_high: float | None
    p_value: float | None  # from the paired bootstrap distribution
    p_adjusted: float | None  # Holm over the judged metrics; None: not judged
    mde: float | None  # smallest change detectable at ``power`` at Holm's first-step level
    threshold: float  # the change that matters, units of ``change`` (latency: incl. the floor)
    n_a: int
    n_b: int
    blocks: int  # paired windows resampled
    block_seconds: int
    test: str
    status: AbStatus
    mark: str
    higher_is_worse: bool = True

    @property
    def label(self) -> str:
        return f"{self.metric}({self.operation})"


class AbSide(BaseModel):
    side: Literal["a", "b"]
    run_dir: str  # the run folder (with repeats: the first repeat's; every one in AbResult.repeats)
    run_id: str
    target: str  # a one-line description of the target
    requests: int  # over every repeat
    errors: int
    cpu_percent_mean: float | None  # the side's target process tree; None: not measured
    cpu_ms_per_request: float | None


class AbSeries(BaseModel):
    """Overall p95 per paired window, and the overall p95 ratio's interval band, for the charts."""

    metric: str = "p95"
    block_seconds: int
    t: list[float]  # start of each window (s into the measured window)
    a: list[float | None]
    b: list[float | None]
    ratio: list[float | None]  # B / A per window
    ratio_estimate: float | None  # B / A over the whole window
    band_low: float | None  # 1 + ci_low of the overall p95 change
    band_high: float | None
    repeat_starts: list[float] = Field(default_factory=list)  # t where repeats 2..N begin (v2)


class AbRepeat(BaseModel):
    """One measured window of ``harness ab --repeat N`` (v2): its two run folders and its blocks."""

    index: int  # 1-based
    a_run_dir: str
    b_run_dir: str
    window_start: float  # epoch s, the same on both sides
    window_seconds: int  # seconds of this window in the pooled analysis
    blocks: int  # paired windows of the overall latency this repeat contributed


class AbHotspot(BaseModel):
    """A function whose share of the target's CPU samples changed from A to B (``--profile cpu``)."""

    function: str
    location: str  # file:line (the most sampled line; B's when the function ran on B)
    a_percent: float  # self share of the side's py-spy samples, 0-100 (mean over repeats)
    b_percent: float
    change_points: float  # b_percent - a_percent, percentage points


class AbProfileSide(BaseModel):
    side: Literal["a", "b"]
    status: Literal["ok", "failed", "skipped"]  # ok when every repeat of the side was profiled
    reason: str | None = None  # why not (the manifest's profile record), with the repeat when N > 1
    profiled: int  # repeats with a CPU hotspot table
    samples: int = 0  # py-spy samples behind the side's tables (few: shares are coarse)


class AbProfile(BaseModel):
    """The differential CPU profile of a ``harness ab --profile cpu`` run (v2)."""

    kind: Literal["cpu"] = "cpu"
    share: Literal["self"] = "self"  # share of samples in which the function is the running leaf
    a: AbProfileSide
    b: AbProfileSide
    hotspots: list[AbHotspot] = Field(default_factory=list)  # largest growth first
    note: str | None = None  # why there is no differential table (a side not profiled)


class AbHeadline(BaseModel):
    verdict: AbVerdict
    regressions: list[str] = Field(default_factory=list)  # "metric(operation)"
    improvements: list[str] = Field(default_factory=list)
    inconclusive: list[str] = Field(default_factory=list)
    judged: int  # metrics in the Holm family
    mde_metric: str | None  # the metric whose MDE the banner quotes (overall p95)
    mde: float | None  # "this comparison could see changes >= mde"


class AbResult(BaseModel):
    model_config = ConfigDict(extra="allow")  # fields added by later versions are kept

    kind: Literal["motherbox-perf/ab"] = AB_KIND
    schema_version: int = AB_SCHEMA_VERSION
    ab_id: str | None
    scenario: str
    assign: str | None  # mirror | alternate (manifest tag ab_assign)
    settings: PairedSettings
    window_start: float  # of the (first) measured window, epoch s
    window_seconds: int  # seconds analysed, summed over the repeats
    a: AbSide
    b: AbSide
    headline: AbHeadline
    metrics: list[AbMetric]
    series: AbSeries
    warnings: list[str] = Field(default_factory=list)
    repeats: list[AbRepeat] = Field(default_factory=list)  # v2; [] (v1): one window
    profile: AbProfile | None = None  # v2; None: not CPU-profiled

    @property
    def regressions(self) -> list[AbMetric]:
        return [m for m in self.metrics if m.status == "regression"]

    @property
    def has_regression(self) -> bool:
        """Any metric significant after Holm's correction, beyond threshold and floor, worse."""
        return bool(self.regressions)

    @property
    def inconclusive(self) -> bool:
        """Any judged metric inconclusive: not significant while its MDE exceeds its threshold."""
        return any(m.status == "inconclusive" for m in self.metrics)

    def to_json(self) -> dict[str, Any]:
        return self.model_dump(mode="json")


def headline_of(metrics: list[AbMetric], judged: int) -> AbHeadline:
    """The verdict and the banner's figures, from the classified metrics."""
    labels = {
        s: [m.label for m in metrics if m.status == s] for s in ("regression", "improvement", "inconclusive")
    }
    verdict: AbVerdict = (
        "regression"
        if labels["regression"]
        else "inconclusive"
        if labels["inconclusive"]
        else "no_regression"
    )
    p95 = next((m for m in metrics if m.operation == "overall" and m.metric == "p95"), None)
    return AbHeadline(
        verdict=verdict,
        regressions=labels["regression"],
        improvements=labels["improvement"],
        inconclusive=labels["inconclusive"],
        judged=judged,
        mde_metric=None if p95 is None else p95.label,
        mde=None if p95 is None else p95.mde,
    )


def write_ab_json(result: AbResult, out_dir: Path) -> Path:
    """Write ``out_dir/ab.json`` atomically (ab.html: :mod:`harness.report.ab_page`)."""
    path = out_dir / AB_JSON
    rundir.write_json_atomic(path, result.to_json())
    return path


def load_ab(path: Path) -> AbResult:
    """Read ab.json (a file, or a folder holding one) of any supported schema version."""
    if path.is_dir():
        path = path / AB_JSON
    data = read_versioned_json(path, supported=SUPPORTED_VERSIONS, error=AbFileError, kind=AB_KIND)
    return validate_as(AbResult, data, path, AbFileError)
