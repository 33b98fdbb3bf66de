"""verdict.json: the evaluated rules of one run (versioned like every run-folder file)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from harness.contract.rundir import RunDirError
from harness.contract.versioned import read_versioned_json, validate_as

VERDICT_FILE = "verdict.json"
JUNIT_FILE = "junit.xml"
SUMMARY_MD_FILE = "summary.md"
#: v2 added the rule status "not-applicable" (a rule for another kind of run), ``counts`` with that
#: key, ``run_kind`` and ``applies_to``. v1 files still load (they have no not-applicable rules).
VERDICT_SCHEMA_VERSION = 2
SUPPORTED_VERDICT_VERSIONS = (1, 2)

RuleStatus = Literal["pass", "fail", "warn", "not-measured", "not-applicable"]
#: Every status, in the order counts are shown.
RULE_STATUSES: tuple[RuleStatus, ...] = ("pass", "fail", "warn", "not-measured", "not-applicable")
VerdictStatus = Literal["pass", "fail", "warn"]


class RuleResult(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: str
    text: str
    origin: str  # "checklist", "cli", "scenario-gates", "scenario-expect"
    section: str | None = None
    title: str | None = None
    source: str | None = None  # where the number comes from in the guide
    metric: str
    subject: str  # metric with filter, e.g. p95(command_ack)
    operation: str | None = None
    window: str | None = None  # "for 10s" / "within 60s"
    comparator: str
    threshold: float | None = None  # canonical unit of the metric
    threshold_display: str
    measured: float | None = None
    measured_display: str | None = None
    severity: Literal["fail", "warn"]
    required: bool = False
    status: RuleStatus
    reason: str | None = None  # why not measured / not applicable, or a note on the measurement
    applies_to: list[str] | None = None  # checklist rules: the kinds of run the rule is for
    where: dict[str, Any] = Field(default_factory=dict)  # operation, window start/end seconds
    hint: str | None = None


class Verdict(BaseModel):
    model_config = ConfigDict(frozen=True)

    schema_version: int = VERDICT_SCHEMA_VERSION
    kind: str = "motherbox-perf/verdict"
    run_id: str
    run_status: str
    incomplete: bool
    status: VerdictStatus
    gate_failed: bool
    evaluated_at: str
    checklist: str | None = None
    run_kind: str | None = None  # smoke, steady, spike, ... (harness.scenario.kinds)
    run_kind_declared: bool | None = None  # False: inferred from the scenario's shape
    baseline_run: str | None = None
    counts: dict[str, int]
    failed: list[str] = Field(default_factory=list)  # rule texts that fail the gate
    rules: list[RuleResult]

    @field_validator("counts")
    @classmethod
    def _every_status(cls, value: dict[str, int]) -> dict[str, int]:
        """v1 files have no "not-applicable" count: every status is a key, 0 when absent."""
        return {**dict.fromkeys(RULE_STATUSES, 0), **value}


def load_verdict(run_dir: Path) -> Verdict | None:
    """The run's verdict.json, or None when the run has not been evaluated."""
    path = run_dir / VERDICT_FILE
    if not path.is_file():
        return None
    data = read_versioned_json(path, supported=SUPPORTED_VERDICT_VERSIONS, error=RunDirError)
    return validate_as(Verdict, data, path, RunDirError)
