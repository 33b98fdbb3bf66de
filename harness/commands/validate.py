"""``harness validate SCENARIO.yaml...``: schema-check scenario files without running them."""

from __future__ import annotations

import argparse
import math
from pathlib import Path

from rich.console import Console

from harness.contract.exits import EXIT_OK, EXIT_USAGE
from harness.scenario import ScenarioError, check_scenario
from harness.scenario.schema import Scenario
from harness.scenario.units import format_duration
from harness.verdict.rules import RuleError, check_operation, parse_rule


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("scenarios", nargs="+", type=Path, help="scenario YAML files")
    parser.add_argument(
        "--time-scale", type=float, default=1.0, help="check the scenarios as run with this time scale"
    )


def run(args: argparse.Namespace) -> int:
    console = Console()
    if not (math.isfinite(args.time_scale) and args.time_scale > 0):
        console.print(
            f"[red]error:[/] --time-scale {args.time_scale:g}: must be a finite number > 0", soft_wrap=True
        )
        return EXIT_USAGE
    bad = 0
    for path in args.scenarios:
        try:
            resolved = check_scenario(path, time_scale=args.time_scale)
        except ScenarioError as exc:
            bad += 1
            for issue in exc.issues:
                console.print(f"[red]error:[/] {issue}", highlight=False, soft_wrap=True)
            continue
        scn = resolved.scenario
        gate_errors = unknown_gate_operations(scn)
        if gate_errors:
            bad += 1
            for message in gate_errors:
                console.print(f"[red]error:[/] {path}: {message}", highlight=False, soft_wrap=True)
            continue
        ops = ", ".join(item.label for item in scn.mix)
        console.print(
            f"[green]ok[/] {path}: {scn.name}, {scn.load.model} model, "
            f"{format_duration(resolved.duration_s)}, "
            f"{len(resolved.stages) or 1} stage(s); mix: {ops}",
            highlight=False,
        )
    return EXIT_USAGE if bad else EXIT_OK


def unknown_gate_operations(scenario: Scenario) -> list[str]:
    """``gates[i]: ...`` for each gate rule naming an operation that is not in the mix (a typo such
    as ``p95(comand_ack)`` would otherwise be "not measured"), with a did-you-mean."""
    labels = [item.label for item in scenario.mix]
    errors = []
    for index, text in enumerate(scenario.gates):
        try:
            check_operation(parse_rule(text), labels)
        except RuleError as exc:
            errors.append(f"gates[{index}]: {exc.message} in {text!r}")
    return errors
