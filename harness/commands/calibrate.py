"""``harness calibrate [--target URL | --config NAME|FILE] [--duration D] [--pairs N]``: the noise of
this machine, A/A in both comparison modes (sequential pairs and duet).

Parses the options and hands them to the run stage (:func:`harness.run.calibrate.run_calibration`),
which writes ``<reports>/calibrations/<id>/calibration.json`` (with the run folders under it) and
one history.db row per mode; prints the table and what each mode can see. Exit codes: 0, 2 usage
or input error (nothing run), 3 a run did not complete (nothing recorded).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from rich.console import Console

from harness.contract.exits import EXIT_USAGE
from harness.run.calibrate import (
    DEFAULT_CONFIG,
    DEFAULT_DURATION_S,
    DEFAULT_PAIRS,
    DEFAULT_SCENARIO,
    CalibrateOptions,
    Calibration,
    run_calibration,
)
from harness.run.options import add_api_key_argument, api_key_of, command_line, make_console, reports_dir_of
from harness.scenario.units import parse_duration


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--target", metavar="URL", help="a running service (loopback) to calibrate on")
    parser.add_argument(
        "--config",
        metavar="NAME|FILE",
        help=f"start the reference runtime with this profile or file (default {DEFAULT_CONFIG})",
    )
    parser.add_argument("--duration", default=f"{DEFAULT_DURATION_S:g}s", help="each run's duration (20s)")
    parser.add_argument("--pairs", type=int, default=DEFAULT_PAIRS, help="A/A pairs per mode (3)")
    parser.add_argument("--scenario", type=Path, default=DEFAULT_SCENARIO, help="scenarios/smoke.yaml")
    parser.add_argument("--reports-dir", type=Path, help="reports folder (history.db); default reports/")
    parser.add_argument("--allow-remote", action="store_true", help="allow a non-loopback target")
    add_api_key_argument(parser)
    parser.add_argument("--quiet", action="store_true", help="no progress or per-run output")


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{value * 100:.1f}%"


def table_lines(calibration: Calibration) -> list[str]:
    head = f"{'mode':12}{'pairs':>6}{'CV p50':>9}{'CV p95':>9}{'MDE p50':>10}{'MDE p95':>10}"
    lines = [head + f"{'can see p95':>13}"]
    for m in calibration.modes:
        lines.append(
            f"{m.mode:12}{len(m.pairs):>6}{_pct(m.cv_p50):>9}{_pct(m.cv_p95):>9}"
            f"{_pct(m.mde_p50):>10}{_pct(m.mde_p95):>10}{_pct(m.detectable_p95):>13}"
        )
    lines.append("CV: between-run (sequential), of the paired log ratios (duet); MDE: median over the pairs")
    seen = {m.mode: _pct(m.detectable_p95) for m in calibration.modes}
    lines.append(
        f"on this machine a sequential comparison can see changes ≥ {seen.get('sequential', '–')}, "
        f"a duet comparison ≥ {seen.get('duet', '–')} (p95, 95 % power)"
    )
    return lines


def options_from(args: argparse.Namespace, console: Console) -> CalibrateOptions:
    """Raises ValueError naming the bad option."""
    try:
        duration = parse_duration(args.duration)
    except ValueError as exc:
        raise ValueError(f"--duration: {exc}") from exc
    if args.target is not None and not args.target.strip():
        raise ValueError("--target: empty URL (leave --target out to start the reference runtime)")
    return CalibrateOptions(
        target=args.target,
        config=args.config,
        duration_s=duration,
        pairs=args.pairs,
        scenario_path=args.scenario,
        reports_dir=reports_dir_of(args),
        allow_remote=args.allow_remote,
        api_key=api_key_of(args),
        quiet=args.quiet,
        cli=command_line(args),
        console=console,
    )


def run(args: argparse.Namespace) -> int:
    console = make_console()
    try:
        options = options_from(args, console)
    except ValueError as exc:
        console.print(f"[red]error:[/] {exc}", highlight=False)
        return EXIT_USAGE
    outcome = run_calibration(options)
    if outcome.calibration is None:
        console.print(f"[red]error:[/] {outcome.message}", highlight=False)
        return outcome.exit_code
    for warning in outcome.calibration.warnings:
        print(f"warning: {warning}")
    for line in table_lines(outcome.calibration):
        print(line)
    print(f"calibration.json: {outcome.json_path}")
    return outcome.exit_code
