"""``harness roi``: what the optimizations are worth.

``--before RUN --after RUN [--cost-model FILE]`` -> roi.html + roi.json from two measured runs.
``--switches [SCENARIO]`` -> runs the reference runtime with each optimization switch off vs on
(against the all-on profile, interleaved repeats) and writes the claimed-vs-measured table.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from harness.contract import rundir
from harness.contract.exits import EXIT_ABORTED, EXIT_OK, EXIT_USAGE
from harness.report.roi_page import write_roi
from harness.roi.model import CostModel, CostModelError, load_cost_model
from harness.roi.roi import roi_between
from harness.roi.sweep import print_table, sweep, sweep_request
from harness.roi.switches import SweepError

DEFAULT_SWITCH_SCENARIO = "default"  # harness/roi/switch_scenario.yaml: every operation, team creation too


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--before", help="run before the optimization (folder, run id, 'latest')")
    parser.add_argument("--after", help="run after the optimization")
    parser.add_argument(
        "--cost-model", type=Path, default=None, help="cost model YAML (default: shipped one)"
    )
    parser.add_argument(
        "--out", type=Path, default=None, help="output folder (default: the AFTER run / sweep folder)"
    )
    parser.add_argument("--reports-dir", type=Path, default=Path("reports"))
    parser.add_argument(
        "--switches",
        nargs="?",
        const=DEFAULT_SWITCH_SCENARIO,
        default=None,
        metavar="SCENARIO",
        help="switch sweep on SCENARIO (default: the built-in roi_switches scenario with every operation)",
    )
    parser.add_argument(
        "--repeats", type=int, default=3, help="sweep: interleaved repeats per variant (default 3)"
    )
    parser.add_argument(
        "--time-scale", type=float, default=1.0, help="sweep: scenario time scale (default 1)"
    )
    parser.add_argument("--duration", default="20s", help="sweep: each run's duration (default 20s)")
    parser.add_argument("--only", default=None, help="sweep: comma-separated switches (default: all)")
    parser.add_argument("--cooldown", type=float, default=3.0, help="sweep: seconds between runs (default 3)")


def run(args: argparse.Namespace) -> int:
    try:
        model = load_cost_model(args.cost_model)
    except CostModelError as exc:
        print(f"harness roi: --cost-model: {exc}", file=sys.stderr)
        return EXIT_USAGE
    if args.switches is not None:
        return _sweep(args, model)
    if not args.before or not args.after:
        print("harness roi: give --before RUN and --after RUN, or --switches [SCENARIO]", file=sys.stderr)
        return EXIT_USAGE
    try:
        result = roi_between(args.before, args.after, model, reports_dir=args.reports_dir)
    except rundir.RunDirError as exc:
        print(f"harness roi: {exc}", file=sys.stderr)
        return EXIT_USAGE
    out_dir = args.out or rundir.resolve_run_dir(args.after, args.reports_dir)
    json_path, html_path = write_roi(result, out_dir)
    point = result.cases["point"]
    payback = "never" if point.payback_months is None else f"{point.payback_months:.1f} months"
    print(
        f"monthly savings {point.monthly_savings:,.2f} {result.currency}; recurring cost "
        f"{point.recurring_monthly:,.2f}; payback {payback}; 12-month ROI {point.roi_12_months * 100:+.0f}%"
    )
    print(f"wrote {json_path} and {html_path}")
    return 0


def _sweep(args: argparse.Namespace, model: CostModel) -> int:
    try:
        request = sweep_request(
            args.switches,
            args.only,
            repeats=args.repeats,
            time_scale=args.time_scale,
            duration=args.duration,
            cooldown_s=args.cooldown,
            out=args.out,
            reports_dir=args.reports_dir,
        )
    except SweepError as exc:
        print(f"harness roi --switches: {exc}", file=sys.stderr)
        return EXIT_USAGE
    try:
        outcome = sweep(request, model)
    except SweepError as exc:  # e.g. no successful all_on run to compare against
        print(f"harness roi --switches: {exc}", file=sys.stderr)
        return EXIT_USAGE
    print_table(outcome.result)
    for failure in outcome.failed:
        print(f"failed run: {failure}")
    print(f"wrote {outcome.json_path} and {outcome.html_path}")
    return EXIT_OK if not outcome.failed else EXIT_ABORTED


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="harness roi", description=__doc__)
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())
