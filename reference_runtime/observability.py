"""Prometheus metrics for the reference runtime, plus measured per-agent CPU and memory.

Design
------
* :func:`create_metrics` builds every metric in a *given* ``CollectorRegistry`` (never the global
  one: tests run several apps in one process). :func:`render` turns a registry into the
  ``/v1/metrics/prometheus`` body.
* Event-style values (requests, DB queries, batches, model calls, handoffs, pool waits) are
  instruments the runtime updates on the hot path through small ``RuntimeMetrics`` methods.
* State owned by other objects (cache layer stats, bytes held per agent) is read at scrape time
  through callbacks (``bind_cache_stats``, ``AgentAccounting.add_memory_source``) so there is one
  source of truth and nothing to keep in sync.

Per-agent CPU accounting (how it is measured, and its limits)
------------------------------------------------------------
Under asyncio one thread runs every agent, so ``time.thread_time()`` deltas around
``await handler()`` would charge an agent for whatever *other* tasks ran while it was suspended.
:meth:`AgentAccounting.run` therefore drives the handler coroutine itself, step by step, and
reads ``time.thread_time()`` around each ``send()``/``throw()``: each step is exactly one
synchronous stretch between two awaits, executed on behalf of that agent. Nested accounted
calls (agent A awaiting agent B's handler) are charged exclusively: B's stretches are subtracted
from A's. Limits: CPU spent in other threads (``asyncio.to_thread``, the DB driver's thread, C
extensions releasing the GIL on another thread) and event-loop overhead (selectors, callbacks,
socket IO done by the loop) is not attributed to any agent; it stays in the process total.
Cost: two clock reads per step (well under a microsecond each on Linux).

Memory per agent is the bytes the agent *holds* in runtime structures – its L1 cache bytes and
its mailbox bytes (sizes accounted when items are stored, e.g. with :func:`payload_bytes`) –
reported by memory sources registered at wiring time. It is not a heap walk: Python objects
shared between agents are not split.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import time
from collections.abc import Awaitable, Callable, Coroutine, Generator, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

import orjson
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import generate_latest
from prometheus_client.registry import Collector

from .store.repo import AGENT_EVENT, PROJECT_EVENT

log = logging.getLogger(__name__)
T = TypeVar("T")

SLOW_QUERY_SECONDS = 0.1
TOTAL_LABEL = "__total__"
CACHE_LAYERS = ("l1", "l2", "l3")
POOLS = ("db", "model", "inter_agent")
BREAKER_STATES = {"closed": 0, "half_open": 1, "open": 2}

_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
_DB_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0)
_BATCH_BUCKETS = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000)


def payload_bytes(value: Any) -> int:
    """Bytes of a message/cache value as serialized JSON: the size used for accounting."""
    if isinstance(value, bytes | bytearray | memoryview):
        return len(value)
    if isinstance(value, str):
        return len(value.encode())
    return len(orjson.dumps(value, default=str))


class LayerCounts(Protocol):
    """What the cache stats callback must return per layer (cache.LayerStats satisfies it)."""

    @property
    def hits(self) -> int: ...
    @property
    def misses(self) -> int: ...
    @property
    def evictions(self) -> int: ...
    @property
    def bytes(self) -> int: ...


CacheStatsSource = Callable[[], Mapping[str, LayerCounts]]
MemorySource = Callable[[], Mapping[str, int]]


class AgentAccounting:
    """Measured per-agent CPU seconds (exclusive, per synchronous stretch) and held bytes."""

    def __init__(self, clock: Callable[[], float] = time.thread_time) -> None:
        self._clock = clock
        self.cpu_seconds: dict[str, float] = {}
        self._nested = 0.0  # CPU of inner accounted steps during the current outer step
        self._memory_sources: dict[str, MemorySource] = {}

    def _charge(self, agent_id: str, step: Callable[[], T]) -> T:
        saved, self._nested = self._nested, 0.0
        start = self._clock()
        try:
            return step()
        finally:
            elapsed = self._clock() - start
            own = max(elapsed - self._nested, 0.0)
            self.cpu_seconds[agent_id] = self.cpu_seconds.get(agent_id, 0.0) + own
            self._nested = saved + elapsed

    @contextlib.contextmanager
    def cpu(self, agent_id: str) -> Iterator[None]:
        """Charge a *synchronous* block (no awaits inside) to ``agent_id``."""
        saved, self._nested = self._nested, 0.0
        start = self._clock()
        try:
            yield
        finally:
            elapsed = self._clock() - start
            own = max(elapsed - self._nested, 0.0)
            self.cpu_seconds[agent_id] = self.cpu_seconds.get(agent_id, 0.0) + own
            self._nested = saved + elapsed

    async def run(self, agent_id: str, coro: Coroutine[Any, Any, T]) -> T:
        """Run an agent handler charging its CPU: ``await accounting.run("a1", handler(msg))``.

        Returns a real coroutine, so it also works with ``create_task`` / ``asyncio.run``.
        """
        return await _AccountedAwaitable(self, agent_id, coro)

    def add_memory_source(self, component: str, source: MemorySource) -> None:
        """Register e.g. ("cache", cache.bytes_by_agent) or ("mailbox", bus.bytes_by_agent)."""
        self._memory_sources[component] = source

    def memory_bytes(self) -> dict[str, dict[str, int]]:
        """agent -> component -> bytes, read from the sources now."""
        out: dict[str, dict[str, int]] = {}
        for component, source in self._memory_sources.items():
            for agent_id, nbytes in source().items():
                out.setdefault(agent_id, {})[component] = int(nbytes)
        return out


class _AccountedAwaitable(Awaitable[T]):
    """Drives the inner coroutine so every synchronous step is timed on its own."""

    def __init__(self, acc: AgentAccounting, agent_id: str, coro: Coroutine[Any, Any, T]) -> None:
        self._acc = acc
        self._agent = agent_id
        self._coro = coro

    def __await__(self) -> Generator[Any, Any, T]:
        coro = self._coro
        send_value: Any = None
        error: BaseException | None = None
        while True:
            try:
                if error is None:
                    yielded = self._acc._charge(self._agent, functools.partial(coro.send, send_value))
                else:
                    yielded = self._acc._charge(self._agent, functools.partial(coro.throw, error))
            except StopIteration as stop:
                return stop.value  # type: ignore[no-any-return]
            send_value, error = None, None
            try:
                send_value = yield yielded
            except GeneratorExit:
                coro.close()
                raise
            except BaseException as exc:  # cancellation etc.: forward into the handler
                error = exc


@dataclass(frozen=True)
class WebhookMetrics:
    """Webhook delivery (reference_runtime/webhooks): outcomes per event, and the outbox."""

    delivered: Counter  # acknowledged (2xx) deliveries
    failed: Counter  # events given up after the last attempt (kept as dead rows)
    retries: Counter  # attempts after the first
    dropped: Counter  # events not written because the outbox was full
    depth: Gauge  # outbox rows: pending + dead
    pending: Gauge
    full: Gauge  # 1 while the outbox is at its bound


def create_webhook_metrics(r: CollectorRegistry) -> WebhookMetrics:
    metrics = WebhookMetrics(
        delivered=Counter(
            "motherbox_webhook_delivered", "Webhook events delivered (2xx)", ["event"], registry=r
        ),
        failed=Counter(
            "motherbox_webhook_failed", "Webhook events dead after the last attempt", ["event"], registry=r
        ),
        retries=Counter("motherbox_webhook_retries", "Webhook delivery retries", ["event"], registry=r),
        dropped=Counter(
            "motherbox_webhook_dropped", "Webhook events dropped: outbox full", ["event"], registry=r
        ),
        depth=Gauge("motherbox_webhook_outbox_depth", "Webhook outbox rows (pending + dead)", registry=r),
        pending=Gauge(
            "motherbox_webhook_outbox_pending", "Webhook outbox rows awaiting delivery", registry=r
        ),
        full=Gauge("motherbox_webhook_outbox_full", "1 while the webhook outbox is full", registry=r),
    )
    for event in (PROJECT_EVENT, AGENT_EVENT):  # every series present from the first scrape
        for counter in (metrics.delivered, metrics.failed, metrics.retries, metrics.dropped):
            counter.labels(event)
    return metrics


@dataclass
class RuntimeMetrics:
    """All runtime metrics, bound to one registry. Methods are the hot-path entry points."""

    registry: CollectorRegistry
    accounting: AgentAccounting
    request_seconds: Histogram
    queue_depth: Gauge
    db_query_seconds: Histogram
    db_slow_queries: Counter
    pool_in_use: Gauge
    pool_idle: Gauge
    pool_waits: Counter
    batches_flushed: Counter
    batch_size: Histogram
    model_calls: Counter
    model_errors: Counter
    model_retries: Counter
    model_call_seconds: Histogram
    breaker_state: Gauge
    handoffs_initiated: Counter
    handoffs_acked: Counter
    handoffs_failed: Counter
    handoff_loops_broken: Counter
    webhooks: WebhookMetrics
    _scrape: _ScrapeCollector
    slow_query_seconds: float = SLOW_QUERY_SECONDS

    def observe_request(self, method: str, route: str, status: int, seconds: float) -> None:
        """``route`` must be the route template (``/v1/agents/{id}``), not the raw path."""
        self.request_seconds.labels(method, route, str(status)).observe(seconds)

    def set_queue_depths(self, depths: Mapping[str, int]) -> None:
        """Per-agent mailbox depth plus the ``__total__`` series."""
        for agent_id, depth in depths.items():
            self.queue_depth.labels(agent_id).set(depth)
        self.queue_depth.labels(TOTAL_LABEL).set(sum(depths.values()))

    def observe_db_query(self, statement: str, seconds: float) -> None:
        """Record one query; > 100 ms counts as slow and logs the statement at WARNING."""
        self.db_query_seconds.labels(_statement_kind(statement)).observe(seconds)
        if seconds > self.slow_query_seconds:
            self.db_slow_queries.inc()
            log.warning("slow query (%.1f ms): %s", seconds * 1000.0, _one_line(statement))

    def set_pool(self, pool: str, in_use: int, idle: int) -> None:
        self.pool_in_use.labels(pool).set(in_use)
        self.pool_idle.labels(pool).set(idle)

    def pool_wait(self, pool: str, n: int = 1) -> None:
        """Count ``n`` checkouts that had to wait because the pool was exhausted."""
        self.pool_waits.labels(pool).inc(n)

    def record_batch(self, kind: str, size: int) -> None:
        """Batcher ``on_flush`` hook: ``Batcher(..., on_flush=lambda n: m.record_batch("status", n))``."""
        self.batches_flushed.labels(kind).inc()
        self.batch_size.labels(kind).observe(size)

    def record_model_call(self, seconds: float, *, error: bool = False, retries: int = 0) -> None:
        self.model_calls.inc()
        self.model_call_seconds.observe(seconds)
        if error:
            self.model_errors.inc()
        if retries:
            self.model_retries.inc(retries)

    def record_handoff(self, event: str) -> None:
        """``initiated`` | ``acked`` | ``failed`` | ``loops_broken``."""
        counter = {
            "initiated": self.handoffs_initiated,
            "acked": self.handoffs_acked,
            "failed": self.handoffs_failed,
            "loops_broken": self.handoff_loops_broken,
        }[event]
        counter.inc()

    def forget_agent(self, agent_id: str) -> None:
        """A deleted agent must not leave per-agent series behind (bounded cardinality)."""
        with contextlib.suppress(KeyError):
            self.queue_depth.remove(agent_id)
        self.accounting.cpu_seconds.pop(agent_id, None)

    def set_breaker_state(self, state: str) -> None:
        """``closed`` = 0, ``half_open`` = 1, ``open`` = 2."""
        self.breaker_state.set(BREAKER_STATES[state])

    def bind_cache_stats(self, source: CacheStatsSource | None) -> None:
        """Scrape-time source of per-layer counts (e.g. ``lambda: cache.stats().layers``)."""
        self._scrape.cache_source = source


def _statement_kind(statement: str) -> str:
    head = statement.lstrip().split(None, 1)
    kind = head[0].lower() if head else "other"
    return kind if kind in {"select", "insert", "update", "delete"} else "other"


def _one_line(statement: str, limit: int = 500) -> str:
    flat = " ".join(statement.split())
    return flat if len(flat) <= limit else flat[:limit] + "..."


class _ScrapeCollector(Collector):
    """Reads cache stats and per-agent CPU/memory when the registry is scraped."""

    def __init__(self, accounting: AgentAccounting) -> None:
        self.accounting = accounting
        self.cache_source: CacheStatsSource | None = None

    def collect(self) -> Iterable[Metric]:
        yield from self._cache_metrics()
        yield from self._agent_metrics()

    def _cache_metrics(self) -> Iterable[Metric]:
        hits = CounterMetricFamily("motherbox_cache_hits", "Cache hits per layer", labels=["layer"])
        misses = CounterMetricFamily("motherbox_cache_misses", "Cache misses per layer", labels=["layer"])
        evictions = CounterMetricFamily(
            "motherbox_cache_evictions", "Cache evictions (LRU/size) per layer", labels=["layer"]
        )
        nbytes = GaugeMetricFamily("motherbox_cache_bytes", "Bytes held per cache layer", labels=["layer"])
        layers = dict(self.cache_source()) if self.cache_source else {}
        for layer in CACHE_LAYERS:
            st = layers.get(layer)
            hits.add_metric([layer], st.hits if st else 0)
            misses.add_metric([layer], st.misses if st else 0)
            evictions.add_metric([layer], st.evictions if st else 0)
            nbytes.add_metric([layer], st.bytes if st else 0)
        yield from (hits, misses, evictions, nbytes)

    def _agent_metrics(self) -> Iterable[Metric]:
        cpu = CounterMetricFamily(
            "motherbox_agent_cpu_seconds", "CPU seconds measured in each agent's handlers", labels=["agent"]
        )
        for agent_id, seconds in sorted(self.accounting.cpu_seconds.items()):
            cpu.add_metric([agent_id], seconds)
        mem = GaugeMetricFamily(
            "motherbox_agent_memory_bytes", "Bytes held by each agent (cache + mailbox)", labels=["agent"]
        )
        parts = GaugeMetricFamily(
            "motherbox_agent_memory_component_bytes",
            "Bytes held by each agent per component",
            labels=["agent", "component"],
        )
        for agent_id, components in sorted(self.accounting.memory_bytes().items()):
            mem.add_metric([agent_id], sum(components.values()))
            for component, nbytes in sorted(components.items()):
                parts.add_metric([agent_id, component], nbytes)
        yield from (cpu, mem, parts)


def create_metrics(
    registry: CollectorRegistry, *, accounting: AgentAccounting | None = None
) -> RuntimeMetrics:
    """Create every runtime metric inside ``registry`` (pass a fresh ``CollectorRegistry()``)."""
    acc = accounting or AgentAccounting()
    scrape = _ScrapeCollector(acc)
    registry.register(scrape)
    r = registry
    metrics = RuntimeMetrics(
        registry=r,
        accounting=acc,
        request_seconds=Histogram(
            "motherbox_request_duration_seconds",
            "HTTP request latency per route",
            ["method", "route", "status"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        ),
        queue_depth=Gauge("motherbox_queue_depth", "Mailbox depth per agent", ["agent"], registry=r),
        db_query_seconds=Histogram(
            "motherbox_db_query_seconds", "DB query time", ["kind"], buckets=_DB_BUCKETS, registry=r
        ),
        db_slow_queries=Counter("motherbox_db_slow_queries", "Queries slower than 100 ms", registry=r),
        pool_in_use=Gauge("motherbox_pool_in_use", "Connections checked out", ["pool"], registry=r),
        pool_idle=Gauge("motherbox_pool_idle", "Idle pooled connections", ["pool"], registry=r),
        pool_waits=Counter("motherbox_pool_waits", "Checkouts that had to wait", ["pool"], registry=r),
        batches_flushed=Counter("motherbox_batches_flushed", "Batches flushed", ["kind"], registry=r),
        batch_size=Histogram(
            "motherbox_batch_size", "Items per flushed batch", ["kind"], buckets=_BATCH_BUCKETS, registry=r
        ),
        model_calls=Counter("motherbox_model_calls", "Model backend calls", registry=r),
        model_errors=Counter("motherbox_model_errors", "Model backend calls that failed", registry=r),
        model_retries=Counter("motherbox_model_retries", "Model backend retries", registry=r),
        model_call_seconds=Histogram(
            "motherbox_model_call_seconds", "Model call time", buckets=_LATENCY_BUCKETS, registry=r
        ),
        breaker_state=Gauge(
            "motherbox_model_breaker_state", "Breaker: 0 closed, 1 half-open, 2 open", registry=r
        ),
        handoffs_initiated=Counter("motherbox_handoffs_initiated", "Handoffs initiated", registry=r),
        handoffs_acked=Counter("motherbox_handoffs_acked", "Handoffs acknowledged", registry=r),
        handoffs_failed=Counter("motherbox_handoffs_failed", "Handoffs failed", registry=r),
        handoff_loops_broken=Counter(
            "motherbox_handoffs_loops_broken", "Handoff loops detected and broken", registry=r
        ),
        webhooks=create_webhook_metrics(r),
        _scrape=scrape,
    )
    _prime_label_sets(metrics)
    return metrics


def _prime_label_sets(m: RuntimeMetrics) -> None:
    """Create the known label sets so every series is present (at 0) from the first scrape."""
    m.queue_depth.labels(TOTAL_LABEL).set(0)
    for pool in POOLS:
        m.pool_in_use.labels(pool)
        m.pool_idle.labels(pool)
        m.pool_waits.labels(pool)


def render(registry: CollectorRegistry) -> tuple[bytes, str]:
    """Body and content type for ``GET /v1/metrics/prometheus``."""
    return generate_latest(registry), CONTENT_TYPE_LATEST
