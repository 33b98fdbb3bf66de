"""Profiling overhead, measured side by side in one run: ``make bench-profiling``.

Closed-model saturation throughput of the reference runtime (completed req/s): one long run with
py-spy (100 Hz) attached and detached every few seconds, adjacent windows compared; then
interleaved runs against a runtime launched under ``memray run`` (aggregated capture,
PYTHONMALLOC=malloc) vs a plain one. Overhead = 1 - profiled / plain. Target for py-spy: <= 5%.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import psutil

from harness.contract import rundir
from harness.profiling.memory import MemrayPass
from harness.run.target import ManagedRuntime

ROOT = Path(__file__).resolve().parents[1]
SCENARIO = """\
name: overhead
target: {{api_key: {{value: "{key}"}}}}
load:
  model: closed
  users: 16
  spawn_rate: 100
  duration: {duration}s
  drain: 5s
mix:
  - {{operation: simple_query, weight: 3}}
  - {{operation: command_ack, weight: 1}}
monitor: {{enabled: false}}
"""


def throughput(runtime: ManagedRuntime, tmp: Path, duration: int, extra: list[str]) -> float:
    url = runtime.url
    scenario = tmp / f"s{time.monotonic_ns()}.yaml"
    scenario.write_text(SCENARIO.format(duration=duration, key=runtime.api_key()))
    cmd = [sys.executable, "-m", "harness", "run", str(scenario), "--target", url, "--quiet"]
    cmd += ["--reports-dir", str(tmp / "reports"), "--profiles-dir", str(tmp / "profiles"), *extra]
    out = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=900)
    if out.returncode != 0:
        raise RuntimeError(out.stdout[-2000:] + out.stderr[-2000:])
    run_dir = (tmp / "reports" / "latest").resolve()
    manifest = rundir.load_manifest(run_dir)
    if extra and manifest.profiles.get("cpu") and manifest.profiles["cpu"].status != "ok":
        raise RuntimeError(f"py-spy failed: {manifest.profiles['cpu'].reason}")
    return float(rundir.load_summary(run_dir).overall.rate or 0.0)


def bench_pyspy(tmp: Path, windows: int, window_s: float) -> dict[str, Any]:
    """One long closed-model run; py-spy attached and detached every ``window_s`` seconds.

    Throughput is compared between adjacent windows (profiled vs not), so the shared machine's
    drift, which moves throughput by tens of percent from one minute to the next, cancels out.
    """
    from harness.profiling.pyspy import PySpyOptions, PySpyRecorder
    from harness.profiling.tools import stop_process

    duration = int(windows * 2 * window_s + 30)
    with ManagedRuntime(log_path=tmp / "runtime.log") as runtime:
        assert runtime.pid is not None
        scenario = tmp / "long.yaml"
        scenario.write_text(SCENARIO.format(duration=duration, key=runtime.api_key()))
        cmd = [sys.executable, "-m", "harness", "run", str(scenario), "--target", runtime.url, "--quiet"]
        cmd += ["--reports-dir", str(tmp / "reports")]
        load = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        time.sleep(12)  # harness start-up and the first seconds of load
        spans: list[tuple[float, float, bool]] = []
        spy_cpu: list[float] = []
        for i in range(windows * 2):
            on = i % 2 == 1
            recorder = None
            if on:
                recorder = PySpyRecorder(tmp / f"spy{i}", PySpyOptions(rate=100), "overhead")
                if not recorder.start(runtime.pid):
                    raise RuntimeError(f"py-spy failed: {recorder.failure}")
            begin = time.time()
            time.sleep(window_s)
            spans.append((begin, time.time(), on))
            if recorder is not None and recorder.proc is not None:
                cpu = psutil.Process(recorder.proc.pid).cpu_times()
                spy_cpu.append((cpu.user + cpu.system) / (time.time() - begin + 1.0))
                stop_process(recorder.proc)
        load.communicate(timeout=300)
    samples = rundir.load_samples((tmp / "reports" / "latest").resolve(), columns=["ts"])
    ts = samples["ts"].to_numpy()
    rates = [(((ts >= b + 1) & (ts < e)).sum() / (e - b - 1), on) for b, e, on in spans]
    pairs = [(rates[i + 1][0], rates[i][0]) for i in range(0, len(rates) - 1, 2)]
    ratios = [on / off for on, off in pairs if off > 0]
    return {
        "windows": len(pairs),
        "window_s": window_s,
        "plain_rps": [round(off, 1) for _, off in pairs],
        "py_spy_100hz_rps": [round(on, 1) for on, _ in pairs],
        "overhead_pct_median_of_pairs": 100 * (1 - statistics.median(ratios)),
        "overhead_pct_of_means": 100 * (1 - sum(p[0] for p in pairs) / sum(p[1] for p in pairs)),
        "py_spy_cpu_pct_of_one_core": 100 * statistics.median(spy_cpu) if spy_cpu else None,
        "target": "<= 5%",
    }


def bench_memray(tmp: Path, rounds: int, duration: int) -> dict[str, Any]:
    memray = MemrayPass(tmp / "memray")
    memray.out_dir.mkdir(parents=True, exist_ok=True)
    plain, traced = [], []
    with (
        ManagedRuntime(log_path=tmp / "plain.log") as base,
        ManagedRuntime(
            log_path=tmp / "memray.log", launcher=memray.launcher(), extra_env=memray.env()
        ) as under,
    ):
        for _ in range(rounds):
            plain.append(throughput(base, tmp, duration, []))
            traced.append(throughput(under, tmp, duration, []))
    overhead = 1 - statistics.median(traced) / statistics.median(plain)
    return {
        "plain_rps": plain,
        "memray_rps": traced,
        "overhead_pct": 100 * overhead,
        "capture": "--aggregate",
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench.profiling_bench")
    parser.add_argument("--windows", type=int, default=10, help="py-spy on/off window pairs")
    parser.add_argument("--window", type=float, default=5.0, help="seconds per py-spy window")
    parser.add_argument("--rounds", type=int, default=3, help="memray: interleaved run pairs")
    parser.add_argument("--duration", type=int, default=12, help="seconds per measured run")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    started = time.monotonic()
    results: dict[str, Any] = {"memray_rounds": args.rounds, "memray_run_s": args.duration}
    with tempfile.TemporaryDirectory(prefix="profiling-bench-") as name:
        tmp = Path(name)
        results["py_spy"] = bench_pyspy(tmp, args.windows, args.window)
        print(f"== py-spy at 100 Hz\n{json.dumps(results['py_spy'], indent=2)}", flush=True)
        results["memray"] = bench_memray(tmp, args.rounds, args.duration)
        print(f"== memray\n{json.dumps(results['memray'], indent=2)}", flush=True)
    results["total_seconds"] = round(time.monotonic() - started, 1)
    print(f"total {results['total_seconds']} s")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
