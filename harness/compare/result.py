"""``compare.json``: the typed, versioned result of comparing two run sets.

:class:`CompareResult` is what :func:`harness.compare.compare.compare_run_sets` returns;
:class:`CompareFile` is the file it writes (the same fields plus the verdict and the names of the
regressions and improvements); :func:`load_compare` reads any supported version back. Old
versions keep loading: a file of each lives in ``tests/fixtures/compare``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field

from harness.contract.versioned import read_versioned_json, validate_as

COMPARE_KIND: Final = "motherbox-perf/compare"
COMPARE_SCHEMA_VERSION = 1
SUPPORTED_VERSIONS = (1,)
COMPARE_JSON = "compare.json"

Status = Literal["regression", "improvement", "not_significant", "within_threshold", "untested"]


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
    return validate_as(CompareFile, data, path, CompareFileError)
