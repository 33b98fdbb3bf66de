"""What ``harness run`` was asked to do (:class:`RunOptions`) and what came of it (:class:`RunResult`).

Exit codes: 0 complete, 1 a gate failed (``--gate``), 2 usage or scenario error (nothing
written), 3 run aborted or incomplete (what was collected is written, status ``aborted``).
"""

from __future__ import annotations

import argparse
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console

from harness.contract import rundir
from harness.contract.exits import EXIT_ABORTED, EXIT_FAILED, EXIT_OK, EXIT_USAGE
from harness.contract.meta import GitInfo
from harness.contract.redact import REDACTED

__all__ = ["EXIT_ABORTED", "EXIT_FAILED", "EXIT_OK", "EXIT_USAGE", "RunOptions", "RunResult"]

#: reports/, or ``$HARNESS_REPORTS_DIR`` (the default of run, ab and calibrate alike)
DEFAULT_REPORTS_DIR = Path(os.environ.get("HARNESS_REPORTS_DIR", "reports"))


@dataclass
class RunOptions:
    scenario_path: Path
    target: str | None = None
    time_scale: float = 1.0
    duration_s: float | None = None
    workers: int = 0
    local_workers: int | None = None  # default: all N workers local unless --master-bind
    master_bind: str | None = None
    out: Path | None = None
    reports_dir: Path = DEFAULT_REPORTS_DIR
    tags: dict[str, str] = field(default_factory=dict)
    git: GitInfo | None = None  # the code the target ran, when not this checkout (an ab ref side)
    allow_remote: bool = False
    api_key: str | None = None  # --api-key, else $HARNESS_API_KEY; never written to disk
    runtime_config: str | None = None
    gate: bool = False  # after-run: evaluate the gates (exit 1 if one fails)
    report: bool = True  # after-run: report.html and reports/index.html
    baseline: str | None = None  # after-run: baseline run for the gates ("auto": the stored one)
    profile: list[str] = field(default_factory=list)  # cpu, memory, scalene (else the scenario's block)
    profile_pid: int | None = None
    profile_overrides: dict[str, Any] = field(default_factory=dict)  # rate, gil, idle, native
    profiles_dir: Path | None = None
    cli: list[str] = field(default_factory=list)
    quiet: bool = False
    live: bool | None = None  # the live table (None: when stdout is a terminal); else a line every 5 s
    web: int | None = None  # --web [PORT]: the live page on 127.0.0.1 (0: a free port)
    console: Console | None = None


@dataclass(frozen=True)
class RunResult:
    exit_code: int
    run_dir: Path | None = None
    summary: rundir.Summary | None = None
    manifest: rundir.Manifest | None = None


def parse_tags(values: list[str]) -> dict[str, str]:
    """``--tag K=V`` (repeatable) as a dict; ValueError names the bad one."""
    tags = {}
    for value in values:
        key, sep, val = value.partition("=")
        if not sep or not key:
            raise ValueError(f"--tag {value!r}: expected K=V")
        tags[key] = val
    return tags


def make_console() -> Console:
    """The console commands print to; logs and CI get a wide one so tables are not squeezed."""
    console = Console()
    if not console.is_terminal:
        console = Console(width=max(console.width, 140))
    return console


def reports_dir_of(args: argparse.Namespace) -> Path:
    """``--reports-dir``, else the default; absolute, since the Locust processes do not run in the
    caller's folder (a relative run folder would be theirs, not the caller's)."""
    return (args.reports_dir if args.reports_dir is not None else DEFAULT_REPORTS_DIR).absolute()


#: the environment variable ``--api-key`` falls back to
API_KEY_ENV = "HARNESS_API_KEY"


def api_key_of(args: argparse.Namespace) -> str | None:
    """The target's API key: ``--api-key``, else ``$HARNESS_API_KEY``, else None (the scenario's
    ``target.api_key`` or the managed runtime's key then apply)."""
    value = getattr(args, "api_key", None) or os.environ.get(API_KEY_ENV) or ""
    return value.strip() or None


def add_api_key_argument(parser: argparse.ArgumentParser, of: str = "--target") -> None:
    """``--api-key KEY`` (run, ab, calibrate: one declaration); read it back with :func:`api_key_of`."""
    parser.add_argument(
        "--api-key",
        metavar="KEY",
        help=f"API key of {of} (default: ${API_KEY_ENV}, else the scenario's target.api_key); "
        "never written to disk",
    )


def redact_argv(argv: list[str]) -> list[str]:
    """The command line with the value of ``--api-key`` replaced by ``(redacted)``."""
    out: list[str] = []
    hide_next = False
    for arg in argv:
        if hide_next:
            out.append(REDACTED)
            hide_next = False
        elif arg == "--api-key":
            out.append(arg)
            hide_next = True
        elif arg.startswith("--api-key="):
            out.append(f"--api-key={REDACTED}")
        else:
            out.append(arg)
    return out


def command_line(args: argparse.Namespace) -> list[str]:
    """The command line as typed (secrets redacted), recorded in the manifest."""
    return ["harness", *redact_argv(list(getattr(args, "argv", [])))]
