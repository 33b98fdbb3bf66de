"""Glue between the runtime and the observability / fault-injection components.

- :func:`normalize_faults` accepts the documented request shapes of ``POST /v1/admin/faults``
  (``{"cpu_hog": {"enabled": true, "ms": 5}, "memory_leak": {"bytes_per_request": 65536},
  "model_latency_ms": 200, "db_latency_ms": 50, "model_error_rate": 0.5,
  "slowdown": {"path": "think", "percent": 10}, "stall": {"ms": 1000, "every_s": 10},
  "cpu_per_request": {"percent": 5}}``) as well
  as the native :class:`reference_runtime.faults.FaultSettings` shape, and returns the native one.
- :class:`Telemetry` owns the per-app Prometheus registry: the metric set from
  ``observability.create_metrics`` plus switch/fault gauges, the agent count and the database
  size, and refreshes scrape-time values.

The database size (``motherbox_database_bytes``) is exported so a monitor needs no database
credentials: SQLite's main file plus its ``-wal`` file, read at scrape time; PostgreSQL's
``pg_database_size(current_database())``, queried in the background at most every
:data:`PG_SIZE_EVERY_S` seconds (the gauge shows the last answer, absent until the first).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import text

from .agents.registry import Registry
from .bus import ChannelPool
from .config import SWITCH_NAMES, Switches
from .decisions import Decision
from .faults import FaultConfigError, FaultInjector
from .model_client import ModelClient
from .observability import RuntimeMetrics, create_metrics, render
from .store import Store
from .store.sqlite_writer import sqlite_path

log = logging.getLogger(__name__)
#: PostgreSQL's size is a query: asked at most this often, never on the scrape's own path.
PG_SIZE_EVERY_S = 5.0
_FAULT_KEYS = (
    "db_latency",
    "model_latency",
    "model_error_rate",
    "slowdown",
    "leak_bytes_per_request",
    "cpu_hog",
    "cpu_per_request",
    "stall",
)


_GAUGED_FAULTS = (
    "db_latency",
    "model_latency",
    "model_error_rate",
    "memory_leak",
    "cpu_hog",
    "cpu_per_request",
    "stall",
)


def _latency(value: Any, name: str) -> dict[str, Any]:
    if isinstance(value, bool) or not isinstance(value, int | float | dict):
        raise FaultConfigError(f"invalid faults: {name} must be a number of ms or an object", name)
    return {"fixed_ms": float(value)} if isinstance(value, int | float) else dict(value)


def _enabled(spec: dict[str, Any], name: str) -> bool:
    flag = spec.pop("enabled", True)
    if not isinstance(flag, bool):
        raise FaultConfigError(f"invalid faults: {name}.enabled must be a boolean", f"{name}.enabled")
    return flag


def normalize_faults(data: Mapping[str, Any]) -> dict[str, Any]:
    """Map the documented aliases onto FaultSettings keys; unknown keys are an error."""
    out: dict[str, Any] = {}
    for key, value in data.items():
        if key in ("model_latency_ms", "db_latency_ms"):
            out[key.removesuffix("_ms")] = _latency(value, key)
        elif key in ("model_latency", "db_latency"):
            out[key] = _latency(value, key)
        elif key == "memory_leak":
            spec = dict(value) if isinstance(value, dict) else {"bytes_per_request": value}
            on = _enabled(spec, key)
            out["leak_bytes_per_request"] = spec.get("bytes_per_request", 0) if on else 0
        elif key in ("cpu_hog", "stall") and isinstance(value, dict):
            spec = dict(value)
            out[key] = spec if _enabled(spec, key) else {}
        elif key == "cpu_per_request" and isinstance(value, dict):
            spec = dict(value)
            out[key] = spec if _enabled(spec, key) else None
        elif key == "slowdown" and isinstance(value, dict) and "path" in value:
            spec = dict(value)
            on = _enabled(spec, key)
            out["slowdown"] = {str(spec["path"]): spec.get("percent", 0) if on else 0}
        elif key in _FAULT_KEYS:
            out[key] = value
        else:
            raise FaultConfigError(f"invalid faults: unknown fault {key!r}", str(key))
    return out


@dataclass(frozen=True)
class ScrapeSources:
    """Objects whose state is read at scrape time (one source of truth, nothing kept in sync)."""

    registry: Registry
    store: Store
    model: ModelClient
    channels: ChannelPool
    faults: FaultInjector


class Telemetry:
    """Per-app registry (not the global one, so tests can run several apps in one process)."""

    def __init__(self, switches: Switches, sources: ScrapeSources) -> None:
        self.sources = sources
        self.registry = CollectorRegistry()
        self.metrics: RuntimeMetrics = create_metrics(self.registry)
        r = self.registry
        self.switch_enabled = Gauge(
            "motherbox_switch_enabled", "Optimization switch state (1 = on)", ["switch"], registry=r
        )
        for name in SWITCH_NAMES:
            self.switch_enabled.labels(name).set(1 if getattr(switches, name) else 0)
        self.fault_active = Gauge(
            "motherbox_fault_active", "Injected fault active (1 = on)", ["fault"], registry=r
        )
        self.decisions = Counter("motherbox_decisions", "Routing decisions by source", ["source"], registry=r)
        self.decision_rules = Counter("motherbox_decision_rules_examined", "Rules evaluated", registry=r)
        self.model_cache = Counter("motherbox_command_cache", "Command results served from cache", registry=r)
        self.channels_opened = Gauge("motherbox_inter_agent_channels_opened", "Channels opened", registry=r)
        self.db_connections_opened = Gauge(
            "motherbox_db_connections_opened", "DB connections opened", registry=r
        )
        self.model_clients_opened = Gauge(
            "motherbox_model_clients_opened", "Model HTTP clients opened", registry=r
        )
        self.agents = Gauge("motherbox_agents", "Agents registered (running) in this runtime", registry=r)
        self.database_size = DatabaseSize(sources.store)
        r.register(self.database_size)  # absent until known: never a made-up 0
        self._db_waits_seen = 0
        self._model_waits_seen = 0

    def count_decision(self, decision: Decision) -> None:
        self.decisions.labels(decision.source).inc()
        if decision.rules_examined:
            self.decision_rules.inc(decision.rules_examined)

    def render(self) -> tuple[bytes, str]:
        self.refresh()
        return render(self.registry)

    def refresh(self) -> None:
        """Scrape-time values: queue depths, pools, faults, counters kept elsewhere."""
        m = self.metrics
        src = self.sources
        m.set_queue_depths(src.registry.depths())
        in_use, idle = src.store.pool_status()
        m.set_pool("db", in_use, idle)
        m.set_pool("model", src.model.pool_in_use(), src.model.pool_idle())
        m.set_pool("inter_agent", src.channels.in_use, src.channels.idle)
        self._sync_waits()
        active = set(src.faults.settings.active_names())
        for name in _GAUGED_FAULTS:
            self.fault_active.labels(name).set(1 if name in active else 0)
        for name in active:
            if name.startswith("slowdown:"):
                self.fault_active.labels(name).set(1)
        self.channels_opened.set(src.channels.opened)
        self.db_connections_opened.set(src.store.stats.connections_opened)
        self.model_clients_opened.set(src.model.clients_opened)
        m.set_breaker_state(src.model.breaker.state)
        self.agents.set(len(src.registry))

    def _sync_waits(self) -> None:
        """Pool waits are counted by the pools themselves; the counter gets the increase."""
        db_waits = self.sources.store.stats.pool_waits
        if db_waits > self._db_waits_seen:
            self.metrics.pool_wait("db", db_waits - self._db_waits_seen)
            self._db_waits_seen = db_waits
        model_waits = self.sources.model.pool_waits
        if model_waits > self._model_waits_seen:
            self.metrics.pool_wait("model", model_waits - self._model_waits_seen)
            self._model_waits_seen = model_waits


class DatabaseSize(Collector):
    """``motherbox_database_bytes``: SQLite's file + WAL (stat at scrape time), or PostgreSQL's
    database size (the last background answer); no series while the size is unknown."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.path = sqlite_path(store.url)
        self.last: int | None = None
        self._asked_at = -PG_SIZE_EVERY_S
        self._task: asyncio.Task[None] | None = None

    def collect(self) -> Iterable[Metric]:
        size = self.read()
        if size is not None:
            yield GaugeMetricFamily(
                "motherbox_database_bytes", "Size of the database on disk (SQLite: file + WAL)", value=size
            )

    def read(self) -> int | None:
        """The size now (SQLite) or the last PostgreSQL answer; None when unknown."""
        if self.path is not None:
            return _sqlite_bytes(self.path)
        if self.store.dialect == "postgresql":
            self._ask_postgres()
        return self.last

    def _ask_postgres(self) -> None:
        now = time.monotonic()
        if (self._task is not None and not self._task.done()) or now - self._asked_at < PG_SIZE_EVERY_S:
            return
        with contextlib.suppress(RuntimeError):  # no running loop (a synchronous caller): skip
            self._task = asyncio.get_running_loop().create_task(self._query_postgres())
            self._asked_at = now

    async def _query_postgres(self) -> None:
        try:
            async with self.store.engine.connect() as conn:
                result = await conn.execute(text("SELECT pg_database_size(current_database())"))
                self.last = int(result.scalar_one())
        except Exception as exc:  # a metric must never break the scrape; say why once per failure
            log.warning("database size not measured: %s", exc)


def _sqlite_bytes(path: Path) -> int | None:
    total, found = 0, False
    for part in (path, path.with_name(path.name + "-wal")):
        with contextlib.suppress(OSError):
            total += part.stat().st_size
            found = True
    return total if found else None
