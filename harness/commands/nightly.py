"""``harness nightly``: the nightly suite, compared with stored baselines; exit 1 on regression.

Exit codes: 0 no regression, 1 a regression was found, 2 bad arguments, 3 a step produced no
complete run.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from harness.compare.compare import ThresholdError, compare_settings
from harness.contract.exits import EXIT_USAGE
from harness.nightly.plan import plan_lines, select_steps
from harness.nightly.suite import DEFAULT_SCALE, default_steps, run_nightly


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--time-scale", type=float, default=DEFAULT_SCALE, help=f"scale (default {DEFAULT_SCALE})"
    )
    parser.add_argument(
        "--steps", default=None, help="comma-separated subset of: steady,spike,stress,endurance,profile"
    )
    parser.add_argument("--scenarios-dir", type=Path, default=Path("scenarios"))
    parser.add_argument("--reports-dir", type=Path, default=Path("reports"))
    parser.add_argument("--threshold", default="5%", help="relative change that counts (default 5%%)")
    parser.add_argument("--alpha", default="0.01", help="significance level (default 0.01)")
    parser.add_argument("--error-threshold", default="0.1%", help="absolute error-rate increase that counts")
    parser.add_argument("--bootstrap", type=int, default=2000, help="bootstrap replicates")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--no-set-baseline", action="store_true", help="do not store a run as baseline when none exists"
    )
    parser.add_argument(
        "--plan", action="store_true", help="print the steps and their durations, run nothing"
    )


def run(args: argparse.Namespace) -> int:
    try:
        settings = compare_settings(
            threshold=args.threshold,
            alpha=args.alpha,
            error_threshold=args.error_threshold,
            n_boot=args.bootstrap,
            seed=args.seed,
        )
    except ThresholdError as exc:
        print(f"harness nightly: {exc}", file=sys.stderr)
        return EXIT_USAGE
    if args.time_scale <= 0:
        print("harness nightly: --time-scale must be > 0", file=sys.stderr)
        return EXIT_USAGE
    try:
        steps = select_steps(default_steps(args.scenarios_dir), args.steps)
    except ValueError as exc:
        print(f"harness nightly: {exc}", file=sys.stderr)
        return EXIT_USAGE
    if args.plan:
        print("\n".join(plan_lines(steps, args.time_scale)))
        return 0
    result = run_nightly(
        steps,
        time_scale=args.time_scale,
        reports_dir=args.reports_dir,
        settings=settings,
        set_missing_baselines=not args.no_set_baseline,
    )
    for name, path in result.pages.items():
        print(f"{name}: {path}")
    if result.regressions:
        print("REGRESSION: " + "; ".join(result.regressions))
    if result.failed_steps:
        print("failed steps: " + ", ".join(result.failed_steps))
    return result.exit_code()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="harness nightly", description=__doc__)
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())
