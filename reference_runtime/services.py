"""The runtime's services, built once and wired together (the composition root's first half).

``build_services`` creates the store, repo, model client, registry, bus, faults, telemetry,
cache, decision engine and batchers, and connects their hooks (metrics, fault injection, cache
invalidation). ``Runtime`` then hands each collaborator only the services it uses.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass

from .agents.registry import Registry
from .agents.team import TeamDefinition, load_team
from .batching import Batcher, BatchPolicy
from .bus import Bus, ChannelPool
from .cache import CacheConfig, LayeredCache, default_cache_dir
from .config import Settings
from .decisions import DecisionEngine, default_engine
from .faults import FaultInjector
from .model_client import ModelClient
from .observability import RuntimeMetrics
from .store import Repo, Store, WriteOp
from .tasks import BackgroundTasks
from .telemetry import ScrapeSources, Telemetry, normalize_faults

#: (method, route template, status, seconds) of one HTTP request.
RequestObservation = tuple[str, str, int, float]


@dataclass(frozen=True)
class Services:
    settings: Settings
    owner: str  # "<pid>:<random>": marks the executions this process is responsible for
    store: Store
    repo: Repo
    model: ModelClient
    registry: Registry
    channels: ChannelPool
    bus: Bus
    faults: FaultInjector
    telemetry: Telemetry
    cache: LayeredCache
    decisions: DecisionEngine
    status_batcher: Batcher[WriteOp]
    metrics_batcher: Batcher[RequestObservation]
    team: TeamDefinition
    tasks: BackgroundTasks

    @property
    def metrics(self) -> RuntimeMetrics:
        return self.telemetry.metrics

    def observe_request(self, method: str, route: str, status: int, secs: float) -> None:
        if self.settings.switches.batching:
            self.metrics_batcher.put_nowait((method, route, status, secs))
        else:
            self.metrics.observe_request(method, route, status, secs)


def build_services(settings: Settings, model_url: str) -> Services:
    sw = settings.switches
    ag = settings.agents
    store = _store(settings)
    model = ModelClient(model_url, settings.model_client, pooling=sw.pooling)
    registry = Registry(ag.mailbox_capacity)
    channels = ChannelPool(ag.inter_agent_pool_size, sw.pooling, ag.inter_agent_health_check_s)
    faults = FaultInjector(normalize_faults(settings.faults))
    telemetry = Telemetry(sw, ScrapeSources(registry, store, model, channels, faults))
    cache_config = CacheConfig.from_settings(
        settings.cache, enabled=sw.caching, l3_dir=default_cache_dir(settings.state_dir)
    )
    services = Services(
        settings=settings,
        owner=f"{os.getpid()}:{secrets.token_hex(4)}",
        store=store,
        repo=Repo(store),
        model=model,
        registry=registry,
        channels=channels,
        bus=Bus(registry, channels),
        faults=faults,
        telemetry=telemetry,
        cache=LayeredCache(cache_config),
        decisions=default_engine(
            precomputed=sw.precomputed_decisions,
            early_termination=sw.early_termination,
            confidence_threshold=settings.decisions.confidence_threshold,
        ),
        status_batcher=_status_batcher(settings, store, telemetry.metrics),
        metrics_batcher=_metrics_batcher(settings, telemetry.metrics),
        team=load_team(),
        tasks=BackgroundTasks(),
    )
    _wire_hooks(services)
    return services


def _store(settings: Settings) -> Store:
    sw = settings.switches
    db = settings.database
    return Store(
        settings.db_url(),
        pooling=sw.pooling,
        group_commit=sw.batching,
        indexes=sw.indexes,
        pool_min=db.pool_min,
        pool_max=db.pool_max,
        idle_timeout_s=db.idle_timeout_s,
        max_batch=db.group_commit_max_batch,
    )


def _status_batcher(settings: Settings, store: Store, metrics: RuntimeMetrics) -> Batcher[WriteOp]:
    async def flush(ops: list[WriteOp]) -> None:
        store.write_nowait(*ops)  # one batch reaches the group-commit writer as one transaction

    b = settings.batching
    return Batcher(
        flush,
        BatchPolicy(b.status_batch_size, b.status_max_wait_ms / 1000),
        enabled=settings.switches.batching,
        name="status",
        on_flush=lambda n: metrics.record_batch("status", n),
    )


def _metrics_batcher(settings: Settings, metrics: RuntimeMetrics) -> Batcher[RequestObservation]:
    async def flush(items: list[RequestObservation]) -> None:
        observe = metrics.observe_request
        for method, route, status, secs in items:
            observe(method, route, status, secs)

    b = settings.batching
    return Batcher(
        flush,
        BatchPolicy(b.metrics_batch_size, b.metrics_max_wait_ms / 1000),
        enabled=True,
        name="metrics",
        on_flush=lambda n: metrics.record_batch("metrics", n),
    )


def _wire_hooks(s: Services) -> None:
    m = s.metrics
    m.slow_query_seconds = s.settings.database.slow_query_ms / 1000
    s.store.query_observer = lambda secs, stmt: m.observe_db_query(stmt, secs)
    s.store.delay_hook = s.faults.add_db_latency
    s.store.on_batch = lambda n: m.record_batch("db_writes", n)
    s.model.around_attempt = s.faults.around_model
    s.model.on_call = lambda secs, err, retries: m.record_model_call(secs, error=err, retries=retries)
    s.model.breaker.on_change = m.set_breaker_state
    s.repo.on_change = s.cache.on_record_changed  # event-based invalidation by record tag
    m.bind_cache_stats(lambda: s.cache.stats().layers)
    m.accounting.add_memory_source("cache", s.cache.bytes_by_agent)
    m.accounting.add_memory_source("mailbox", lambda: {a.id: a.mailbox.bytes_held for a in s.registry})
