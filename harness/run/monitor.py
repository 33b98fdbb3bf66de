"""Target monitoring, once per interval, in a thread of the harness CLI process.

psutil over the target's process tree (CPU %, RSS, threads, open FDs, IO) and the system (CPU %,
memory %), plus the reference runtime's Prometheus metrics when it exposes them (parsed by
prometheus_client): queue depth, cache hit rates, slow queries, pools, and the per-agent and storage
columns — agents running, the busiest agent's CPU, RSS per agent, the database's size on disk
(:data:`harness.contract.columns.NEEDS` names the metrics). A value that cannot be measured is NaN
(missing), never 0; :attr:`Monitor.not_measured` says why, naming the metric a target lacks.

The scrape goes through the egress policy (:mod:`harness.contract.egress`): a metrics URL off
loopback (other than the target's host with ``--allow-remote``) is refused without a connection,
a redirect is not followed, and the run's headers (the API key) go only to the target's origin.
"""

from __future__ import annotations

import contextlib
import math
import threading
import time
from typing import Any

import psutil
from prometheus_client.parser import text_string_to_metric_families

from harness.contract.columns import AGENT_CPU_METRIC, AGENTS_METRIC, DATABASE_METRIC, NEEDS
from harness.contract.egress import Egress, EgressError, is_loopback
from harness.contract.rundir import MONITOR_COLUMNS
from harness.run.cpuclock import CpuClocks

NAN = math.nan
Metrics = dict[str, list[tuple[dict[str, str], float]]]


def parse_prometheus(text: str) -> Metrics:
    """sample name -> [(labels, value)] from the Prometheus text format (prometheus_client's parser).

    A counter family with no samples yet is listed as ``<name>_total: []`` (exported, no series),
    so "not exported" and "nothing counted yet" stay apart. A malformed line does not lose the
    rest: the exposition is then parsed line by line and the bad lines are skipped.
    """
    try:
        return _families(text)
    except ValueError:
        out: Metrics = {}
        for line in text.splitlines():
            if line.strip() and not line.startswith("#"):
                with contextlib.suppress(ValueError):
                    for name, rows in _families(line + "\n").items():
                        out.setdefault(name, []).extend(rows)
        return out


def _families(text: str) -> Metrics:
    out: Metrics = {}
    for family in text_string_to_metric_families(text):
        if not family.samples:
            out.setdefault(family.name + ("_total" if family.type == "counter" else ""), [])
        for sample in family.samples:
            out.setdefault(sample.name, []).append((dict(sample.labels), float(sample.value)))
    return out


def _pick(metrics: Metrics, name: str, **want: str) -> float:
    rows = metrics.get(name)
    if not rows:
        return NAN
    for labels, value in rows:
        if all(labels.get(k) == v for k, v in want.items()):
            return value
    return NAN


def _layer(label: str) -> str | None:
    text = label.lower()
    for n in ("1", "2", "3"):
        if n in text:
            return f"l{n}"
    return None


class RuntimeMetrics:
    """Turns cumulative counters into per-interval figures (hit rates, slow queries, pool waits,
    the busiest agent's CPU share) and reads the gauges (queue depth, agents, database size)."""

    def __init__(self) -> None:
        self.previous: dict[str, float] = {}
        self.agent_cpu: tuple[float, dict[str, float]] | None = None  # (when, CPU s per agent)
        self.missing: set[str] = set()  # metrics a scrape did not have

    def _delta(self, key: str, value: float) -> float:
        before = self.previous.get(key)
        self.previous[key] = value
        if before is None or math.isnan(value) or value < before:
            return NAN
        return value - before

    def row(self, metrics: Metrics, now: float | None = None) -> dict[str, float]:
        """One interval's figures; ``now`` (monotonic seconds) times the per-agent CPU deltas."""
        out: dict[str, float] = {"queue_depth": _pick(metrics, "motherbox_queue_depth", agent="__total__")}
        out.update(self._cache_rates(metrics))
        out["slow_queries"] = self._delta("slow", _pick(metrics, "motherbox_db_slow_queries_total"))
        pools = metrics.get("motherbox_pool_in_use", [])
        db = [v for labels, v in pools if "db" in labels.get("pool", "") or "data" in labels.get("pool", "")]
        out["db_pool_in_use"] = db[0] if db else NAN
        db_waits = [
            v
            for labels, v in metrics.get("motherbox_pool_waits_total", [])
            if "db" in labels.get("pool", "") or "data" in labels.get("pool", "")
        ]
        out["db_pool_waits"] = self._delta("waits", db_waits[0]) if db_waits else NAN
        out["agents"] = self._gauge(metrics, AGENTS_METRIC)
        bytes_on_disk = self._gauge(metrics, DATABASE_METRIC)
        out["storage_mb"] = bytes_on_disk / 1e6
        busiest = self._busiest_agent_cpu(metrics, time.monotonic() if now is None else now)
        out["cpu_per_agent_pct"] = busiest if out["agents"] != 0 else NAN  # no agent: no share
        return out

    def _gauge(self, metrics: Metrics, name: str) -> float:
        value = _pick(metrics, name)
        if math.isnan(value):
            self.missing.add(name)
        return value

    def _cache_rates(self, metrics: Metrics) -> dict[str, float]:
        out: dict[str, float] = {}
        hits = {labels.get("layer", ""): v for labels, v in metrics.get("motherbox_cache_hits_total", [])}
        misses = {labels.get("layer", ""): v for labels, v in metrics.get("motherbox_cache_misses_total", [])}
        total_h = total_m = 0.0
        seen = False
        for layer in sorted(set(hits) | set(misses)):
            dh = self._delta(f"h:{layer}", hits.get(layer, NAN))
            dm = self._delta(f"m:{layer}", misses.get(layer, NAN))
            name = _layer(layer)
            if math.isnan(dh) or math.isnan(dm):
                continue
            seen = True
            total_h, total_m = total_h + dh, total_m + dm
            if name is not None:
                out[f"cache_hit_rate_{name}"] = dh / (dh + dm) if dh + dm > 0 else NAN
        out["cache_hit_rate"] = total_h / (total_h + total_m) if seen and total_h + total_m > 0 else NAN
        return out

    def _busiest_agent_cpu(self, metrics: Metrics, now: float) -> float:
        """The highest CPU share (100 = one core) any agent used since the previous scrape.

        An agent absent from the previous scrape had charged nothing yet (its counter starts at
        its first handler step); a counter that went down (a restarted runtime) is skipped."""
        rows = metrics.get(AGENT_CPU_METRIC)
        if rows is None:
            self.missing.add(AGENT_CPU_METRIC)
            self.agent_cpu = None
            return NAN
        current = {labels.get("agent", ""): value for labels, value in rows}
        previous, self.agent_cpu = self.agent_cpu, (now, current)
        if previous is None or now <= previous[0]:
            return NAN
        before = previous[1]
        deltas = [v - before.get(agent, 0.0) for agent, v in current.items() if v >= before.get(agent, 0.0)]
        return 100.0 * max(deltas, default=0.0) / (now - previous[0])


class ProcessTree:
    """Sums psutil figures over a root process and its descendants (plus explicit PIDs)."""

    def __init__(self, pids: list[int], names: list[str]) -> None:
        self.roots = list(pids)
        self.names = set(names)
        self.cache: dict[int, psutil.Process] = {}
        self.clocks = CpuClocks()  # nanosecond CPU clocks: psutil's ticks are 10 ms

    def processes(self) -> list[psutil.Process]:
        found: dict[int, psutil.Process] = {}
        for pid in self.roots:
            try:
                root = self.cache.get(pid) or psutil.Process(pid)
                found[pid] = root
                for child in root.children(recursive=True):
                    found[child.pid] = child
            except psutil.Error:
                continue
        if self.names:
            for proc in psutil.process_iter(["name"]):
                if proc.info.get("name") in self.names:
                    found[proc.pid] = proc
        # reuse Process objects: cpu_percent() needs the previous call's counters
        result = []
        for pid, proc in found.items():
            cached = self.cache.setdefault(pid, proc)
            result.append(cached)
        return result

    def row(self) -> dict[str, float]:
        procs = self.processes()
        self.clocks.forget_except({proc.pid for proc in procs})
        if not procs:
            return {}
        cpu = rss = threads = fds = rd = wr = 0.0
        io_ok = fds_ok = True
        for proc in procs:
            try:
                with proc.oneshot():
                    cpu += self.clocks.percent(proc)
                    rss += proc.memory_info().rss
                    threads += proc.num_threads()
                    try:
                        fds += proc.num_fds()
                    except (psutil.AccessDenied, AttributeError):
                        fds_ok = False
                    try:
                        io = proc.io_counters()
                        rd, wr = rd + io.read_bytes, wr + io.write_bytes
                    except (psutil.AccessDenied, AttributeError):
                        io_ok = False
            except psutil.Error:
                continue
        return {
            "cpu_percent": cpu,
            "rss_mb": rss / 1e6,
            "threads": threads,
            "open_fds": fds if fds_ok else NAN,
            "read_bytes": rd if io_ok else NAN,
            "write_bytes": wr if io_ok else NAN,
        }


def _default_egress(metrics_url: str | None) -> Egress:
    """Without the run's policy: a loopback metrics URL is treated as the target (it gets the
    headers); any other is refused."""
    return Egress(target=metrics_url if metrics_url and is_loopback(metrics_url) else None)


class Monitor:
    def __init__(
        self,
        *,
        pids: list[int],
        process_names: list[str] | None = None,
        metrics_url: str | None = None,
        headers: dict[str, str] | None = None,
        interval_s: float = 1.0,
        egress: Egress | None = None,
    ) -> None:
        self.tree = ProcessTree(pids, process_names or [])
        self.metrics_url = metrics_url
        self.headers = headers or {}
        self.egress = egress if egress is not None else _default_egress(metrics_url)
        self.interval_s = interval_s
        self.runtime = RuntimeMetrics()
        self.rows: list[dict[str, float]] = []
        self.not_measured: dict[str, str] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="harness-monitor", daemon=True)
        self._metrics_failures = 0

    def start(self) -> None:
        psutil.cpu_percent(None)
        self.tree.row()  # prime per-process CPU counters
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self._explain_missing()

    def _loop(self) -> None:
        next_at = time.time()
        while not self._stop.is_set():
            next_at += self.interval_s
            if self._stop.wait(max(0.0, next_at - time.time())):
                break
            self.rows.append(self.sample())

    def sample(self) -> dict[str, float]:
        row: dict[str, float] = dict.fromkeys(MONITOR_COLUMNS, NAN)
        row["ts"] = time.time()
        row.update(self.tree.row())
        row["sys_cpu_percent"] = psutil.cpu_percent(None)
        row["sys_memory_percent"] = psutil.virtual_memory().percent
        if self.metrics_url and self._metrics_failures < 5:
            metrics = self._scrape()
            if metrics is not None:
                row.update(self.runtime.row(metrics))
        if row["agents"] > 0:  # NaN compares False: no agent count, no share
            # the process's whole RSS shared out: an upper bound of what one agent costs
            row["rss_per_agent_mb"] = row["rss_mb"] / row["agents"]
        return row

    def _scrape(self) -> Metrics | None:
        assert self.metrics_url is not None
        timeout = min(0.8, self.interval_s)
        try:
            reply = self.egress.request(
                "GET",
                self.metrics_url,
                field="monitor.metrics_url",
                headers=self.headers,
                timeout=timeout,
                limit=5_000_000,
            )
        except EgressError as exc:
            self._metrics_failures = 5  # refused: never tried again
            self.not_measured.setdefault("runtime_metrics", str(exc))
            return None
        except OSError as exc:
            self._scrape_failed(f"{self.metrics_url}: {exc}")
            return None
        if reply.status != 200:
            where = f" (redirect to {reply.location!r} not followed)" if reply.location else ""
            self._scrape_failed(f"{self.metrics_url}: HTTP {reply.status}{where}")
            return None
        self._metrics_failures = 0
        return parse_prometheus(reply.body.decode("utf-8", errors="replace"))

    def _scrape_failed(self, why: str) -> None:
        self._metrics_failures += 1
        self.not_measured.setdefault("runtime_metrics", why)

    def _explain_missing(self) -> None:
        if not self.tree.roots and not self.tree.names:
            self.not_measured.setdefault(
                "process", "no target PID known (external target without monitor.pids)"
            )
        if not self.metrics_url:
            self.not_measured.setdefault("runtime_metrics", "no metrics URL for this target")
        for column in MONITOR_COLUMNS:
            values = [r.get(column, NAN) for r in self.rows]
            if values and all(isinstance(v, float) and math.isnan(v) for v in values):
                self.not_measured.setdefault(column, self._missing_reason(column))

    def _missing_reason(self, column: str) -> str:
        """Why a column stayed empty; for the per-agent and storage columns, the metric it needs."""
        needs = NEEDS.get(column)
        if needs is None:
            return "not exposed by the target or not measurable here"
        if not self.metrics_url:
            return f"no metrics URL for this target (needs {needs})"
        if "runtime_metrics" in self.not_measured and not self.runtime.missing:
            return f"needs {needs}; the metrics endpoint was not read: {self.not_measured['runtime_metrics']}"
        agents = [r.get("agents", NAN) for r in self.rows]
        if column in ("cpu_per_agent_pct", "rss_per_agent_mb") and agents and all(a == 0 for a in agents):
            return f"the target ran no agents ({AGENTS_METRIC} was 0 throughout)"
        if column == "rss_per_agent_mb" and AGENTS_METRIC not in self.runtime.missing:
            return "the target's RSS was not measured (no target PID), so no RSS per agent"
        if column == "cpu_per_agent_pct" and AGENT_CPU_METRIC not in self.runtime.missing:
            return f"needs two scrapes of {AGENT_CPU_METRIC}: the monitored window was too short"
        return f"the target's metrics endpoint does not export {needs}"

    def frame(self) -> Any:
        import pandas as pd

        columns = ["ts", *MONITOR_COLUMNS]
        return pd.DataFrame(self.rows, columns=columns)
