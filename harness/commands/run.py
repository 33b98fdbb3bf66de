"""``harness run SCENARIO.yaml``: one load run (or a worker for a distributed one).

Parses the options and hands them to the run stage (:func:`harness.run.repeat.run_repeated`),
which runs the scenario, writes the run folder and takes the after-run steps
(:mod:`harness.run.pipeline`).
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path
from typing import Any

from rich.console import Console

from harness.contract.rundir import RunDirError
from harness.profiling.session import KINDS as PROFILE_KINDS
from harness.run import orchestrator
from harness.run.drivers import run_worker
from harness.run.options import (
    EXIT_USAGE,
    RunOptions,
    RunResult,
    add_api_key_argument,
    api_key_of,
    command_line,
    make_console,
    parse_tags,
    reports_dir_of,
)
from harness.run.repeat import run_repeated
from harness.scenario.units import parse_duration
from harness.verdict.model import load_verdict


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
    add_api_key_argument(parser)
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
    _add_live_arguments(parser)
    parser.add_argument(
        "--json",
        action="store_true",
        help="print one JSON object on stdout at the end (run_dir, status, verdict, exit_code); "
        "everything else goes to stderr",
    )


def _add_live_arguments(parser: argparse.ArgumentParser) -> None:
    """The live view while the load runs (:mod:`harness.run.progress`)."""
    parser.add_argument(
        "--live",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="a live per-operation table, redrawn each second (default: on when stdout is a terminal; "
        "else a plain line every 5 s)",
    )
    parser.add_argument(
        "--web",
        nargs="?",
        const=0,
        type=_web_port,
        metavar="PORT",
        help="also serve the live figures as a page on 127.0.0.1:PORT while the run goes "
        "(default port: a free one, printed); put it after the scenario or write --web=PORT",
    )


def _web_port(value: str) -> int:
    """``--web PORT``: 0 (a free port) to 65535."""
    if not value.isdigit() or int(value) > 65535:
        raise argparse.ArgumentTypeError(f"{value!r} is not a port (0-65535)")
    return int(value)


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
    if not (math.isfinite(args.time_scale) and args.time_scale > 0):
        raise ValueError("--time-scale must be a finite number > 0")
    if args.workers < 0 or args.repeat < 1:
        raise ValueError("--workers must be >= 0 and --repeat >= 1")
    if args.local_workers is not None and not 0 <= args.local_workers <= args.workers:
        raise ValueError(f"--local-workers {args.local_workers}: between 0 and --workers ({args.workers})")
    _check_bind(args.master_bind)
    options = RunOptions(
        scenario_path=args.scenario,
        target=args.target,
        time_scale=args.time_scale,
        duration_s=parse_duration(args.duration) if args.duration else None,
        workers=args.workers,
        local_workers=args.local_workers,
        master_bind=args.master_bind,
        # absolute: the Locust processes run in the repository, not in the caller's folder
        out=args.out.absolute() if args.out is not None else None,
        reports_dir=reports_dir_of(args),
        tags=parse_tags(args.tag),
        allow_remote=args.allow_remote,
        api_key=api_key_of(args),
        runtime_config=args.runtime_config,
        gate=args.gate,
        report=args.report,
        baseline=args.baseline,
        profile=_profile(getattr(args, "profile", None)),
        profile_pid=args.pid,
        profile_overrides=_profile_overrides(args),
        profiles_dir=args.profiles_dir.absolute() if args.profiles_dir is not None else None,
        cli=command_line(args),
        quiet=args.quiet,
        live=args.live,
        web=args.web,
        console=console,
    )
    if options.profile_pid is not None and options.target is None:
        raise ValueError("--pid profiles a target started elsewhere: give its --target URL too")
    if options.target is not None and not options.target.strip():
        # an empty $TARGET in a CI script must not quietly start the reference runtime instead
        raise ValueError("--target: empty URL (leave --target out to start the reference runtime)")
    return options


def _check_bind(spec: str | None) -> None:
    """``--master-bind HOST[:PORT]``: a port, when given, is a number from 1 to 65535."""
    if spec is None:
        return
    _, sep, port = spec.partition(":")
    if sep and not (port.isdigit() and 0 < int(port) < 65536):
        raise ValueError(f"--master-bind {spec!r}: expected HOST[:PORT] with PORT 1-65535")


def _cooldown(args: argparse.Namespace) -> float:
    if args.repeat <= 1:
        return 0.0
    try:
        return parse_duration(args.cooldown)
    except ValueError as exc:
        raise ValueError(f"--cooldown: {exc}") from exc


def result_json(results: list[RunResult], exit_code: int) -> dict[str, Any]:
    """What ``--json`` prints: the (last) run folder, its status and verdict, the exit code; with
    ``--repeat`` every run folder in ``run_dirs``."""
    last = results[-1] if results else None
    run_dir = last.run_dir if last is not None else None
    verdict: str = "not evaluated"
    if run_dir is not None:
        try:
            found = load_verdict(run_dir)
            verdict = found.status if found is not None else verdict
        except RunDirError:
            verdict = "unreadable"
    return {
        "run_dir": str(run_dir) if run_dir is not None else None,
        "run_dirs": [str(r.run_dir) for r in results if r.run_dir is not None],
        "status": last.manifest.status if last is not None and last.manifest is not None else None,
        "verdict": verdict,
        "exit_code": exit_code,
    }


def run(args: argparse.Namespace) -> int:
    if args.worker:
        return run_worker(args.master_host, args.master_port)
    console = Console(stderr=True, width=140) if args.json else make_console()
    try:
        options = options_from(args, console)
        cooldown_s = _cooldown(args)
    except ValueError as exc:
        console.print(f"[red]error:[/] {exc}", highlight=False, soft_wrap=True)
        if args.json:
            print(json.dumps(result_json([], EXIT_USAGE)), flush=True)
        return EXIT_USAGE
    results: list[RunResult] = []

    def execute(o: RunOptions) -> RunResult:
        results.append(orchestrator.execute(o))
        return results[-1]

    code = run_repeated(options, args.repeat, cooldown_s, execute=execute)
    if args.json:
        print(json.dumps(result_json(results, code)), flush=True)
    return code
