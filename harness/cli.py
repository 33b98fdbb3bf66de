"""``harness`` command line: subcommands dispatched from a table.

Each subcommand lives in its own module ``harness/commands/<name>.py`` exposing
``add_arguments(parser)`` and ``run(args: argparse.Namespace) -> int`` (the exit code).
Registration is one line in :data:`COMMANDS` (name, module path, one-line help). Only the module
of the command being run is imported (start-up stays fast; ``harness --help`` imports none). A
module that fails to import is an error with its traceback, never a silently missing command.

SIGTERM is handled like Ctrl-C (:mod:`harness.contract.lifecycle`); an interrupt no command
handled exits 3 with one line. Any other exception escaping a command is a bug in the harness:
its traceback goes to stderr and the exit code is 70 (``EX_SOFTWARE``), never 1 (a failed gate).
"""

from __future__ import annotations

import argparse
import importlib
import importlib.metadata
import sys
import traceback
from types import ModuleType

from harness.contract import lifecycle
from harness.contract.exits import EXIT_ABORTED, EXIT_INTERNAL, EXIT_USAGE

#: (name, module, help). Add yours here; keep the module importable without side effects.
COMMANDS: list[tuple[str, str, str]] = [
    ("run", "harness.commands.run", "run a load scenario and write a run folder"),
    ("validate", "harness.commands.validate", "check scenario files without running them"),
    ("profile", "harness.commands.profile", "run a scenario with CPU and memory profiling"),
    ("profile-diff", "harness.commands.profile_diff", "compare the CPU hotspots of two profiled runs"),
    ("gate", "harness.commands.gate", "evaluate gates/checklists on a run folder (exit 1 on failure)"),
    ("report", "harness.commands.report", "write report.html for a run folder"),
    ("compare", "harness.commands.compare", "compare two runs for regressions"),
    ("ab", "harness.commands.ab", "paired A/B: two live targets under one load, compared pairwise"),
    ("calibrate", "harness.commands.calibrate", "A/A on this machine: its noise, what a comparison can see"),
    ("baseline", "harness.commands.baseline", "set or show the baseline run of a scenario"),
    ("history", "harness.commands.history", "trend charts and change points over the history"),
    ("nightly", "harness.commands.nightly", "run the nightly suite"),
    ("roi", "harness.commands.roi", "ROI of optimizations from measured runs"),
    ("checklist", "harness.commands.checklist", "checklist coverage: rules x scenarios x last nightly"),
]


def package_version() -> str:
    """The installed package's version (``motherbox-perf``), or "unknown" when not installed."""
    try:
        return importlib.metadata.version("motherbox-perf")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def build_parser(only: str | None = None) -> tuple[argparse.ArgumentParser, ModuleType | None]:
    """The parser, with the arguments of command ``only`` (whose module is imported and returned)."""
    parser = argparse.ArgumentParser(
        prog="harness", description="motherbox-perf: load, measure, profile, judge."
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {package_version()}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    loaded: ModuleType | None = None
    for name, module_path, help_text in COMMANDS:
        if name != only:
            sub.add_parser(name, help=help_text, add_help=False)
            continue
        loaded = importlib.import_module(module_path)  # a broken command raises here
        sp = sub.add_parser(name, help=help_text, description=help_text)
        if hasattr(loaded, "add_arguments"):
            loaded.add_arguments(sp)
    return parser, loaded


def main(argv: list[str] | None = None) -> int:
    """Run one command; its exit code (3 for an unhandled interrupt, 70 for an internal error)."""
    lifecycle.die_with_parent()  # a `harness run` launched by nightly or a sweep ends with it
    lifecycle.install()
    try:
        return _dispatch(list(sys.argv[1:] if argv is None else argv))
    except KeyboardInterrupt as exc:
        print(f"aborted: {lifecycle.interrupt_reason(exc)}", file=sys.stderr)
        return EXIT_ABORTED
    except Exception as exc:  # a bug: say so, keep the traceback, never exit 1 (a failed gate)
        traceback.print_exc(file=sys.stderr)
        print(f"internal error (a bug in the harness): {type(exc).__name__}: {exc}", file=sys.stderr)
        return EXIT_INTERNAL


def _dispatch(argv: list[str]) -> int:
    wanted = argv[0] if argv and argv[0] in {c[0] for c in COMMANDS} else None
    parser, module = build_parser(wanted)
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        return int(exc.code) if isinstance(exc.code, int) else EXIT_USAGE
    if args.command is None or module is None:
        parser.print_help()
        return EXIT_USAGE
    args.argv = argv
    return int(module.run(args))


if __name__ == "__main__":
    sys.exit(main())
