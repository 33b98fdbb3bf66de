"""``harness profile-diff RUN_A RUN_B``: functions whose CPU share grew or shrank most (text + JSON)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from harness.contract import rundir
from harness.profiling.collapsed import diff_hotspots

EXIT_USAGE = 2


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run_a", help="baseline run (folder, id under reports/runs, or latest)")
    parser.add_argument("run_b", help="run to compare")
    parser.add_argument("--top", type=int, default=20)
    parser.add_argument("--by", choices=("self", "total"), default="self", help="share compared")
    parser.add_argument("--json", type=Path, help="write the rows here (default: <run_b>/profile-diff.json)")
    parser.add_argument("--reports-dir", type=Path, default=Path("reports"))


def hotspots_of(run_dir: Path) -> dict[str, Any]:
    manifest = rundir.load_manifest(run_dir)
    for name in ("cpu", "scalene"):
        record = manifest.profiles.get(name)
        if record is None or record.status != "ok" or "hotspots" not in record.files:
            continue
        ref = Path(record.files["hotspots"])
        for path in (ref, run_dir / ref, Path.cwd() / ref):
            if path.is_file():
                data: dict[str, Any] = json.loads(path.read_text())
                return data
    raise rundir.RunDirError(f"{run_dir}: no CPU hotspot table (run it with --profile cpu)")


def run(args: argparse.Namespace) -> int:
    console = Console()
    try:
        a = rundir.resolve_run_dir(args.run_a, args.reports_dir)
        b = rundir.resolve_run_dir(args.run_b, args.reports_dir)
        rows = diff_hotspots(hotspots_of(a), hotspots_of(b), top=args.top, key=f"{args.by}_percent")
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
    out = args.json or b / "profile-diff.json"
    payload = {"schema_version": 1, "run_a": str(a), "run_b": str(b), "by": args.by, "rows": rows}
    rundir.write_json_atomic(out, payload)
    console.print(f"written: {out}")
    return 0
