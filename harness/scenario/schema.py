"""Pydantic schema of a scenario file (documented in docs/scenarios.md). Unknown keys are errors."""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator, model_validator

from harness.contract.egress import base_url, check_path, is_loopback_host, parse_url
from harness.scenario.kinds import RunKind
from harness.scenario.operations import NAMED_OPERATIONS
from harness.scenario.units import parse_duration, parse_fraction
from harness.verdict.rules import RuleError, parse_rule

Duration = Annotated[float, BeforeValidator(parse_duration)]
Rate = Annotated[float, Field(ge=0, le=1_000_000)]

LATENCY_KEYS = ("p50", "p90", "p95", "p99", "p99_9", "max", "mean")
EXPECT_KEYS = (*LATENCY_KEYS, "error_rate", "dropped_rate", "recovery_time", "min_rate")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,79}$")


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class Stage(Strict):
    duration: Duration = Field(gt=0)
    rate: Rate
    ramp: bool = False  # linear from the previous stage's rate (0 for the first) to ``rate``


class WaitRange(Strict):
    min: Duration = 0.0
    max: Duration = 0.0

    @model_validator(mode="after")
    def _ordered(self) -> WaitRange:
        if self.max < self.min:
            raise ValueError("wait.max must be >= wait.min")
        return self


class Load(Strict):
    model: Literal["open", "closed"] = "open"
    rate: Rate | None = None
    duration: Duration | None = Field(default=None, gt=0)
    stages: list[Stage] | None = None
    max_in_flight: int = Field(default=1000, ge=1, le=100_000)
    users: int | None = Field(default=None, ge=1, le=100_000)
    spawn_rate: float | None = Field(default=None, gt=0)
    wait: Duration | WaitRange = 0.0
    timeout: Duration = Field(default=60.0, gt=0)
    drain: Duration = 10.0  # how long in-flight requests may finish after the window
    queue_timeout: Duration = 1.0  # max wait for a free slot when max_in_flight is reached
    seed: int = 1

    @model_validator(mode="after")
    def _consistent(self) -> Load:
        if self.model == "open":
            if self.stages is None and (self.rate is None or self.duration is None):
                raise ValueError("open model needs either `stages` or both `rate` and `duration`")
            if self.stages is not None and self.rate is not None:
                raise ValueError("give either `rate` + `duration` or `stages`, not both")
            if self.stages is not None and not self.stages:
                raise ValueError("`stages` must not be empty")
            if self.users is not None:
                raise ValueError("`users` is for the closed model (set model: closed)")
        else:
            if self.users is None or self.duration is None:
                raise ValueError("closed model needs `users` and `duration`")
            if self.rate is not None or self.stages is not None:
                raise ValueError("`rate`/`stages` are for the open model")
        return self


class ApiKey(Strict):
    env: str | None = None
    file: str | None = None
    value: str | None = None
    header: str = "X-API-Key"


class Target(Strict):
    url: str | None = None
    headers: dict[str, str] = Field(default_factory=dict)
    api_key: ApiKey | None = None
    health_path: str = "/v1/health"
    runtime_config: str | None = None  # managed reference runtime: baseline | optimized | FILE

    @field_validator("url")
    @classmethod
    def _http(cls, value: str | None) -> str | None:
        if value is not None:
            base_url(value, "")  # http(s), a host, no user info, not ending in /v1 (EgressError)
        return value

    @field_validator("health_path")
    @classmethod
    def _health_path(cls, value: str) -> str:
        return check_path(value, "")


class MixItem(Strict):
    operation: str | None = None
    name: str | None = None
    method: Literal["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"] | None = None
    path: str | None = None
    json_body: Any = Field(default=None, alias="json")
    headers: dict[str, str] = Field(default_factory=dict)
    expect_status: list[int] | int | None = None
    weight: float = Field(default=1.0, gt=0)
    target_ms: Duration | None = None  # response-time target (seconds here; ms in summaries)

    @field_validator("path")
    @classmethod
    def _path(cls, value: str | None) -> str | None:
        return check_path(value, "") if value is not None else None

    @model_validator(mode="after")
    def _kind(self) -> MixItem:
        if self.operation is not None:
            if self.operation not in NAMED_OPERATIONS:
                known = ", ".join(NAMED_OPERATIONS)
                raise ValueError(f"unknown operation {self.operation!r} (known: {known})")
            if self.path is not None or self.method is not None:
                raise ValueError("a named `operation` takes no `path`/`method` (use a plain request)")
        elif self.name is None or self.path is None:
            raise ValueError("a mix item needs `operation`, or `name` + `path` for a plain request")
        if self.name is not None and not _NAME.match(self.name):
            raise ValueError("`name` must be letters, digits, _ . - (max 80)")
        return self

    @property
    def label(self) -> str:
        return self.name or self.operation or "?"


class SetupStep(Strict):
    name: str
    method: Literal["GET", "POST", "PUT", "PATCH", "DELETE"] = "POST"
    path: str
    json_body: Any = Field(default=None, alias="json")
    headers: dict[str, str] = Field(default_factory=dict)
    expect_status: list[int] | int | None = None
    save: dict[str, str] = Field(default_factory=dict)  # context variable -> dotted path in the JSON

    @field_validator("path")
    @classmethod
    def _path(cls, value: str) -> str:
        return check_path(value, "")


class Monitor(Strict):
    enabled: bool = True
    interval: Duration = Field(default=1.0, gt=0)
    pids: list[int] = Field(default_factory=list)
    process_names: list[str] = Field(default_factory=list)
    metrics_url: str | None = None  # default: <target>/v1/metrics/prometheus for the reference runtime

    @field_validator("metrics_url")
    @classmethod
    def _http(cls, value: str | None) -> str | None:
        if value is not None:
            parse_url(value, "")
        return value


class Profile(Strict):
    cpu: bool = False
    memory: bool = False
    scalene: bool = False
    rate: int = Field(default=100, ge=1, le=10_000)
    gil: bool = False
    idle: bool = False
    native: bool = False
    subprocesses: bool = (
        False  # py-spy --subprocesses: costs ~6% of a core scanning /proc; on for multi-worker targets
    )
    memory_native: bool = False
    memory_temporal: bool = False  # full memray capture: + temporal flamegraph, slow reports
    memory_duration: Duration | None = None  # memory pass length (default: min(scenario, 60 s))


def _check_expect_value(key: str, value: Any) -> None:
    if key in ("error_rate", "dropped_rate"):
        parse_fraction(value)
    elif key == "min_rate":
        if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
            raise ValueError(f"{key}: expected a rate in req/s")
    else:
        parse_duration(value)


class Scenario(Strict):
    name: str
    description: str = ""
    kind: RunKind | None = None  # which checklist rules apply; None: inferred (harness.scenario.kinds)
    tags: dict[str, str] = Field(default_factory=dict)
    target: Target = Field(default_factory=Target)
    load: Load
    mix: list[MixItem] = Field(min_length=1)
    setup: list[SetupStep] | None = None  # None: the default Mother Box setup when needed
    expect: dict[str, dict[str, Any]] = Field(default_factory=dict)
    gates: list[str] = Field(default_factory=list)
    monitor: Monitor = Field(default_factory=Monitor)
    profile: Profile = Field(default_factory=Profile)

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not _NAME.match(value):
            raise ValueError("name must be letters, digits, _ . - (max 80)")
        return value

    @field_validator("gates")
    @classmethod
    def _gates(cls, value: list[str]) -> list[str]:
        for rule in value:
            if not rule.strip():
                raise ValueError("empty gate rule")
        return value


def semantic_errors(scenario: Scenario) -> list[tuple[tuple[str | int, ...], str]]:
    """Cross-field checks, with the exact path of the offending value (for line numbers)."""
    errors: list[tuple[tuple[str | int, ...], str]] = []
    labels = [item.label for item in scenario.mix]
    for index, label in enumerate(labels):
        if labels.index(label) != index:
            errors.append(
                (("mix", index), f"duplicate operation name {label!r} (give plain requests a name)")
            )
    for scope, metrics in scenario.expect.items():
        if scope != "overall" and scope not in labels:
            errors.append((("expect", scope), "not an operation of the mix (or `overall`)"))
        if not isinstance(metrics, dict):
            errors.append((("expect", scope), "expected a mapping of metric: threshold"))
            continue
        for key, value in metrics.items():
            if key not in EXPECT_KEYS:
                errors.append((("expect", scope, key), f"unknown metric (known: {', '.join(EXPECT_KEYS)})"))
                continue
            try:
                _check_expect_value(key, value)
            except ValueError as exc:
                errors.append((("expect", scope, key), str(exc)))
    errors.extend(_gate_errors(scenario.gates))
    errors.extend(_egress_errors(scenario))
    return errors


def _egress_errors(scenario: Scenario) -> list[tuple[tuple[str | int, ...], str]]:
    """A metrics URL is on loopback or on the target's own host (whose use `harness run` checks
    against --allow-remote): refused here, before anything connects (harness.contract.egress)."""
    url = scenario.monitor.metrics_url
    if url is None:
        return []
    host = (urlsplit(url).hostname or "").lower()
    target = scenario.target.url
    if is_loopback_host(host) or (target is not None and (urlsplit(target).hostname or "").lower() == host):
        return []
    message = (
        f"refusing non-loopback host {host!r}: only loopback, or target.url's host (with --allow-remote)"
    )
    return [(("monitor", "metrics_url"), message)]


def _gate_errors(gates: list[str]) -> list[tuple[tuple[str | int, ...], str]]:
    """Gate rules in the verdict stage's rule grammar (harness.verdict.rules, a leaf module)."""
    errors: list[tuple[tuple[str | int, ...], str]] = []
    for index, rule in enumerate(gates):
        try:
            parse_rule(rule)
        except RuleError as exc:
            errors.append((("gates", index), f"bad gate rule {rule!r}: {exc}"))
    return errors
