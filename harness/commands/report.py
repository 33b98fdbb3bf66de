"""``harness report RUN_DIR``: write the run's self-contained report.html and refresh reports/index.html.

Exit codes: 0 report written, 2 bad input (not a run folder, unreadable files).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from harness.contract import rundir
from harness.contract.exits import EXIT_USAGE
from harness.report.index_page import build_index
from harness.report.run_page import render_report


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run_dir", nargs="*", help="run folders, run ids under reports/runs, or 'latest'")
    parser.add_argument(
        "--out", type=Path, default=None, help="output file (one run only; default RUN/report.html)"
    )
    parser.add_argument(
        "--reports-dir", type=Path, default=Path("reports"), help="where run ids and index live"
    )
    parser.add_argument("--no-index", action="store_true", help="do not rebuild reports/index.html")
    parser.add_argument("--index-only", action="store_true", help="only rebuild reports/index.html")


def run(args: argparse.Namespace) -> int:
    refs: list[str] = list(args.run_dir)
    if args.out is not None and len(refs) != 1:
        print("harness report: --out needs exactly one run", file=sys.stderr)
        return EXIT_USAGE
    if not refs and not args.index_only:
        print("harness report: name a run folder (or use --index-only)", file=sys.stderr)
        return EXIT_USAGE
    for ref in [] if args.index_only else refs:
        try:
            run_dir = rundir.resolve_run_dir(ref, args.reports_dir)
            path = render_report(run_dir, out=args.out)
        except rundir.RunDirError as exc:
            print(f"harness report: {exc}", file=sys.stderr)
            return EXIT_USAGE
        print(f"report: {path}")
    if not args.no_index and args.reports_dir.is_dir():
        print(f"index:  {build_index(args.reports_dir)}")
    return 0
