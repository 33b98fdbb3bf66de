"""``roi.json``: the typed, versioned result of ``harness roi`` and its one writer and loader.

Old versions keep loading: every version in :data:`SUPPORTED_VERSIONS` has a fixture under
``tests/fixtures/roi/v<N>/``. A reader calls :func:`load_roi`, which raises :class:`RoiFileError`
(one line naming the file) for a missing, unreadable or unsupported file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from harness.compare.result import RepeatStats
from harness.contract import rundir
from harness.contract.versioned import read_versioned_json, validate_as

Case = Literal["low", "point", "high"]
ROI_KIND: Literal["motherbox-perf/roi"] = "motherbox-perf/roi"
ROI_JSON = "roi.json"
SCHEMA_VERSION = 1
SUPPORTED_VERSIONS = (1,)


class RoiFileError(ValueError):
    """roi.json is missing, unreadable, of another kind or of an unsupported schema version."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Measured(_Model):
    """One side of the comparison, in the units the cost model needs."""

    cpu_ms_per_request: float | None
    peak_rss_mb: float | None
    error_rate: float | None
    p50_ms: float | None


class CaseResult(_Model):
    case: Case
    after: Measured
    monthly_cost_before: dict[str, float]
    monthly_cost_after: dict[str, float]
    monthly_savings: float
    savings_per_request: float  # the part of the savings that scales with volume, per request
    one_off_investment: float
    recurring_monthly: float
    net_monthly: float
    payback_months: float | None  # None: never pays back
    roi_12_months: float
    requests_per_month_for_6_month_payback: float | None


class BenefitRow(_Model):
    """One of the guide's overall benefits, claimed vs measured (before -> after)."""

    benefit: str
    claimed: str
    measured: float | None
    measured_text: str
    interval: str
    meets_claim: bool | None
    how: str


class RoiRuns(_Model):
    """The runs of each side of the comparison, as compare.json reports them."""

    base: RepeatStats
    new: RepeatStats


class RoiResult(_Model):
    kind: Literal["motherbox-perf/roi"] = ROI_KIND
    schema_version: int = SCHEMA_VERSION
    currency: str
    before: Measured
    after: Measured
    requests_per_month: float
    cases: dict[str, CaseResult]
    assumptions: list[dict[str, str]]
    claims: dict[str, dict[str, Any]]  # the guide's payback claims (claims.yaml), as shown
    notes: list[str] = Field(default_factory=list)
    benefits: list[BenefitRow] = Field(default_factory=list)
    compare: RoiRuns | None = None  # the runs measured; None when computed without a comparison


def write_roi_json(result: RoiResult, out_dir: Path) -> Path:
    """Write ``roi.json`` atomically into ``out_dir``."""
    path = out_dir / ROI_JSON
    rundir.write_json_atomic(path, result.model_dump())
    return path


def load_roi(path: Path) -> RoiResult:
    """Load ``roi.json`` (a file, or a folder holding one) of any supported schema version."""
    if path.is_dir():
        path = path / ROI_JSON
    data = read_versioned_json(path, supported=SUPPORTED_VERSIONS, error=RoiFileError, kind=ROI_KIND)
    return validate_as(RoiResult, data, path, RoiFileError)
