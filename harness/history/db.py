"""``reports/history.db``: one row per run and per operation summary (SQLite).

Schema creation is idempotent and additive: other modules (baselines, ...) add their own tables
to the same file; columns added later must have defaults so old databases keep working.
"""

from __future__ import annotations

import hashlib
import json
import platform
import socket
import sqlite3
from pathlib import Path
from typing import Any

import psutil

from harness.contract.rundir import OVERALL, Manifest, Summary

SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    run_id TEXT PRIMARY KEY,
    scenario TEXT NOT NULL,
    started_at TEXT NOT NULL,
    ended_at TEXT,
    status TEXT NOT NULL,
    git_commit TEXT,
    machine_fingerprint TEXT,
    tags TEXT NOT NULL DEFAULT '{}',
    run_dir TEXT NOT NULL,
    time_scale REAL,
    duration_s REAL
);
CREATE INDEX IF NOT EXISTS runs_scenario_started ON runs (scenario, started_at);
CREATE TABLE IF NOT EXISTS op_summaries (
    run_id TEXT NOT NULL REFERENCES runs (run_id) ON DELETE CASCADE,
    operation TEXT NOT NULL,
    count INTEGER,
    rate REAL,
    error_rate REAL,
    dropped INTEGER,
    p50 REAL, p90 REAL, p95 REAL, p99 REAL, p99_9 REAL, max REAL, mean REAL,
    service_p95 REAL,
    peak_rss_mb REAL,
    cpu_percent_mean REAL,
    PRIMARY KEY (run_id, operation)
);
"""


def connect(path: Path) -> sqlite3.Connection:
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(path, timeout=30)
    conn.execute("PRAGMA foreign_keys = ON")
    conn.executescript(SCHEMA)
    return conn


def machine_info() -> dict[str, Any]:
    cpu = platform.processor() or platform.machine()
    total = psutil.virtual_memory().total
    info: dict[str, Any] = {
        "hostname": socket.gethostname(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "cpu": cpu,
        "cpu_count": psutil.cpu_count(logical=True),
        "memory_bytes": total,
    }
    key = f"{info['hostname']}|{cpu}|{info['cpu_count']}|{total // 2**30}"
    info["fingerprint"] = hashlib.sha256(key.encode()).hexdigest()[:16]
    return info


def record_run(db_path: Path, manifest: Manifest, summary: Summary | None, run_dir: Path) -> None:
    """Insert (or replace) the run and its per-operation summaries."""
    resources = summary.resources if summary is not None else {}
    rss = resources.get("rss_mb")
    cpu = resources.get("cpu_percent")
    peak_rss = rss.max if rss is not None else None
    cpu_mean = cpu.mean if cpu is not None else None
    with connect(db_path) as conn:
        conn.execute(
            "INSERT OR REPLACE INTO runs (run_id, scenario, started_at, ended_at, status, git_commit,"
            " machine_fingerprint, tags, run_dir, time_scale, duration_s) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
            (
                manifest.run_id,
                manifest.scenario_name,
                manifest.started_at,
                manifest.ended_at,
                manifest.status,
                manifest.git.get("commit"),
                manifest.machine.get("fingerprint"),
                json.dumps(manifest.tags, sort_keys=True),
                str(run_dir),
                manifest.load.get("time_scale"),
                manifest.duration_s,
            ),
        )
        conn.execute("DELETE FROM op_summaries WHERE run_id = ?", (manifest.run_id,))
        if summary is None:
            return
        ops = {OVERALL: summary.overall, **summary.operations}
        for name, op in ops.items():
            lat = op.latency_ms
            conn.execute(
                "INSERT INTO op_summaries (run_id, operation, count, rate, error_rate, dropped,"
                " p50, p90, p95, p99, p99_9, max, mean, service_p95, peak_rss_mb, cpu_percent_mean)"
                " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (
                    manifest.run_id,
                    name,
                    op.count,
                    op.rate,
                    op.error_rate,
                    op.dropped,
                    lat.p50,
                    lat.p90,
                    lat.p95,
                    lat.p99,
                    lat.p99_9,
                    lat.max,
                    lat.mean,
                    op.service_time_ms.p95,
                    peak_rss,
                    cpu_mean,
                ),
            )
