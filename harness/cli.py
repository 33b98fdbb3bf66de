"""``harness`` command line: subcommands dispatched from a table.

Each subcommand lives in its own module ``harness/commands/<name>.py`` exposing
``add_arguments(parser)`` and ``run(args: argparse.Namespace) -> int`` (the exit code).
Registration is one line in :data:`COMMANDS` (name, module path, one-line help); modules are
imported lazily, only for the command being run, so a missing or broken module never breaks the
other commands (``harness --help`` lists it as unavailable).
"""

from __future__ import annotations

import argparse
import importlib
import sys
from types import ModuleType

#: (name, module, help). Add yours here; keep the module importable without side effects.
COMMANDS: list[tuple[str, str, str]] = [
    ("run", "harness.commands.run", "run a load scenario and write a run folder"),
    ("validate", "harness.commands.validate", "check scenario files without running them"),
    ("profile", "harness.commands.profile", "run a scenario with CPU and memory profiling"),
    ("profile-diff", "harness.commands.profile_diff", "compare the CPU hotspots of two profiled runs"),
    ("gate", "harness.commands.gate", "evaluate gates/checklists on a run folder (exit 1 on failure)"),
    ("report", "harness.commands.report", "write report.html for a run folder"),
    ("compare", "harness.commands.compare", "compare two runs for regressions"),
    ("baseline", "harness.commands.baseline", "set or show the baseline run of a scenario"),
    ("history", "harness.commands.history", "trend charts and change points over the history"),
    ("nightly", "harness.commands.nightly", "run the nightly suite"),
    ("roi", "harness.commands.roi", "ROI of optimizations from measured runs"),
]

EXIT_USAGE = 2


def _load(module: str, strict: bool) -> ModuleType | None:
    """Import a command module; None when it does not exist yet (or, unless strict, is broken)."""
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as exc:
        if exc.name and module.startswith(exc.name):
            return None  # not written yet
        if strict:
            raise
        return None
    except Exception:
        if strict:
            raise
        return None  # someone else's work in progress must not break `harness --help`


def build_parser(only: str | None = None) -> tuple[argparse.ArgumentParser, dict[str, ModuleType]]:
    parser = argparse.ArgumentParser(
        prog="harness", description="motherbox-perf: load, measure, profile, judge."
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    loaded: dict[str, ModuleType] = {}
    for name, module_path, help_text in COMMANDS:
        if only is not None and name != only:
            sub.add_parser(name, help=help_text, add_help=False)
            continue
        module = _load(module_path, strict=only is not None)
        if module is None or not hasattr(module, "run"):
            sub.add_parser(name, help=f"{help_text} (not available yet)")
            continue
        sp = sub.add_parser(name, help=help_text, description=help_text)
        if hasattr(module, "add_arguments"):
            module.add_arguments(sp)
        loaded[name] = module
    return parser, loaded


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    wanted = argv[0] if argv and argv[0] in {c[0] for c in COMMANDS} else None
    parser, loaded = build_parser(wanted)
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        return int(exc.code) if isinstance(exc.code, int) else EXIT_USAGE
    if args.command is None:
        parser.print_help()
        return EXIT_USAGE
    module = loaded.get(args.command)
    if module is None:
        print(f"harness {args.command}: not available yet", file=sys.stderr)
        return EXIT_USAGE
    args.argv = argv
    return int(module.run(args))


if __name__ == "__main__":
    sys.exit(main())
