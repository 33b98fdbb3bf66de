"""The metrics a rule can name: what they measure, their unit and where their data comes from."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class Kind(Enum):
    """The unit family of a metric; thresholds are converted into the metric's canonical unit."""

    TIME = "time"  # canonical: milliseconds
    RATIO = "ratio"  # canonical: fraction 0..1 (error_rate, cache hit rates)
    PERCENT = "percent"  # canonical: percent 0..100+ (cpu as psutil reports it, memory %)
    MEMORY = "memory"  # canonical: MB
    RATE = "rate"  # canonical: per second
    COUNT = "count"  # plain number
    GROWTH = "growth"  # canonical: MB per hour


class Source(Enum):
    LATENCY = "latency"  # summary latency percentiles / samples
    TRAFFIC = "traffic"  # counts, errors, rates, dropped
    MONITOR = "monitor"  # a monitored column of timeseries.csv
    DERIVED = "derived"  # computed by a dedicated function (growth, recovery, ...)


#: Aggregates a monitored metric accepts as a suffix (``cpu.max``); they match SeriesStats fields.
MONITOR_AGGREGATES = ("mean", "max", "min", "p95", "start", "end")


@dataclass(frozen=True)
class MetricDef:
    name: str
    kind: Kind
    source: Source
    description: str
    column: str | None = None  # timeseries / summary.resources column for monitored metrics
    takes_operation: bool = False
    layers: tuple[str, ...] = ()  # cache layers accepted as a filter, e.g. cache_hit_rate(l1)
    default_aggregate: str = "mean"  # monitored metrics without a suffix or window


def _latency(name: str, what: str) -> MetricDef:
    return MetricDef(name, Kind.TIME, Source.LATENCY, what, takes_operation=True)


def _traffic(name: str, kind: Kind, what: str) -> MetricDef:
    return MetricDef(name, kind, Source.TRAFFIC, what, takes_operation=True)


def _monitor(name: str, kind: Kind, column: str, what: str, aggregate: str) -> MetricDef:
    return MetricDef(name, kind, Source.MONITOR, what, column=column, default_aggregate=aggregate)


_DEFS: tuple[MetricDef, ...] = (
    _latency("p50", "median latency (from intended send time)"),
    _latency("p90", "90th percentile latency"),
    _latency("p95", "95th percentile latency"),
    _latency("p99", "99th percentile latency"),
    _latency("p99.9", "99.9th percentile latency"),
    _latency("max", "maximum latency"),
    _latency("mean", "mean latency"),
    _traffic("error_rate", Kind.RATIO, "failed / completed requests"),
    _traffic("errors", Kind.COUNT, "failed requests"),
    _traffic("count", Kind.COUNT, "completed requests"),
    _traffic("rate", Kind.RATE, "achieved completed requests per second"),
    _traffic("dropped", Kind.COUNT, "sends that could not start (open model)"),
    _traffic("dropped_rate", Kind.RATIO, "dropped / scheduled sends"),
    _traffic("late", Kind.COUNT, "sends that started later than scheduled"),
    _monitor("cpu", Kind.PERCENT, "cpu_percent", "target process-tree CPU (100% = one core)", "mean"),
    _monitor("sys_cpu", Kind.PERCENT, "sys_cpu_percent", "whole-machine CPU", "mean"),
    _monitor("memory_percent", Kind.PERCENT, "sys_memory_percent", "machine memory in use", "max"),
    _monitor("rss", Kind.MEMORY, "rss_mb", "target resident memory", "max"),
    _monitor("threads", Kind.COUNT, "threads", "target threads", "max"),
    _monitor("open_fds", Kind.COUNT, "open_fds", "target open file descriptors", "max"),
    _monitor("queue_depth", Kind.COUNT, "queue_depth", "runtime message queue depth", "max"),
    _monitor("slow_queries", Kind.COUNT, "slow_queries", "database queries slower than 100 ms", "max"),
    _monitor("db_pool_in_use", Kind.COUNT, "db_pool_in_use", "database connections in use", "max"),
    _monitor("db_pool_waits", Kind.COUNT, "db_pool_waits", "waits for a database connection", "max"),
    MetricDef(
        "cache_hit_rate",
        Kind.RATIO,
        Source.MONITOR,
        "cache hits / lookups (filter a layer: cache_hit_rate(l1))",
        column="cache_hit_rate",
        layers=("l1", "l2", "l3"),
        default_aggregate="mean",
    ),
    MetricDef("rss_growth", Kind.GROWTH, Source.DERIVED, "RSS least-squares slope over the run"),
    MetricDef("storage_growth", Kind.GROWTH, Source.DERIVED, "growth of the runtime's stored data"),
    MetricDef("rss_per_agent", Kind.MEMORY, Source.DERIVED, "peak RSS / agents running (monitored)"),
    MetricDef("cpu_per_agent", Kind.PERCENT, Source.DERIVED, "mean CPU of the busiest agent (monitored)"),
    MetricDef("concurrency", Kind.COUNT, Source.DERIVED, "peak requests in flight", takes_operation=True),
    MetricDef("recovery_time", Kind.TIME, Source.DERIVED, "time to return to pre-spike latency"),
    MetricDef("breaking_point", Kind.RATE, Source.DERIVED, "highest stage rate served within targets"),
)

METRICS: dict[str, MetricDef] = {m.name: m for m in _DEFS}
ALIASES: dict[str, str] = {
    "p99_9": "p99.9",
    "p999": "p99.9",
    "avg": "mean",
    "throughput": "rate",
    "rps": "rate",
    "memory": "memory_percent",
    "cpu_percent": "cpu",
    "rss_mb": "rss",
    "min_rate": "rate",
}

LATENCY_SUMMARY_KEY: dict[str, str] = {
    "p50": "p50",
    "p90": "p90",
    "p95": "p95",
    "p99": "p99",
    "p99.9": "p99_9",
    "max": "max",
    "mean": "mean",
}


def lookup(name: str) -> MetricDef | None:
    return METRICS.get(ALIASES.get(name, name))
