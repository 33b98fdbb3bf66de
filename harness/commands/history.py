"""``harness history``: reports/history.html with trends and change points; optional Otava CSV export."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from harness.compare.compare import ThresholdError, parse_fraction
from harness.contract.exits import EXIT_USAGE
from harness.history import changepoints
from harness.history.series import METRICS, build_history, export_otava
from harness.report.history_page import write_history


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--scenario", default=None, help="only this scenario")
    parser.add_argument(
        "--metric",
        default="p95",
        choices=["p50", "p95", "p99"],
        help="per-operation metric searched for change points",
    )
    parser.add_argument("--reports-dir", type=Path, default=Path("reports"))
    parser.add_argument("--out", type=Path, default=None, help="HTML path (default REPORTS/history.html)")
    parser.add_argument(
        "--alpha", default=str(changepoints.DEFAULT_ALPHA), help="t-test level for change points"
    )
    parser.add_argument(
        "--min-change", default="2%", help="smallest relative change of segment means reported (default 2%%)"
    )
    parser.add_argument(
        "--otava", type=Path, default=None, help="also export Otava CSVs + otava.yaml to this folder"
    )


def run(args: argparse.Namespace) -> int:
    try:
        alpha = parse_fraction(args.alpha, "--alpha")
        min_change = parse_fraction(args.min_change, "--min-change")
    except ThresholdError as exc:
        print(f"harness history: {exc}", file=sys.stderr)
        return EXIT_USAGE
    history = build_history(
        args.reports_dir, scenario=args.scenario, alpha=alpha, min_magnitude=min_change, op_metric=args.metric
    )
    path = write_history(history, args.reports_dir, args.out)
    for series in history.series:
        print(f"{series.key}: {len(series.points)} runs, {len(series.changes)} change points")
        for c in series.changes:
            print(
                f"  {c.metric}({c.operation}) {c.change * 100:+.1f}% between {c.commit_before[:9]} and "
                f"{c.commit_after[:9]} (first run {c.run_id}, p={c.p_value:.2g})"
            )
    if args.otava:
        written = export_otava(history, args.otava)
        print(f"Otava export: {len(written) - 1} CSV files + {written[-1]} (metrics: {', '.join(METRICS)})")
    print(f"wrote {path}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="harness history", description=__doc__)
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())
