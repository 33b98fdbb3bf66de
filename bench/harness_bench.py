"""Harness benchmarks, figures measured side by side in one run: ``make bench-harness``.

1. capacity:  closed-model req/s of ``harness run`` (full recording) vs raw Locust FastHttpUser,
              both pinned to CPU 0, target pinned to CPU 1; interleaved rounds; ratio >= 0.90.
2. pacing:    open model at 1000 req/s for 60 s: achieved send rate within +-2%.
3. accuracy:  target with a known law (90% 20 ms / 10% 200 ms): reported p50/p95/p99 vs the truth
              (law + the server's own overhead, measured with a blocking client), Locust's beside.
4. CO:        target stalling 1 s every 10 s: open-model corrected p99 vs service time vs closed.
5. memory:    a 1-hour-equivalent 100 req/s run (360k requests, compressed in time at a higher
              rate): peak RSS of the Locust process over time and of the harness CLI.

``--quick`` shortens everything (~3 minutes) and says so in the output.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import psutil

from harness.contract import rundir
from harness.contract.runfolder import RunFolder
from tests.harness.servers import serve

ROOT = Path(__file__).resolve().parents[1]
TWO_CORES = (os.cpu_count() or 1) >= 2
LOAD_CPU, SERVER_CPU = 0, (1 if TWO_CORES else 0)


def taskset(cpu: int) -> list[str]:
    return ["taskset", "-c", str(cpu)] if TWO_CORES and os.path.exists("/usr/bin/taskset") else []


def harness_run(
    scenario: str, url: str, tmp: Path, *, pin: bool = False, watch: bool = False
) -> tuple[Path, Any]:
    path = tmp / f"s{time.monotonic_ns()}.yaml"
    path.write_text(scenario)
    cmd = [*(taskset(LOAD_CPU) if pin else []), sys.executable, "-m", "harness", "run", str(path)]
    cmd += ["--target", url, "--reports-dir", str(tmp / "reports"), "--quiet"]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    rss = RssWatcher(proc.pid) if watch else None
    out, _ = proc.communicate(timeout=1800)
    if rss is not None:
        rss.stop()
    if proc.returncode != 0:
        raise RuntimeError(f"harness run failed ({proc.returncode}):\n{out[-3000:]}")
    return (tmp / "reports" / "latest").resolve(), rss


class RssWatcher:
    """Samples the RSS of the harness CLI and of its Locust child every 0.5 s."""

    def __init__(self, pid: int) -> None:
        self.root = psutil.Process(pid)
        self.samples: list[tuple[float, float, float]] = []  # (t, cli MB, locust MB)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        start = time.monotonic()
        while not self._stop.wait(0.5):
            try:
                cli = self.root.memory_info().rss / 1e6
                kids = [
                    p
                    for p in self.root.children(recursive=True)
                    if "harness.load.driver" in " ".join(p.cmdline())
                ]
                locust = sum(p.memory_info().rss for p in kids) / 1e6
            except psutil.Error:
                continue
            self.samples.append((time.monotonic() - start, cli, locust))

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


# ---------------------------------------------------------------- 1. capacity


RAW_LOCUST = """
import sys, time
import locust
from locust import FastHttpUser, task, constant
from locust.env import Environment

url, users, seconds, warm = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4])

class Raw(FastHttpUser):
    host = url
    wait_time = constant(0)

    @task
    def get(self):
        self.client.get("/x")

env = Environment(user_classes=[Raw])
runner = env.create_local_runner()
runner.start(users, spawn_rate=users)
locust.runners.gevent.sleep(warm)
import resource
def cpu():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime
n0, t0, c0 = env.stats.total.num_requests, time.time(), cpu()
locust.runners.gevent.sleep(seconds)
n1, t1, c1 = env.stats.total.num_requests, time.time(), cpu()
runner.quit()
print((n1 - n0) / (t1 - t0), (n1 - n0) / (c1 - c0))
"""

CAPACITY = """\
name: capacity
load:
  model: closed
  users: {users}
  spawn_rate: 100
  duration: {duration}s
  drain: 2s
mix:
  - {{name: get, path: /x}}
"""


def raw_locust_rps(url: str, users: int, seconds: float, warm: float) -> tuple[float, float]:
    """(req/s of wall time, req per CPU-second of the Locust process) over the measured window."""
    cmd = [*taskset(LOAD_CPU), sys.executable, "-c", RAW_LOCUST, url, str(users), str(seconds), str(warm)]
    out = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600, check=True)
    rps, per_cpu = out.stdout.strip().splitlines()[-1].split()
    return float(rps), float(per_cpu)


class CpuWindow:
    """CPU seconds used by the harness (CLI + Locust process) between two instants of a run."""

    def __init__(self, root: int, start_after: float, seconds: float) -> None:
        self.root, self.start_after, self.seconds = root, start_after, seconds
        self.result: tuple[float, float, float] | None = None  # (t_a, t_b, cpu seconds)
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _cpu(self) -> float:
        procs = [psutil.Process(self.root)]
        procs += psutil.Process(self.root).children(recursive=True)
        total = 0.0
        for proc in procs:
            times = proc.cpu_times()
            total += times.user + times.system
        return total

    def _run(self) -> None:
        try:
            time.sleep(self.start_after)
            a, ca = time.time(), self._cpu()
            time.sleep(self.seconds)
            b, cb = time.time(), self._cpu()
            self.result = (a, b, cb - ca)
        except psutil.Error:
            self.result = None

    def join(self) -> tuple[float, float, float] | None:
        self._thread.join()
        return self.result


def harness_rps(url: str, users: int, seconds: float, warm: float, tmp: Path) -> tuple[float, float]:
    """(req/s of wall time, req per CPU-second of the harness processes) over the measured window."""
    path = tmp / f"cap{time.monotonic_ns()}.yaml"
    path.write_text(CAPACITY.format(users=users, duration=warm + seconds + 4))
    cmd = [*taskset(LOAD_CPU), sys.executable, "-m", "harness", "run", str(path), "--target", url]
    cmd += ["--reports-dir", str(tmp / "reports"), "--quiet"]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    # Locust start-up (imports) takes a few seconds: measure well inside the load window
    window = CpuWindow(proc.pid, start_after=6.0 + warm, seconds=seconds)
    out, _ = proc.communicate(timeout=600)
    if proc.returncode != 0:
        raise RuntimeError(out[-3000:])
    measured = window.join()
    run_dir = (tmp / "reports" / "latest").resolve()
    samples = rundir.load_samples(run_dir, columns=["ts"])
    t0 = _window_start(run_dir) + warm
    inside = samples[(samples["ts"] >= t0) & (samples["ts"] < t0 + seconds)]
    per_cpu = float("nan")
    if measured is not None:
        a, b, cpu = measured
        n = int(((samples["ts"] >= a) & (samples["ts"] < b)).sum())
        per_cpu = n / cpu if cpu > 0 else float("nan")
    return len(inside) / seconds, per_cpu


def bench_capacity(tmp: Path, quick: bool) -> dict[str, Any]:
    users, seconds, warm, rounds = 20, (8.0 if quick else 10.0), 2.0, (2 if quick else 3)
    raw, ours, raw_cpu, our_cpu = [], [], [], []
    with serve("fixed", cpu=SERVER_CPU) as url:
        for _ in range(rounds):  # interleaved: drift on the shared machine hits both sides alike
            rps, per_cpu = raw_locust_rps(url, users, seconds, warm)
            raw.append(rps)
            raw_cpu.append(per_cpu)
            rps, per_cpu = harness_rps(url, users, seconds, warm, tmp)
            ours.append(rps)
            our_cpu.append(per_cpu)
    return {
        "raw_locust_rps": raw,
        "harness_rps": ours,
        "raw_locust_req_per_cpu_s": raw_cpu,
        "harness_req_per_cpu_s": our_cpu,
        "cpu_ratio_of_medians": statistics.median(our_cpu) / statistics.median(raw_cpu),
        "ratio_of_medians": statistics.median(ours) / statistics.median(raw),
        "ratio_of_totals": sum(ours) / sum(raw),
        "median_of_round_ratios": statistics.median(o / r for o, r in zip(ours, raw, strict=True)),
        "recorder_us_per_request": recorder_cost_us(),
        "locust_us_per_request_at_capacity": 1e6 / statistics.median(raw),
        "target": ">= 0.90",
    }


def recorder_cost_us(n: int = 200_000) -> float:
    """CPU cost of the harness's per-request hot path (the events.request listener), in isolation."""
    from types import SimpleNamespace

    from harness.load.recorder import Recorder

    rec, response = Recorder(), SimpleNamespace(status_code=200)
    context = {"intended": 1.0, "expect": None}
    start = time.perf_counter()
    for _ in range(n):
        rec.on_request("get", 1.5, 11, response, context, None, 1.0)
        if len(rec) >= 10_000:
            rec.take()
    return (time.perf_counter() - start) / n * 1e6


# ---------------------------------------------------------------- 2. pacing

PACING = """\
name: pacing
load:
  rate: {rate}
  duration: {duration}s
  max_in_flight: 500
  drain: 3s
mix:
  - {{name: get, path: /x}}
"""


def _window_start(run_dir: Path) -> float:
    start = RunFolder(run_dir).window_start
    if start is None:
        raise RuntimeError(f"{run_dir}: no measured window start")
    return start


def bench_pacing(tmp: Path, quick: bool) -> dict[str, Any]:
    rate, duration = 1000, (20 if quick else 60)
    with serve("fixed", delay_ms=1, cpu=SERVER_CPU) as url:
        run_dir, _ = harness_run(PACING.format(rate=rate, duration=duration), url, tmp)
    samples = rundir.load_samples(run_dir)
    window = _window_start(run_dir)
    sent = samples[samples["error"].ne("dropped").fillna(True) & samples["start"].notna()]
    in_window = sent[(sent["start"] >= window) & (sent["start"] < window + duration)]
    achieved = len(in_window) / duration
    per_second = ((in_window["start"] - window) // 1).value_counts().sort_index()
    lag = (sent["start"] - sent["intended_start"]) * 1000
    return {
        "target_rate": rate,
        "duration_s": duration,
        "achieved_send_rate": achieved,
        "deviation_pct": 100 * (achieved - rate) / rate,
        "per_second_min_max": [int(per_second.min()), int(per_second.max())],
        "dropped": int(samples["error"].eq("dropped").sum()),
        "send_lag_ms_p50_p99": [float(lag.quantile(0.5)), float(lag.quantile(0.99))],
        "target": "within +-2%",
    }


# ---------------------------------------------------------------- 3. accuracy

ACCURACY = """\
name: accuracy
load:
  rate: {rate}
  duration: {duration}s
  drain: 3s
mix:
  - {{name: get, path: /x}}
"""


def blocking_client_overhead_ms(url: str, n: int = 200) -> float:
    """Median latency a plain blocking client sees beyond a fixed 20 ms law: the server's own cost."""
    host, port = url.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port))
    values = []
    for _ in range(n):
        start = time.perf_counter()
        conn.request("GET", "/x")
        conn.getresponse().read()
        values.append((time.perf_counter() - start) * 1000 - 20.0)
    conn.close()
    return statistics.median(values)


def bench_accuracy(tmp: Path, quick: bool) -> dict[str, Any]:
    import pandas as pd

    rate, duration = 50, (20 if quick else 30)
    with serve("fixed", delay_ms=20, cpu=SERVER_CPU) as url:
        overhead = blocking_client_overhead_ms(url)
    with serve("mixed", fast_ms=20, slow_ms=200, cpu=SERVER_CPU) as url:
        run_dir, _ = harness_run(ACCURACY.format(rate=rate, duration=duration), url, tmp)
    summary = rundir.load_summary(run_dir)
    locust = pd.read_csv(run_dir / "locust_stats.csv")
    agg = locust[locust["Name"] == "Aggregated"].iloc[0]
    law = {"p50": 20.0, "p95": 200.0, "p99": 200.0}
    truth = {k: v + overhead for k, v in law.items()}
    ours = {k: getattr(summary.overall.latency_ms, k) for k in law}
    service = {k: getattr(summary.overall.service_time_ms, k) for k in law}
    locust_pct = {"p50": float(agg["50%"]), "p95": float(agg["95%"]), "p99": float(agg["99%"])}
    return {
        "law_ms": law,
        "server_overhead_ms": overhead,
        "truth_ms": truth,
        "harness_ms": ours,
        "harness_error_pct": {k: 100 * (ours[k] - truth[k]) / truth[k] for k in law},
        "harness_error_vs_law_pct": {k: 100 * (ours[k] - law[k]) / law[k] for k in law},
        "harness_service_ms": service,
        "harness_service_error_pct": {k: 100 * (service[k] - truth[k]) / truth[k] for k in law},
        "late_sends": summary.overall.late,
        "locust_ms": locust_pct,
        "locust_error_pct": {k: 100 * (locust_pct[k] - truth[k]) / truth[k] for k in law},
        "target": "within 3%",
    }


# ---------------------------------------------------------------- 4. coordinated omission

CO_OPEN = """\
name: co_open
load:
  rate: 50
  duration: {duration}s
  max_in_flight: {max_in_flight}
  queue_timeout: 3s
  drain: 3s
mix:
  - {{name: get, path: /x}}
"""
CO_CLOSED = """\
name: co_closed
load:
  model: closed
  users: 1
  wait: 20ms
  duration: {duration}s
  drain: 3s
mix:
  - {{name: get, path: /x}}
"""


def bench_co(tmp: Path, quick: bool) -> dict[str, Any]:
    duration = 20 if quick else 40
    out: dict[str, Any] = {
        "stall": "1 s every 10 s",
        "expected_p99_ms": "~900 (1 s stall covers 10% of sends)",
    }
    with serve("stall", period=10, stall=1, delay_ms=2, cpu=SERVER_CPU) as url:
        for label, max_in_flight in (("open", 1000), ("open_one_connection", 1)):
            run_dir, _ = harness_run(CO_OPEN.format(duration=duration, max_in_flight=max_in_flight), url, tmp)
            s = rundir.load_summary(run_dir).overall
            out[f"{label}_corrected_p99_ms"] = s.latency_ms.p99
            out[f"{label}_service_p99_ms"] = s.service_time_ms.p99
        run_dir, _ = harness_run(CO_CLOSED.format(duration=duration), url, tmp)
        s = rundir.load_summary(run_dir).overall
        out["closed_1_user_p99_ms"] = s.latency_ms.p99
        out["closed_requests"] = s.count
    return out


# ---------------------------------------------------------------- 5. memory


def bench_memory(tmp: Path, quick: bool) -> dict[str, Any]:
    requests = 360_000 if not quick else 90_000  # 1 hour (or 15 min) at 100 req/s
    rate = 2000
    duration = requests // rate
    with serve("fixed", delay_ms=1, cpu=SERVER_CPU) as url:
        run_dir, rss = harness_run(PACING.format(rate=rate, duration=duration), url, tmp, watch=True)
    assert rss is not None
    summary = rundir.load_summary(run_dir)
    series = [(t, c, lo) for t, c, lo in rss.samples if lo > 0]
    quarter = [
        max((lo for t, _, lo in series if t <= f * series[-1][0]), default=0.0) for f in (0.25, 0.5, 1.0)
    ]
    return {
        "requests": summary.overall.count + summary.overall.dropped,
        "equivalent": f"{requests / 100 / 3600:.2f} h at 100 req/s ({rate} req/s for {duration} s)",
        "locust_process_peak_rss_mb_at_25_50_100pct": quarter,
        "harness_cli_peak_rss_mb": max(c for _, c, _ in rss.samples),
        "achieved_rate": summary.overall.rate,
    }


BENCHES = {
    "capacity": bench_capacity,
    "pacing": bench_pacing,
    "accuracy": bench_accuracy,
    "co": bench_co,
    "memory": bench_memory,
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench.harness_bench")
    parser.add_argument("--quick", action="store_true", help="shorter runs (figures noisier; says so)")
    parser.add_argument("--only", nargs="*", choices=sorted(BENCHES), help="run only these")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args(argv)
    results: dict[str, Any] = {"quick": args.quick, "cpus": os.cpu_count()}
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="harness-bench-") as tmp_name:
        for name in args.only or list(BENCHES):
            t = time.monotonic()
            results[name] = BENCHES[name](Path(tmp_name), args.quick)
            results[name]["bench_seconds"] = round(time.monotonic() - t, 1)
            print(f"== {name}\n{json.dumps(results[name], indent=2, default=str)}", flush=True)
    results["total_seconds"] = round(time.monotonic() - started, 1)
    print(f"total {results['total_seconds']} s" + (" (--quick: shortened runs)" if args.quick else ""))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
