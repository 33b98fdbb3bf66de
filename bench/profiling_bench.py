"""Profiling overhead (issue 5), measured side by side in one run: ``make bench-profiling``.

Closed-model saturation throughput of the reference runtime (completed req/s) without and with
py-spy attached at 100 Hz, interleaved runs against the same runtime instance; then the same for a
runtime launched under ``memray run`` (aggregated capture, PYTHONMALLOC=malloc) vs a plain one.
Overhead = 1 - median(profiled) / median(plain). Target for py-spy: <= 5%.
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

from harness import rundir
from harness.profiling.memory import MemrayPass
from harness.target import ManagedRuntime

ROOT = Path(__file__).resolve().parents[1]
SCENARIO = """\
name: overhead
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


def throughput(url: str, tmp: Path, duration: int, extra: list[str]) -> float:
    scenario = tmp / f"s{time.monotonic_ns()}.yaml"
    scenario.write_text(SCENARIO.format(duration=duration))
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


def bench_pyspy(tmp: Path, rounds: int, duration: int) -> dict[str, Any]:
    plain, profiled = [], []
    with ManagedRuntime(log_path=tmp / "runtime.log") as runtime:
        assert runtime.pid is not None
        for _ in range(rounds):
            plain.append(throughput(runtime.url, tmp, duration, []))
            profiled.append(
                throughput(
                    runtime.url,
                    tmp,
                    duration,
                    ["--profile", "cpu", "--pid", str(runtime.pid), "--profile-rate", "100"],
                )
            )
    overhead = 1 - statistics.median(profiled) / statistics.median(plain)
    return {
        "plain_rps": plain,
        "py_spy_100hz_rps": profiled,
        "overhead_pct": 100 * overhead,
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
            plain.append(throughput(base.url, tmp, duration, []))
            traced.append(throughput(under.url, tmp, duration, []))
    overhead = 1 - statistics.median(traced) / statistics.median(plain)
    return {
        "plain_rps": plain,
        "memray_rps": traced,
        "overhead_pct": 100 * overhead,
        "capture": "--aggregate",
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench.profiling_bench")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=int, default=12, help="seconds per measured run")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    started = time.monotonic()
    results: dict[str, Any] = {"rounds": args.rounds, "duration_s": args.duration}
    with tempfile.TemporaryDirectory(prefix="profiling-bench-") as name:
        tmp = Path(name)
        results["py_spy"] = bench_pyspy(tmp, args.rounds, args.duration)
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
