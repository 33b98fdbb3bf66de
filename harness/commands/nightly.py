"""``harness nightly``: the nightly suite, compared with stored baselines; exit 1 on regression.

``--baseline-ref REF [--repo DIR]``: each step is instead a paired duet of REF's runtime (side a,
a temporary worktree of DIR) and the working tree's (side b), judged by the paired analysis
(:mod:`harness.nightly.against_ref`); the output names each step's paired verdict and its ab.html.

Exit codes: 0 no regression, 1 a regression was found, 2 bad arguments (e.g. an unknown ref:
nothing runs, nothing is written), 3 a step produced no complete run.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from harness.commands.compare import settings_from_args
from harness.compare.compare import ThresholdError
from harness.compare.paired import paired_settings
from harness.compare.result import DEFAULT_MIN_EFFECT_MS
from harness.contract.exits import EXIT_USAGE
from harness.contract.meta import REPO
from harness.nightly.against_ref import BaselineRef, check_steps, resolve_baseline_ref
from harness.nightly.markdown import paired_line
from harness.nightly.outputs import NightlyResult
from harness.nightly.plan import DEFAULT_SCALE, NightlyStep, default_steps, plan_lines, select_steps
from harness.nightly.suite import run_nightly
from harness.run.options import command_line


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--time-scale", type=float, default=DEFAULT_SCALE, help=f"scale (default {DEFAULT_SCALE})"
    )
    parser.add_argument(
        "--steps",
        default=None,
        help="comma-separated subset of: steady,spike,stress,endurance,profile,team_creation",
    )
    parser.add_argument("--scenarios-dir", type=Path, default=Path("scenarios"))
    parser.add_argument("--reports-dir", type=Path, default=Path("reports"))
    parser.add_argument("--threshold", default="5%", help="relative change that counts (default 5%%)")
    parser.add_argument("--alpha", default="0.01", help="significance level (default 0.01)")
    parser.add_argument("--error-threshold", default="0.1%", help="absolute error-rate increase that counts")
    parser.add_argument(
        "--min-effect",
        default=f"{DEFAULT_MIN_EFFECT_MS:g}ms",
        help="absolute latency change that counts (default %(default)s)",
    )
    parser.add_argument("--bootstrap", type=int, default=2000, help="bootstrap replicates")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--no-set-baseline", action="store_true", help="do not store a run as baseline when none exists"
    )
    parser.add_argument(
        "--baseline-ref",
        metavar="REF",
        help="run each step as a duet: REF's runtime (a) against the working tree's (b), paired verdicts",
    )
    parser.add_argument(
        "--repo",
        type=Path,
        metavar="DIR",
        help="git repository of --baseline-ref (default: the harness's own checkout)",
    )
    parser.add_argument(
        "--plan", action="store_true", help="print the steps and their durations, run nothing"
    )


def baseline_ref_of(args: argparse.Namespace, steps: list[NightlyStep]) -> BaselineRef | None:
    """The ref every step runs against, checked before anything runs (ValueError/ThresholdError)."""
    if args.baseline_ref is None:
        if args.repo is not None:
            raise ValueError("--repo: only with --baseline-ref")
        return None
    settings = paired_settings(
        threshold=args.threshold,
        alpha=args.alpha,
        min_effect=args.min_effect,
        n_boot=args.bootstrap,
        seed=args.seed,
        error_threshold=args.error_threshold,
    )
    repo = args.repo if args.repo is not None else REPO
    base = resolve_baseline_ref(args.baseline_ref, repo, settings, tuple(command_line(args)))
    check_steps(steps)
    return base


def print_result(result: NightlyResult) -> None:
    for name, path in result.pages.items():
        print(f"{name}: {path}")
    for step in result.steps if result.baseline_ref is not None else []:
        print(paired_line(step, result.baseline_ref))
    if result.regressions:
        print("REGRESSION: " + "; ".join(result.regressions))
    if result.failed_steps:
        print("failed steps: " + ", ".join(result.failed_steps))


def run(args: argparse.Namespace) -> int:
    try:
        settings = settings_from_args(args)
        if args.time_scale <= 0:
            raise ValueError("--time-scale must be > 0")
        steps = select_steps(default_steps(args.scenarios_dir), args.steps)
        base = baseline_ref_of(args, steps)
    except (ValueError, ThresholdError) as exc:
        print(f"harness nightly: {exc}", file=sys.stderr)
        return EXIT_USAGE
    if args.plan:
        versus = None if base is None else f"{base.ref} ({base.commit[:12]})"
        print("\n".join(plan_lines(steps, args.time_scale, versus)))
        return 0
    result = run_nightly(
        steps,
        time_scale=args.time_scale,
        reports_dir=args.reports_dir,
        settings=settings,
        set_missing_baselines=not args.no_set_baseline,
        baseline_ref=base,
    )
    print_result(result)
    return result.exit_code()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="harness nightly", description=__doc__)
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())
