"""Target monitoring, once per interval, in a thread of the harness CLI process.

psutil over the target's process tree (CPU %, RSS, threads, open FDs, IO) and the system (CPU %,
memory %), plus the reference runtime's Prometheus metrics when it exposes them. A value that
cannot be measured is NaN (missing), never 0; :attr:`Monitor.not_measured` says why.

The scrape goes through the egress policy (:mod:`harness.contract.egress`): a metrics URL off
loopback (other than the target's host with ``--allow-remote``) is refused without a connection,
a redirect is not followed, and the run's headers (the API key) go only to the target's origin.
"""

from __future__ import annotations

import math
import re
import threading
import time
from typing import Any

import psutil

from harness.contract.egress import Egress, EgressError, is_loopback
from harness.contract.rundir import MONITOR_COLUMNS
from harness.run.cpuclock import CpuClocks

NAN = math.nan
_SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([^}]*)\})?\s+(\S+)")
_LABEL = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')


def parse_prometheus(text: str) -> dict[str, list[tuple[dict[str, str], float]]]:
    """metric name -> [(labels, value)] from the Prometheus text format."""
    out: dict[str, list[tuple[dict[str, str], float]]] = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        match = _SAMPLE.match(line)
        if not match:
            continue
        try:
            value = float(match.group(4))
        except ValueError:
            continue
        labels = dict(_LABEL.findall(match.group(3) or ""))
        out.setdefault(match.group(1), []).append((labels, value))
    return out


def _pick(metrics: dict[str, list[tuple[dict[str, str], float]]], name: str, **want: str) -> float:
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
    """Turns cumulative counters into per-interval figures (hit rates, slow queries, pool waits)."""

    def __init__(self) -> None:
        self.previous: dict[str, float] = {}

    def _delta(self, key: str, value: float) -> float:
        before = self.previous.get(key)
        self.previous[key] = value
        if before is None or math.isnan(value) or value < before:
            return NAN
        return value - before

    def row(self, metrics: dict[str, list[tuple[dict[str, str], float]]]) -> dict[str, float]:
        out: dict[str, float] = {"queue_depth": _pick(metrics, "motherbox_queue_depth", agent="__total__")}
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
        return out


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
        return row

    def _scrape(self) -> dict[str, list[tuple[dict[str, str], float]]] | None:
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
                self.not_measured.setdefault(column, "not exposed by the target or not measurable here")

    def frame(self) -> Any:
        import pandas as pd

        columns = ["ts", *MONITOR_COLUMNS]
        return pd.DataFrame(self.rows, columns=columns)
