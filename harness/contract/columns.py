"""Names and markers shared by every stage (no imports: the Locust process reads this too).

One place for each: the columns of samples.parquet and timeseries.csv, the marker of a send that
never started, the pacing tolerance that makes a send "late", and the tags that group repeats.
"""

from __future__ import annotations

#: Columns of samples.parquet. Times are epoch seconds (float64); durations milliseconds (float64).
#: ``latency_ms`` is measured from the *intended* send time (coordinated-omission corrected);
#: ``service_ms`` from the actual send. ``status`` is the HTTP status, 0 when no response arrived.
#: ``error`` is null for a success, else a short kind such as "HTTP 503" or "ConnectionRefused".
SAMPLE_COLUMNS: tuple[str, ...] = (
    "ts",  # completion time
    "operation",
    "intended_start",
    "start",
    "latency_ms",
    "service_ms",
    "status",
    "bytes",
    "error",
    "worker",
)

#: Required columns of timeseries.csv, one row per second of the measured window.
TIMESERIES_COLUMNS: tuple[str, ...] = (
    "t",  # seconds since the start of the measured window (int)
    "ts",  # epoch seconds of the window start
    "stage",  # index of the load stage active in this second
    "target_rate",  # scheduled req/s (NaN for closed model)
    "rate",  # completed req/s
    "sent",
    "errors",
    "dropped",
    "p50_ms",
    "p95_ms",
    "p99_ms",
    "max_ms",
)
#: Monitored columns that may follow (NaN when not measured): cpu_percent, rss_mb, threads,
#: open_fds, read_bytes, write_bytes, sys_cpu_percent, sys_memory_percent, queue_depth,
#: cache_hit_rate, cache_hit_rate_l1, cache_hit_rate_l2, cache_hit_rate_l3, slow_queries,
#: db_pool_in_use, db_pool_waits, agents (agents the runtime runs), cpu_per_agent_pct (the busiest
#: agent's CPU over the interval, 100 = one core, from the runtime's per-agent CPU counters),
#: rss_per_agent_mb (the target's RSS / agents: an upper bound of one agent's memory), storage_mb
#: (the database's size on disk as the runtime exports it).
MONITOR_COLUMNS: tuple[str, ...] = (
    "cpu_percent",
    "rss_mb",
    "threads",
    "open_fds",
    "read_bytes",
    "write_bytes",
    "sys_cpu_percent",
    "sys_memory_percent",
    "queue_depth",
    "cache_hit_rate",
    "cache_hit_rate_l1",
    "cache_hit_rate_l2",
    "cache_hit_rate_l3",
    "slow_queries",
    "db_pool_in_use",
    "db_pool_waits",
    "agents",
    "cpu_per_agent_pct",
    "rss_per_agent_mb",
    "storage_mb",
)

#: The target's Prometheus metrics behind the per-agent and storage columns (the reference runtime
#: exports them; another target must too): named in the not-measured reason when they are absent.
AGENTS_METRIC = "motherbox_agents"
AGENT_CPU_METRIC = "motherbox_agent_cpu_seconds_total"
DATABASE_METRIC = "motherbox_database_bytes"
NEEDS: dict[str, str] = {
    "agents": f"{AGENTS_METRIC} (gauge: agents running)",
    "cpu_per_agent_pct": f"{AGENT_CPU_METRIC} (counter per agent label: CPU seconds)",
    "rss_per_agent_mb": f"{AGENTS_METRIC} (gauge: agents running) and the target's RSS (its PID)",
    "storage_mb": f"{DATABASE_METRIC} (gauge: database size on disk)",
}

#: Key of the all-operations entry in histograms.json.
OVERALL = "__overall__"

#: ``error`` of a sample whose send never started (the pacer hit ``max_in_flight``): counted as
#: dropped, never as a request or an error.
DROPPED = "dropped"
#: A send that started more than this after its intended time counts as late.
LATE_TOLERANCE_S = 0.010

#: Tags of the runs of one ``harness run --repeat N``: a shared group id, the 1-based index, N.
REPEAT_GROUP_TAG = "repeat_group"
REPEAT_INDEX_TAG = "repeat"
REPEAT_COUNT_TAG = "repeats"
