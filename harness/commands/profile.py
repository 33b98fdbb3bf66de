"""``harness profile SCENARIO``: ``harness run`` with CPU (py-spy) and memory (memray) profiling on."""

from __future__ import annotations

import argparse

from harness.commands import run as run_command


def add_arguments(parser: argparse.ArgumentParser) -> None:
    run_command.add_arguments(parser)
    parser.set_defaults(profile="cpu,memory")


def run(args: argparse.Namespace) -> int:
    if not args.profile:
        args.profile = "cpu,memory"
    code = run_command.run(args)
    return code
