"""``harness run SCENARIO.yaml``: one load run (or a worker for a distributed one).

Parses the options and hands them to the run stage (:func:`harness.run.repeat.run_repeated`),
which runs the scenario, writes the run folder and takes the after-run steps
(:mod:`harness.run.pipeline`).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from rich.console import Console

from harness.profiling.session import KINDS as PROFILE_KINDS
from harness.run.drivers import run_worker
from harness.run.options import EXIT_USAGE, RunOptions, command_line, make_console, parse_tags, reports_dir_of
from harness.run.repeat import run_repeated
from harness.scenario.units import parse_duration


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "scenario", nargs="?", type=Path, help="scenario YAML file (not needed with --worker)"
    )
    parser.add_argument(
        "--target", help="base URL of the service under test (default: start the reference runtime)"
    )
    parser.add_argument(
        "--time-scale", type=float, default=1.0, help="multiply every duration and stage length"
    )
    parser.add_argument(
        "--duration", help="override the total duration (e.g. 30s, 5m); stages keep their shares"
    )
    parser.add_argument("--workers", type=int, default=0, help="Locust distributed mode with N workers")
    parser.add_argument("--master-bind", help="HOST[:PORT] the master listens on for remote workers")
    parser.add_argument("--local-workers", type=int, help="how many of the N workers to start here")
    parser.add_argument("--worker", action="store_true", help="run as a Locust worker of a remote master")
    parser.add_argument("--master-host", default="127.0.0.1", help="with --worker: the master's address")
    parser.add_argument("--master-port", type=int, default=5557, help="with --worker: the master's port")
    parser.add_argument("--out", type=Path, help="write the run folder under DIR instead of reports/runs/")
    parser.add_argument(
        "--reports-dir", type=Path, help="reports folder (history.db, latest); default reports/"
    )
    parser.add_argument("--tag", action="append", default=[], metavar="K=V", help="tag the run (repeatable)")
    parser.add_argument("--allow-remote", action="store_true", help="allow a non-loopback target")
    parser.add_argument(
        "--config", dest="runtime_config", help="managed runtime config: baseline|optimized|FILE"
    )
    parser.add_argument("--profile", help="comma list of profilers: cpu,memory,scalene")
    parser.add_argument("--pid", type=int, help="profile/monitor this PID (a target started elsewhere)")
    parser.add_argument("--profile-rate", type=int, help="py-spy sampling rate in Hz (default 100)")
    parser.add_argument("--profile-gil", action="store_true", help="py-spy: only threads holding the GIL")
    parser.add_argument("--profile-idle", action="store_true", help="py-spy: include idle threads")
    parser.add_argument("--profile-native", action="store_true", help="py-spy/memray: native frames")
    parser.add_argument("--profiles-dir", type=Path, help="profile outputs folder (default profiles/)")
    parser.add_argument("--gate", action="store_true", help="evaluate gates at the end (exit 1 if one fails)")
    parser.add_argument(
        "--report",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="write report.html and reports/index.html at the end (default: on)",
    )
    parser.add_argument("--baseline", help="baseline run for gates / '2x baseline' rules (or 'auto')")
    parser.add_argument("--repeat", type=int, default=1, help="run N times, interleaved with cool-downs")
    parser.add_argument("--cooldown", default="5s", help="pause between repeats")
    parser.add_argument("--quiet", action="store_true", help="no progress line")


def _profile(value: str | None) -> list[str]:
    if not value:
        return []
    kinds = [v.strip() for v in value.split(",") if v.strip()]
    bad = [k for k in kinds if k not in PROFILE_KINDS]
    if bad:
        raise ValueError(f"--profile: unknown profiler(s) {bad} (choose from {', '.join(PROFILE_KINDS)})")
    return kinds


def _profile_overrides(args: argparse.Namespace) -> dict[str, Any]:
    overrides: dict[str, Any] = {}
    if args.profile_rate:
        overrides["rate"] = args.profile_rate
    for flag in ("gil", "idle", "native"):
        if getattr(args, f"profile_{flag}"):
            overrides[flag] = True
    if args.profile_native:
        overrides["memory_native"] = True
    return overrides


def options_from(args: argparse.Namespace, console: Console) -> RunOptions:
    """Raises ValueError naming the bad option."""
    if args.scenario is None:
        raise ValueError("a scenario file is required (except with --worker)")
    if args.time_scale <= 0:
        raise ValueError("--time-scale must be > 0")
    if args.workers < 0 or args.repeat < 1:
        raise ValueError("--workers must be >= 0 and --repeat >= 1")
    options = RunOptions(
        scenario_path=args.scenario,
        target=args.target,
        time_scale=args.time_scale,
        duration_s=parse_duration(args.duration) if args.duration else None,
        workers=args.workers,
        local_workers=args.local_workers,
        master_bind=args.master_bind,
        out=args.out,
        reports_dir=reports_dir_of(args),
        tags=parse_tags(args.tag),
        allow_remote=args.allow_remote,
        runtime_config=args.runtime_config,
        gate=args.gate,
        report=args.report,
        baseline=args.baseline,
        profile=_profile(getattr(args, "profile", None)),
        profile_pid=args.pid,
        profile_overrides=_profile_overrides(args),
        profiles_dir=args.profiles_dir,
        cli=command_line(args),
        quiet=args.quiet,
        console=console,
    )
    if options.profile_pid is not None and options.target is None:
        raise ValueError("--pid profiles a target started elsewhere: give its --target URL too")
    return options


def _cooldown(args: argparse.Namespace) -> float:
    if args.repeat <= 1:
        return 0.0
    try:
        return parse_duration(args.cooldown)
    except ValueError as exc:
        raise ValueError(f"--cooldown: {exc}") from exc


def run(args: argparse.Namespace) -> int:
    if args.worker:
        return run_worker(args.master_host, args.master_port)
    console = make_console()
    try:
        options = options_from(args, console)
        cooldown_s = _cooldown(args)
    except ValueError as exc:
        console.print(f"[red]error:[/] {exc}", highlight=False)
        return EXIT_USAGE
    return run_repeated(options, args.repeat, cooldown_s)
