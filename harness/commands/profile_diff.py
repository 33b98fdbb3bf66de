"""``harness profile-diff RUN_A RUN_B``: functions whose CPU share grew or shrank most (text + JSON)."""

from __future__ import annotations

import argparse
from pathlib import Path

from rich.console import Console
from rich.table import Table

from harness.contract import rundir
from harness.contract.exits import EXIT_USAGE
from harness.profiling.diff import profile_diff


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run_a", help="baseline run (folder, id under reports/runs, or latest)")
    parser.add_argument("run_b", help="run to compare")
    parser.add_argument("--top", type=int, default=20)
    parser.add_argument("--by", choices=("self", "total"), default="self", help="share compared")
    parser.add_argument("--json", type=Path, help="write the rows here (default: <run_b>/profile-diff.json)")
    parser.add_argument("--reports-dir", type=Path, default=Path("reports"))


def run(args: argparse.Namespace) -> int:
    console = Console()
    try:
        a = rundir.resolve_run_dir(args.run_a, args.reports_dir)
        b = rundir.resolve_run_dir(args.run_b, args.reports_dir)
        rows, out = profile_diff(a, b, top=args.top, by=args.by, out=args.json)
    except (rundir.RunDirError, ValueError, KeyError) as exc:
        console.print(f"[red]error:[/] {exc}", highlight=False)
        return EXIT_USAGE
    table = Table(title=f"CPU {args.by} share: {a.name} -> {b.name}", title_justify="left")
    for col in ("function", "location", "before %", "after %", "change (points)"):
        table.add_column(col, justify="left" if col in ("function", "location") else "right")
    for r in rows:
        delta = r["delta_percent"]
        color = "red" if delta > 0 else "green"
        table.add_row(
            r["function"],
            r["location"],
            f"{r['before_percent']:.2f}",
            f"{r['after_percent']:.2f}",
            f"[{color}]{delta:+.2f}[/]",
        )
    console.print(table)
    console.print(f"written: {out}")
    return 0
