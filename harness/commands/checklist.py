"""``harness checklist coverage``: which guide rules the scenarios can measure, and what the last
nightly measured.

Prints every rule of the checklist × the scenarios (of ``--scenarios DIR``) that can measure it at
``--time-scale`` × the rule's result in the last nightly (``--nightly DIR``: a
``reports/nightly/<id>`` folder, or the folder of nightlies, whose newest is taken; by default
the newest under ``--reports-dir``, when there is one), then the rules no scenario measures, with
why. ``--json FILE`` writes the matrix as ``coverage.json``.

Exit codes: 0 printed, 2 bad arguments (an unreadable scenario folder, checklist or nightly).
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

from rich.console import Console
from rich.table import Table

from harness.contract import rundir
from harness.contract.exits import EXIT_OK, EXIT_USAGE
from harness.nightly.coverage import step_runs
from harness.nightly.outputs import NightlyFileError, NightlyResult, load_nightly
from harness.run.options import DEFAULT_REPORTS_DIR
from harness.verdict.checklist import ChecklistError, load_checklist
from harness.verdict.coverage import (
    Coverage,
    RuleCoverage,
    build_coverage,
    nightly_results,
    scenario_files,
    with_results,
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    cov = sub.add_parser("coverage", help="rules x scenarios that measure them x the last nightly's result")
    cov.add_argument(
        "--scenarios", type=Path, default=Path("scenarios"), help="folder of scenario YAML files"
    )
    cov.add_argument(
        "--nightly", type=Path, help="a nightly folder (default: the newest under --reports-dir)"
    )
    cov.add_argument("--reports-dir", type=Path, default=DEFAULT_REPORTS_DIR, help="where nightlies are")
    cov.add_argument("--checklist", type=Path, help="checklist YAML (default: the guide's)")
    cov.add_argument(
        "--time-scale",
        type=float,
        help="judge the scenarios as run at this scale (default: the nightly's, else 1)",
    )
    cov.add_argument("--json", type=Path, metavar="FILE", help="also write the matrix to FILE")


def run(args: argparse.Namespace) -> int:
    try:
        coverage = coverage_from_args(args)
    except UsageError as exc:
        print(f"harness checklist coverage: {exc}", file=sys.stderr)
        return EXIT_USAGE
    if args.json is not None:
        rundir.write_json_atomic(args.json, coverage.model_dump())
    # a pipe or a CI log has no width: 160 columns keep one rule per line there
    print_coverage(coverage, Console(width=None if sys.stdout.isatty() else 160))
    return EXIT_OK


class UsageError(Exception):
    """A bad argument: one line, exit 2."""


def coverage_from_args(args: argparse.Namespace) -> Coverage:
    if not args.scenarios.is_dir():
        raise UsageError(f"--scenarios {args.scenarios}: not a folder")
    try:
        checklist = load_checklist(args.checklist)
    except ChecklistError as exc:
        raise UsageError(str(exc)) from exc
    nightly = _nightly(args.nightly, args.reports_dir)
    scale = args.time_scale if args.time_scale is not None else (nightly.time_scale if nightly else 1.0)
    if not (math.isfinite(scale) and scale > 0):
        raise UsageError(f"--time-scale {scale:g}: must be a finite number > 0")
    coverage = build_coverage(scenario_files(args.scenarios), checklist, time_scale=scale)
    if nightly is None:
        return coverage
    return with_results(coverage, nightly_results(step_runs(nightly), checklist), nightly.nightly_id)


def _nightly(given: Path | None, reports_dir: Path) -> NightlyResult | None:
    folder = given if given is not None else reports_dir / "nightly"
    if given is None and not folder.is_dir():
        return None
    if not (folder / "nightly.json").is_file():
        found = sorted(p.parent for p in folder.glob("*/nightly.json"))
        if not found:
            if given is None:
                return None
            raise UsageError(f"--nightly {given}: no nightly.json in it or in its subfolders")
        folder = found[-1]  # nightly ids are UTC timestamps: the newest sorts last
    try:
        return load_nightly(folder)
    except NightlyFileError as exc:
        raise UsageError(str(exc)) from exc


def print_coverage(coverage: Coverage, console: Console) -> None:
    night = f", nightly {coverage.nightly_id}" if coverage.nightly_id else ""
    console.print(f"Checklist coverage at time scale {coverage.time_scale:g}{night}", highlight=False)
    table = Table(show_lines=False)
    for column in ("rule", "expression", "applies to (run kinds)", "measured by", "last nightly"):
        table.add_column(column, overflow="fold")
    for rule in coverage.rules:
        table.add_row(
            rule.id,
            rule.rule,
            ", ".join(rule.applies_to),
            ", ".join(rule.measured_by) or "[red]none[/]",
            _night_cell(rule, coverage),
        )
    console.print(table)
    for error in coverage.scenario_errors:
        console.print(f"[yellow]scenario not read:[/] {error}", highlight=False)
    uncovered = coverage.uncovered
    console.print(
        f"{len(coverage.rules) - len(uncovered)} of {len(coverage.rules)} rules measured by a scenario"
    )
    for rule in uncovered:
        console.print(
            f"  [red]not measured by any scenario:[/] {rule.id}: {rule.uncovered_reason}", highlight=False
        )


def _night_cell(rule: RuleCoverage, coverage: Coverage) -> str:
    if coverage.nightly_id is None:
        return "-"
    if rule.night_status is None:
        return "no run it applies to"
    return rule.night_status + (f": {rule.night_text}" if rule.night_text else "")
