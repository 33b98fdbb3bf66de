"""Runtime settings: CLI > environment (``MOTHERBOX_*``) > YAML file > defaults.

Defaults come from the performance-optimization guide (pool sizes, batch rules, cache layers,
archival tiers). Two ready profiles ship in ``reference_runtime/config/``: ``baseline.yaml``
(every optimization off) and ``optimized.yaml`` (all on, the default).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import orjson
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from .jsonlimits import DEFAULT_MAX_JSON_DEPTH, MAX_JSON_DEPTH_LIMIT
from .webhooks.policy import EVENTS, SECRET_MAX, SECRET_MIN, check_destination

PROFILE_DIR = Path(__file__).parent / "config"
PROFILES = ("baseline", "optimized")
ENV_PREFIX = "MOTHERBOX_"
#: Set by ``serve`` so uvicorn worker processes rebuild the exact same settings.
SETTINGS_ENV = "MOTHERBOX_RESOLVED_SETTINGS"


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class Switches(_Section):
    """The guide's optimizations; each one is real code that can be turned off."""

    parallel_creation: bool = True
    templates: bool = True
    batching: bool = True
    caching: bool = True
    pooling: bool = True
    precomputed_decisions: bool = True
    early_termination: bool = True
    indexes: bool = True


SWITCH_NAMES: tuple[str, ...] = tuple(Switches.model_fields)
#: Top-level settings that have their own CLI flag.
API_FIELDS = ("host", "port", "state_dir", "model_url", "workers", "api_key")


class GcSettings(_Section):
    """Garbage-collector knobs (reference_runtime/gctuning.py); CPython's defaults unless set."""

    freeze_after_start: bool = False
    gen0_threshold: int = Field(default=700, ge=100, le=1_000_000)


class ModelBackendSettings(_Section):
    """The simulated model service (also used when ``serve`` starts it as a child)."""

    latency_median_ms: float = 40.0
    latency_p99_ms: float = 250.0
    cpu_ms_per_call: float = 0.5
    error_rate: float = Field(default=0.0, ge=0.0, le=1.0)
    response_bytes: int = Field(default=1024, ge=16, le=1_048_576)
    seed: int | None = None


class ModelClientSettings(_Section):
    timeout_s: float = 10.0
    connect_timeout_s: float = 2.0
    max_attempts: int = Field(default=3, ge=1, le=3)
    backoff_initial_s: float = 0.05
    backoff_max_s: float = 1.0
    connections_per_service: int = 10
    breaker_failure_threshold: int = 5  # consecutive failed attempts
    breaker_failure_ratio: float = 0.4  # or this share of the last `breaker_window` attempts
    breaker_window: int = 20
    breaker_reset_s: float = 5.0


#: The drivers the store supports (SQLAlchemy async dialects).
DATABASE_URL_PREFIXES = ("sqlite+aiosqlite://", "postgresql+asyncpg://")


class DatabaseSettings(_Section):
    #: Default: sqlite+aiosqlite in the state folder; PostgreSQL: postgresql+asyncpg://... (the
    #: ``postgres`` extra). Also ``--database-url`` and ``$MOTHERBOX_DATABASE_URL``.
    url: str | None = None
    pool_min: int = 5
    pool_max: int = 20
    idle_timeout_s: float = 300.0
    slow_query_ms: float = 100.0
    group_commit_max_batch: int = 512

    @field_validator("url")
    @classmethod
    def _supported_driver(cls, url: str | None) -> str | None:
        if url and not url.startswith(DATABASE_URL_PREFIXES):
            raise ValueError(f"database.url must start with one of {', '.join(DATABASE_URL_PREFIXES)}")
        return url


class BatchingSettings(_Section):
    status_batch_size: int = 10
    status_max_wait_ms: float = 100.0
    metrics_batch_size: int = 100
    metrics_max_wait_ms: float = 1000.0


class CacheSettings(_Section):
    l1_bytes: int = 10 * 1024 * 1024
    l1_ttl_s: float = 300.0
    l2_bytes: int = 100 * 1024 * 1024
    l2_ttl_s: float = 3600.0
    l3_bytes: int = 1024 * 1024 * 1024
    l3_ttl_s: float = 86400.0


class AgentSettings(_Section):
    mailbox_capacity: int = Field(default=1000, ge=1)
    concurrency: int = Field(default=8, ge=1, le=256)
    retry_after_s: int = 1
    inter_agent_pool_size: int = 50
    inter_agent_health_check_s: float = 30.0
    history_window: int = 200


class HandoffSettings(_Section):
    ack_timeout_s: float = 30.0
    retry_attempts: int = 3
    retry_interval_s: float = 10.0
    loop_threshold: int = 3


class WorkflowSettings(_Section):
    max_parallel: int = 5


class DecisionSettings(_Section):
    refresh_interval_s: float = 86400.0
    confidence_threshold: float = 0.95


class ArchiveSettings(_Section):
    hot_days: float = 7
    warm_days: float = 30
    cold_days: float = 365
    batch_size: int = Field(default=10_000, ge=1)
    interval_s: float = 86400.0  # the full pass (daily at 02:00 UTC with the default)
    enabled: bool = True
    #: How often the size and age triggers are checked between full passes (0 = never).
    check_interval_s: float = Field(default=60.0, ge=0)
    #: Size trigger: live database bytes above this move the oldest finished rows out of the
    #: database (to cold files) until it is back under 90% of it (0 = off; SQLite only).
    max_db_bytes: int = Field(default=1024**3, ge=0)
    #: Age trigger: a pass runs as soon as a row is this much older than its tier's limit
    #: (``hot_days`` / ``warm_days``), not at the next daily run.
    max_overdue_s: float = Field(default=3600.0, ge=0)


class ServerSettings(_Section):
    """Connection hygiene (nginx's ``client_header_timeout`` / ``keepalive_timeout`` analogues)."""

    #: A request's headers must arrive within this many seconds of its first byte (or of the
    #: connection opening); otherwise 408 and the connection is closed (slowloris).
    header_timeout_s: float = Field(default=10.0, gt=0)
    #: An idle keep-alive connection is closed after this many seconds (uvicorn
    #: ``timeout_keep_alive``, whole seconds).
    keep_alive_timeout_s: int = Field(default=5, ge=1)
    #: Open connections per process; a request on a connection beyond this gets 503 with
    #: ``Retry-After`` and the connection is closed.
    max_connections: int = Field(default=2048, ge=1)
    retry_after_s: int = Field(default=1, ge=1)


class WebhookSubscriptionSettings(_Section):
    """One receiver from the config file (``webhooks.subscriptions``)."""

    url: str
    secret: str = Field(min_length=SECRET_MIN, max_length=SECRET_MAX, repr=False)
    events: list[str] = Field(default_factory=lambda: list(EVENTS), min_length=1)

    @model_validator(mode="after")
    def _known_events(self) -> WebhookSubscriptionSettings:
        unknown = sorted(set(self.events) - set(EVENTS))
        if unknown:
            raise ValueError(f"events: unknown {unknown}; known: {list(EVENTS)}")
        return self


class WebhookSettings(_Section):
    """The spec's webhooks (docs/runtime.md, Webhooks): outbox, delivery, retries."""

    #: A validation error must not print the input: it holds the secrets.
    model_config = ConfigDict(extra="forbid", validate_assignment=True, hide_input_in_errors=True)
    #: Destinations must be loopback (127.0.0.0/8, ::1, localhost) unless this is true.
    allow_remote: bool = False
    subscriptions: list[WebhookSubscriptionSettings] = Field(default_factory=list)
    #: Delivery attempts per event (then it is kept as ``dead``), exponential backoff between.
    max_attempts: int = Field(default=6, ge=1, le=20)
    backoff_initial_s: float = Field(default=0.5, gt=0, le=60)
    backoff_max_s: float = Field(default=30.0, gt=0, le=3600)
    timeout_s: float = Field(default=5.0, gt=0, le=60)
    #: Rows the outbox may hold (pending + dead); a full outbox drops new events and says so.
    max_outbox_rows: int = Field(default=10_000, ge=1)
    #: How often the dispatcher looks for committed rows it was not woken for.
    poll_interval_s: float = Field(default=1.0, gt=0, le=60)

    @model_validator(mode="after")
    def _destinations(self) -> WebhookSettings:
        for i, sub in enumerate(self.subscriptions):
            problem = check_destination(sub.url, self.allow_remote)
            if problem is not None:
                raise ValueError(f"subscriptions[{i}].url: {problem}")
        return self


class Settings(_Section):
    #: A validation error names the field, never echoes the input: it may hold secrets
    #: (``api_key``, ``webhooks.subscriptions[].secret``).
    model_config = ConfigDict(extra="forbid", validate_assignment=True, hide_input_in_errors=True)

    host: str = "127.0.0.1"
    port: int = 8080
    workers: int = 1
    state_dir: Path = Path(".state")
    model_url: str | None = None
    api_key: str | None = None
    profile: str = "optimized"
    max_body_bytes: int = 1024 * 1024
    #: Deepest JSON nesting accepted in a request body (400 beyond); capped so that anything
    #: accepted can be serialized again inside the runtime's own envelopes.
    max_json_depth: int = Field(default=DEFAULT_MAX_JSON_DEPTH, ge=2, le=MAX_JSON_DEPTH_LIMIT)
    server: ServerSettings = Field(default_factory=ServerSettings)
    switches: Switches = Field(default_factory=Switches)
    model_backend: ModelBackendSettings = Field(default_factory=ModelBackendSettings)
    model_client: ModelClientSettings = Field(default_factory=ModelClientSettings)
    database: DatabaseSettings = Field(default_factory=DatabaseSettings)
    batching: BatchingSettings = Field(default_factory=BatchingSettings)
    cache: CacheSettings = Field(default_factory=CacheSettings)
    agents: AgentSettings = Field(default_factory=AgentSettings)
    handoff: HandoffSettings = Field(default_factory=HandoffSettings)
    workflows: WorkflowSettings = Field(default_factory=WorkflowSettings)
    decisions: DecisionSettings = Field(default_factory=DecisionSettings)
    archive: ArchiveSettings = Field(default_factory=ArchiveSettings)
    webhooks: WebhookSettings = Field(default_factory=WebhookSettings)
    gc: GcSettings = Field(default_factory=GcSettings)
    faults: dict[str, Any] = Field(default_factory=dict)

    def db_url(self) -> str:
        if self.database.url:
            return self.database.url
        return f"sqlite+aiosqlite:///{(self.state_dir / 'motherbox.db').resolve()}"


def resolve_profile_path(config: str | None) -> Path | None:
    """``baseline``/``optimized`` name a shipped profile; anything else is a file path."""
    if config is None:
        return None
    if config in PROFILES:
        return PROFILE_DIR / f"{config}.yaml"
    return Path(config)


def _deep_merge(base: dict[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), dict):
            out[key] = _deep_merge(out[key], value)
        else:
            out[key] = value
    return out


def _parse_scalar(raw: str) -> Any:
    """Env values are YAML scalars so ``true``/``0.5``/``[1,2]`` keep their types."""
    try:
        return yaml.safe_load(raw)
    except yaml.YAMLError:
        return raw


def env_overrides(environ: Mapping[str, str]) -> dict[str, Any]:
    """``MOTHERBOX_PORT=1``, ``MOTHERBOX_CACHING=false`` (switch shortcut),
    ``MOTHERBOX_MODEL_BACKEND__ERROR_RATE=0.5`` (nested with ``__``)."""
    out: dict[str, Any] = {}
    for name, raw in environ.items():
        if not name.startswith(ENV_PREFIX) or name == SETTINGS_ENV:
            continue
        key = name[len(ENV_PREFIX) :].lower()
        if key == "config":
            continue
        if key in SWITCH_NAMES:
            out = _deep_merge(out, {"switches": {key: _parse_scalar(raw)}})
            continue
        if key == "database_url":  # MOTHERBOX_DATABASE_URL, the name the tests and demo use
            out = _deep_merge(out, {"database": {"url": raw}})
            continue
        parts = key.split("__")
        if parts[0] not in Settings.model_fields:
            continue
        value: Any = raw if parts[-1] in {"api_key", "url", "model_url", "state_dir"} else _parse_scalar(raw)
        for part in reversed(parts[1:]):
            value = {part: value}
        out = _deep_merge(out, {parts[0]: value})
    return out


class ConfigError(ValueError):
    """A config file, environment variable or ``--set`` that cannot be used: one line, no input echoed."""


def load_yaml(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror or exc}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f":{mark.line + 1}" if mark is not None else ""
        raise ConfigError(f"{path}{where}: not valid YAML: {getattr(exc, 'problem', None) or exc}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: top level must be a mapping")
    return data


def _validation_line(source: str, exc: ValidationError) -> str:
    """The first error as ``source: field.path: message`` (the value itself may be a secret)."""
    first = exc.errors(include_input=False)[0]
    field = ".".join(str(part) for part in first["loc"]) or "(top level)"
    more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
    return f"{source}: {field}: {first['msg']}{more}"


def load_settings(
    config: str | None = None,
    cli: Mapping[str, Any] | None = None,
    environ: Mapping[str, str] | None = None,
) -> Settings:
    """Build settings with precedence CLI > env > YAML > defaults."""
    env = os.environ if environ is None else environ
    config = config or env.get(f"{ENV_PREFIX}CONFIG") or "optimized"
    path = resolve_profile_path(config)
    merged: dict[str, Any] = {}
    if path is not None:
        merged = load_yaml(path)
        merged.setdefault("profile", config if config in PROFILES else path.stem)
    merged = _deep_merge(merged, env_overrides(env))
    merged = _deep_merge(merged, dict(cli or {}))
    try:
        return Settings.model_validate(merged)
    except ValidationError as exc:
        source = f"config {path}" if path is not None else "settings"
        raise ConfigError(_validation_line(f"{source} (with env/--set overrides)", exc)) from None


def dump_settings(settings: Settings) -> str:
    return orjson.dumps(settings.model_dump(mode="json")).decode()


def settings_from_env() -> Settings:
    """Used by uvicorn worker processes (``--workers N``)."""
    raw = os.environ.get(SETTINGS_ENV)
    if raw:
        return Settings.model_validate(orjson.loads(raw))
    return load_settings()


def parse_assignment(text: str) -> dict[str, Any]:
    """``--set model_backend.error_rate=0.5`` becomes a nested override."""
    if "=" not in text:
        raise ConfigError(f"--set expects key=value, got {text!r}")
    dotted, raw = text.split("=", 1)
    value: Any = _parse_scalar(raw)
    for part in reversed(dotted.strip().split(".")):
        value = {part: value}
    assert isinstance(value, dict)
    return value
