"""``harness validate SCENARIO.yaml...``: schema-check scenario files without running them."""

from __future__ import annotations

import argparse
from pathlib import Path

from rich.console import Console

from harness.contract.exits import EXIT_OK, EXIT_USAGE
from harness.scenario import ScenarioError, check_scenario
from harness.scenario.units import format_duration


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("scenarios", nargs="+", type=Path, help="scenario YAML files")
    parser.add_argument("--time-scale", type=float, default=1.0)


def run(args: argparse.Namespace) -> int:
    console = Console()
    bad = 0
    for path in args.scenarios:
        try:
            resolved = check_scenario(path, time_scale=args.time_scale)
        except ScenarioError as exc:
            bad += 1
            for issue in exc.issues:
                console.print(f"[red]error:[/] {issue}", highlight=False)
            continue
        scn = resolved.scenario
        ops = ", ".join(item.label for item in scn.mix)
        console.print(
            f"[green]ok[/] {path}: {scn.name}, {scn.load.model} model, "
            f"{format_duration(resolved.duration_s)}, "
            f"{len(resolved.stages) or 1} stage(s); mix: {ops}",
            highlight=False,
        )
    return EXIT_USAGE if bad else EXIT_OK
