"""Analysis + report of a synthetic 1,000,000-sample run: <= 10 s, <= 1 GiB peak RSS (make bench-report).

The run folder is generated first (not timed). The report is then produced in a fresh child
process, exactly as ``harness report RUN`` would (no verdict.json yet, so the default checklist
is evaluated too), so its peak RSS is the report's own. The budgeted time is analysis + rendering
(reading the run folder, evaluating the checklist, charts, HTML); the process wall time including
interpreter start and imports (pandas, matplotlib, pyarrow, pydantic) is printed beside it.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TIME_BUDGET_S = 10.0
RSS_BUDGET_MB = 1024.0


def child(run_dir: Path) -> None:
    """Run in the child process: render the report and print timings as JSON."""
    started = time.perf_counter()
    from harness.report.run_page import render_report

    imported = time.perf_counter()
    path = render_report(run_dir)
    done = time.perf_counter()
    print(
        json.dumps(
            {
                "import_s": imported - started,
                "report_s": done - imported,
                "report_bytes": path.stat().st_size,
            }
        )
    )


def generate(parent: Path) -> Path:
    from harness.testing.synthetic import SyntheticSpec, make_run

    spec = SyntheticSpec(scenario="bench-report", rate=10_000, duration_s=100, stall_every_s=20, stall_ms=500)
    return make_run(parent, spec)


def measure(run_dir: Path) -> dict[str, float]:
    started = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "bench.report_bench", "--child", str(run_dir)],
        check=True,
        capture_output=True,
        text=True,
    )
    wall = time.perf_counter() - started
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    figures: dict[str, float] = json.loads(proc.stdout.strip().splitlines()[-1])
    figures["wall_s"] = wall
    figures["peak_rss_mb"] = usage.ru_maxrss / 1024.0  # Linux reports KiB
    return figures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--child", type=Path, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child is not None:
        child(args.child)
        return 0
    load = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="report-bench-") as tmp:
        t0 = time.perf_counter()
        run_dir = generate(Path(tmp))
        generated_s = time.perf_counter() - t0
        import pandas as pd

        samples = len(pd.read_parquet(run_dir / "samples.parquet", columns=["ts"]))
        figures = measure(run_dir)
    ok = figures["report_s"] <= TIME_BUDGET_S and figures["peak_rss_mb"] <= RSS_BUDGET_MB
    print(f"samples:             {samples:,} (generated in {generated_s:.1f} s, not timed)")
    print(f"analysis + report:   {figures['report_s']:.2f} s  (budget {TIME_BUDGET_S:.0f} s)")
    print(f"  imports:           {figures['import_s']:.2f} s  (not budgeted)")
    print(f"  process wall time: {figures['wall_s']:.2f} s  (interpreter start to exit)")
    print(f"peak RSS:            {figures['peak_rss_mb']:.0f} MB  (budget {RSS_BUDGET_MB:.0f} MB)")
    print(f"report.html size:    {figures['report_bytes'] / 1024:.0f} KiB")
    print(f"machine load (1 min): {load:.1f} on {os.cpu_count()} CPUs at start")
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
