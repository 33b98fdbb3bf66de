"""``harness compare BASE_RUN RUN``: regression report between two runs (or repeat groups).

Exit codes: 0 no regression, 1 regression found, 2 bad input.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from harness.compare.compare import (
    DEFAULT_MIN_EFFECT_MS,
    CompareResult,
    CompareSettings,
    ThresholdError,
    compare_paths,
    compare_settings,
)
from harness.contract import rundir
from harness.contract.exits import EXIT_FAILED, EXIT_USAGE
from harness.report.compare_page import write_compare


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "base", help="baseline run folder, run id, or 'latest'; repeats of its group are pooled"
    )
    parser.add_argument("run", help="run to check (folder, run id or 'latest')")
    parser.add_argument("--threshold", default="5%", help="relative change that counts (default 5%%)")
    parser.add_argument("--alpha", default="0.01", help="significance level (default 0.01)")
    parser.add_argument(
        "--error-threshold", default="0.1%", help="absolute error-rate increase that counts (default 0.1%%)"
    )
    parser.add_argument(
        "--min-effect",
        default=f"{DEFAULT_MIN_EFFECT_MS:g}ms",
        help=f"absolute latency change that counts, e.g. 0.2ms (default {DEFAULT_MIN_EFFECT_MS:g}ms)",
    )
    parser.add_argument("--bootstrap", type=int, default=2000, help="bootstrap replicates (default 2000)")
    parser.add_argument("--seed", type=int, default=0, help="bootstrap seed (default 0)")
    parser.add_argument(
        "--bootstrap-unit",
        choices=["seconds", "requests"],
        default="seconds",
        help="single runs: resample one-second windows (default) or individual requests",
    )
    parser.add_argument(
        "--no-pool-repeats", action="store_true", help="use only the named runs, not their repeats"
    )
    parser.add_argument("--out", type=Path, default=None, help="output folder (default: the RUN folder)")
    parser.add_argument(
        "--reports-dir", type=Path, default=Path("reports"), help="where run ids are looked up"
    )


def settings_from_args(args: argparse.Namespace) -> CompareSettings:
    """The compare options every command shares; ThresholdError names the bad one."""
    return compare_settings(
        threshold=args.threshold,
        alpha=args.alpha,
        error_threshold=args.error_threshold,
        n_boot=args.bootstrap,
        seed=args.seed,
        bootstrap_unit=getattr(args, "bootstrap_unit", "seconds"),
        min_effect=getattr(args, "min_effect", f"{DEFAULT_MIN_EFFECT_MS:g}ms"),
    )


def run(args: argparse.Namespace) -> int:
    try:
        settings = settings_from_args(args)
        result = compare_paths(
            [args.base],
            [args.run],
            settings,
            reports_dir=args.reports_dir,
            pool_repeats=not args.no_pool_repeats,
        )
    except ThresholdError as exc:
        print(f"harness compare: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except rundir.RunDirError as exc:
        print(f"harness compare: {exc}", file=sys.stderr)
        return EXIT_USAGE
    out_dir = args.out or rundir.resolve_run_dir(args.run, args.reports_dir)
    json_path, html_path = write_compare(result, out_dir)
    _print_table(result)
    print(f"wrote {json_path} and {html_path}")
    if result.has_regression:
        print("REGRESSION: " + ", ".join(f"{m.metric}({m.operation})" for m in result.regressions))
        return EXIT_FAILED
    print("no regression")
    return 0


def _print_table(result: CompareResult) -> None:
    for w in result.warnings:
        print(f"warning: {w}")
    print(f"{'':2}{'operation':18}{'metric':17}{'base':>12}{'new':>12}{'change':>9}{'MDE':>9}  status")
    for m in result.metrics:
        change = "–" if m.change is None else f"{m.change * 100:+.1f}%"
        mde = "–" if m.mde is None else f"{m.mde * 100:.1f}%"
        base = "–" if m.base is None else f"{m.base:.4g}"
        new = "–" if m.new is None else f"{m.new:.4g}"
        row = f"{m.mark:2}{m.operation:18}{m.metric:17}{base:>12}{new:>12}{change:>9}{mde:>9}"
        print(f"{row}  {m.status}")
    s = result.settings
    print(
        f"marks: + regression, - improvement, ~ not significant, = within threshold, ? untested, "
        f"! inconclusive (MDE > threshold), # too few samples (min {s.min_samples}); "
        f"latency changes count beyond {s.threshold * 100:g}% and {s.min_effect_ms:g} ms"
    )
    for side, rs in (("base", result.base), ("new", result.new)):
        if len(rs.runs) > 1:
            cv = "–" if rs.cv_p95 is None else f"{rs.cv_p95 * 100:.1f}%"
            print(f"{side}: {len(rs.runs)} repeats, CV of p95 {cv}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="harness compare", description=__doc__)
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())
