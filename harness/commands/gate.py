"""``harness gate RUN_DIR``: evaluate a run against checklist rules and gates (exit codes: docs/gates.md)."""

from __future__ import annotations

import argparse
from pathlib import Path

from harness.contract import rundir
from harness.contract.exits import EXIT_USAGE
from harness.verdict.gate import gate_run


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run_dir", help="run folder, run id under reports/runs, or 'latest'")
    parser.add_argument(
        "--checklist", type=Path, default=None, help="checklist YAML (default: the shipped guide.yaml)"
    )
    parser.add_argument(
        "--rule",
        action="append",
        default=[],
        metavar="RULE",
        help='extra gate, e.g. "p95(command_ack) < 100ms" (repeatable; grammar: docs/checklists.md)',
    )
    parser.add_argument(
        "--baseline", default=None, metavar="RUN", help="run folder or id for 2x-baseline rules"
    )
    parser.add_argument(
        "--reports-dir", type=Path, default=Path("reports"), help="where run ids are looked up"
    )


def run(args: argparse.Namespace) -> int:
    reports_dir: Path = getattr(args, "reports_dir", Path("reports"))
    try:
        run_dir = rundir.resolve_run_dir(args.run_dir, reports_dir)
        baseline = rundir.resolve_run_dir(args.baseline, reports_dir) if args.baseline else None
    except rundir.RunDirError as exc:
        print(f"harness gate: {exc}")
        return EXIT_USAGE
    return gate_run(run_dir, checklist=args.checklist, rules=list(args.rule), baseline=baseline)
