"""``compare.json``: the typed, versioned result of comparing two run sets.

:class:`CompareResult` is what :func:`harness.compare.compare.compare_run_sets` returns;
:class:`CompareFile` is the file it writes (the same fields plus the verdict and the names of the
regressions and improvements); :func:`load_compare` reads any supported version back. Old
versions keep loading: a file of each lives in ``tests/fixtures/compare``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field

from harness.compare.stats import minimum_samples_for_percentile
from harness.contract.versioned import read_versioned_json, validate_as

COMPARE_KIND: Final = "motherbox-perf/compare"
#: 2: ``mde`` per metric, statuses ``inconclusive`` and ``too_few_samples``, settings
#: ``min_effect_ms`` and ``min_samples``. A version-1 file loads with the floor and the minimum
#: counts it was computed with: none (0 ms, {}).
COMPARE_SCHEMA_VERSION = 2
SUPPORTED_VERSIONS = (1, 2)
COMPARE_JSON = "compare.json"

Status = Literal[
    "regression",
    "improvement",
    "not_significant",
    "within_threshold",
    "untested",
    "inconclusive",
    "too_few_samples",
]
#: The latency percentiles compared, by name.
PERCENTILES: tuple[tuple[str, float], ...] = (("p50", 50.0), ("p95", 95.0), ("p99", 99.0))
#: Absolute floor of a latency change (ms): docs/regressions.md, "Noise floor", has the A/A
#: measurements it comes from.
DEFAULT_MIN_EFFECT_MS = 1.0


def default_min_samples() -> dict[str, int]:
    """Samples per operation and side below which a percentile is not compared (rank argument)."""
    return {name: minimum_samples_for_percentile(q) for name, q in PERCENTILES}


class CompareFileError(Exception):
    """compare.json is missing, unreadable, of another kind or of an unsupported version."""


@dataclass(frozen=True)
class CompareSettings:
    threshold: float = 0.05  # relative change that matters
    alpha: float = 0.01
    error_threshold: float = 0.001  # absolute increase of the error rate that matters (0.1 pp)
    n_boot: int = 2000
    seed: int = 0
    #: what a single run's percentile bootstrap resamples: whole one-second windows or requests
    bootstrap_unit: Literal["seconds", "requests"] = "seconds"
    #: a latency change must also exceed this many ms to count (HDR resolution, A/A noise)
    min_effect_ms: float = DEFAULT_MIN_EFFECT_MS
    #: percentile name -> fewest samples per operation and side for it to be compared
    min_samples: dict[str, int] = field(default_factory=default_min_samples)

    @property
    def confidence(self) -> float:
        return 1.0 - self.alpha


class MetricComparison(BaseModel):
    operation: str
    metric: str
    unit: str
    base: float | None
    new: float | None
    change: float | None  # relative, except error_rate (absolute)
    change_kind: Literal["relative", "absolute"]
    ci_low: float | None
    ci_high: float | None
    p_value: float | None
    #: smallest change (units of ``change``) detectable at 95 % power at level alpha; None: no interval
    mde: float | None = None
    test: str
    status: Status
    mark: str
    higher_is_worse: bool

    @property
    def label(self) -> str:
        """``metric(operation)``, as compare.json lists regressions and improvements."""
        return f"{self.metric}({self.operation})"


class RepeatStats(BaseModel):
    runs: list[str]
    p95_ms: list[float | None]
    cv_p95: float | None  # coefficient of variation of overall p95 across repeats


class HotspotDelta(BaseModel):
    """A frame whose share of CPU profile samples changed (percent of samples, 0-100)."""

    frame: str
    base_percent: float
    new_percent: float
    delta_percent: float


class _CompareBody(BaseModel):
    kind: Literal["motherbox-perf/compare"] = COMPARE_KIND
    schema_version: int = COMPARE_SCHEMA_VERSION
    scenario: str
    base: RepeatStats
    new: RepeatStats
    settings: CompareSettings
    metrics: list[MetricComparison]
    warnings: list[str] = Field(default_factory=list)
    hotspots: list[HotspotDelta] = Field(default_factory=list)


class CompareResult(_CompareBody):
    """A comparison in memory: the regressions and improvements as metrics, not names."""

    @property
    def regressions(self) -> list[MetricComparison]:
        return [m for m in self.metrics if m.status == "regression"]

    @property
    def improvements(self) -> list[MetricComparison]:
        return [m for m in self.metrics if m.status == "improvement"]

    @property
    def has_regression(self) -> bool:
        return bool(self.regressions)

    def to_file(self) -> CompareFile:
        return CompareFile(
            **dict(self),
            verdict="regression" if self.has_regression else "ok",
            regressions=[m.label for m in self.regressions],
            improvements=[m.label for m in self.improvements],
        )

    def to_json(self) -> dict[str, Any]:
        """compare.json's content (plain Python values)."""
        return self.to_file().model_dump()


class CompareFile(_CompareBody):
    """compare.json as written and loaded."""

    model_config = ConfigDict(extra="allow")  # fields added by later versions are kept

    verdict: Literal["ok", "regression"]
    regressions: list[str] = Field(default_factory=list)  # "metric(operation)"
    improvements: list[str] = Field(default_factory=list)


def load_compare(path: Path) -> CompareFile:
    """Read compare.json (a file, or a folder holding one) of any supported schema version."""
    if path.is_dir():
        path = path / COMPARE_JSON
    data = read_versioned_json(path, supported=SUPPORTED_VERSIONS, error=CompareFileError, kind=COMPARE_KIND)
    if data["schema_version"] == 1 and isinstance(data.get("settings"), dict):
        data["settings"] = {"min_effect_ms": 0.0, "min_samples": {}, **data["settings"]}
    return validate_as(CompareFile, data, path, CompareFileError)
