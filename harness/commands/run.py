"""``harness run SCENARIO.yaml``: one load run (or a worker for a distributed one)."""

from __future__ import annotations

import argparse
import importlib
import secrets
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from harness.contract import rundir
from harness.contract.columns import REPEAT_GROUP_TAG, REPEAT_INDEX_TAG
from harness.run.orchestrator import EXIT_ABORTED, EXIT_OK, EXIT_USAGE, RunOptions, RunResult, execute
from harness.scenario.units import parse_duration

PROFILE_KINDS = ("cpu", "memory", "scalene")


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


def _tags(values: list[str]) -> dict[str, str]:
    tags = {}
    for value in values:
        key, sep, val = value.partition("=")
        if not sep or not key:
            raise ValueError(f"--tag {value!r}: expected K=V")
        tags[key] = val
    return tags


def _profile(value: str | None) -> list[str]:
    if not value:
        return []
    kinds = [v.strip() for v in value.split(",") if v.strip()]
    bad = [k for k in kinds if k not in PROFILE_KINDS]
    if bad:
        raise ValueError(f"--profile: unknown profiler(s) {bad} (choose from {', '.join(PROFILE_KINDS)})")
    return kinds


def options_from(args: argparse.Namespace, console: Console) -> RunOptions:
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
        tags=_tags(args.tag),
        allow_remote=args.allow_remote,
        runtime_config=args.runtime_config,
        gate=args.gate,
        profile=_profile(getattr(args, "profile", None)),
        profile_pid=args.pid,
        cli=["harness", *getattr(args, "argv", [])],
        quiet=args.quiet,
        console=console,
    )
    if args.reports_dir is not None:
        options.reports_dir = args.reports_dir
    options.profiles_dir = args.profiles_dir
    overrides: dict[str, object] = {}
    if args.profile_rate:
        overrides["rate"] = args.profile_rate
    for flag in ("gil", "idle", "native"):
        if getattr(args, f"profile_{flag}"):
            overrides[flag] = True
    if args.profile_native:
        overrides["memory_native"] = True
    options.profile_overrides = overrides
    if options.profile_pid is not None and options.target is None:
        raise ValueError("--pid profiles a target started elsewhere: give its --target URL too")
    return options


def print_summary(console: Console, result: RunResult) -> None:
    summary, manifest = result.summary, result.manifest
    if summary is None or manifest is None:
        return
    table = Table(
        title=f"{manifest.scenario_name} · {manifest.status} · {summary.duration_s:.0f}s",
        title_justify="left",
    )
    for col in (
        "operation",
        "count",
        "req/s",
        "p50",
        "p95",
        "p99",
        "max",
        "svc p95",
        "errors",
        "dropped",
        "late",
        "target",
    ):
        table.add_column(col, justify="left" if col == "operation" else "right")

    def ms(value: float | None) -> str:
        if value is None:
            return "-"
        return f"{value / 1000:.2f}s" if value >= 10_000 else f"{value:.1f}"

    rows = [*summary.operations.items(), ("overall", summary.overall)]
    for name, op in rows:
        over = op.target_ms is not None and op.latency_ms.p95 is not None and op.latency_ms.p95 > op.target_ms
        err = f"{100 * op.error_rate:.2f}%" if op.error_rate is not None else "-"
        table.add_row(
            f"[bold]{name}[/]" if name == "overall" else name,
            str(op.count),
            f"{op.rate:.1f}" if op.rate is not None else "-",
            ms(op.latency_ms.p50),
            f"[red]{ms(op.latency_ms.p95)}[/]" if over else ms(op.latency_ms.p95),
            ms(op.latency_ms.p99),
            ms(op.latency_ms.max),
            ms(op.service_time_ms.p95),
            err,
            str(op.dropped),
            str(op.late),
            ms(op.target_ms),
        )
    console.print(table)
    console.print(
        "latency in ms from the intended send time (coordinated-omission corrected); svc = service time"
    )
    if manifest.abort_reason:
        console.print(f"[yellow]aborted:[/] {manifest.abort_reason}")
    for kind, record in manifest.profiles.items():
        console.print(f"profile {kind}: {record.status}" + (f" ({record.reason})" if record.reason else ""))
        for name, path in record.files.items():
            if name in ("speedscope", "flamegraph", "hotspots", "leaks_flamegraph", "memory", "scalene"):
                console.print(f"  {name:17} {path}", highlight=False)
    console.print(f"run folder: {result.run_dir}")


def run_gate(console: Console, run_dir: Path, baseline: str | None, reports_dir: Path) -> int | None:
    """Issue 6 hook: ``harness.verdict.gate.gate_run`` (the scenario's gates/expect are in the manifest)."""
    try:
        module = importlib.import_module("harness.verdict.gate")
    except ModuleNotFoundError:
        console.print(
            "[yellow]--gate: gate evaluation is not available yet (harness.verdict.gate missing)[/]"
        )
        return None
    try:
        base = resolve_baseline_for(run_dir, baseline, reports_dir) if baseline else None
    except rundir.RunDirError as exc:
        console.print(f"[red]--baseline:[/] {exc}", highlight=False)
        return EXIT_USAGE
    return int(module.gate_run(run_dir, checklist=None, rules=[], baseline=base))


def resolve_baseline_for(run_dir: Path, ref: str, reports_dir: Path) -> Path | None:
    """``--baseline RUN`` or ``auto`` (the stored baseline of this scenario on this machine)."""
    from harness.history.baseline import fingerprint_of, resolve_baseline

    manifest = rundir.load_manifest(run_dir)
    return resolve_baseline(ref, manifest.scenario_name, fingerprint_of(manifest), reports_dir)


def write_report(console: Console, run_dir: Path, reports_dir: Path) -> None:
    """report.html for the run and a fresh reports/index.html; print where they are and the verdict."""
    from harness.report.index import build_index
    from harness.report.render import render_report

    path = render_report(run_dir)
    console.print(f"report: {path}", highlight=False)
    if reports_dir.is_dir():
        build_index(reports_dir)
    from harness.verdict.model import load_verdict

    verdict = load_verdict(run_dir)
    if verdict is not None:
        counts = ", ".join(f"{n} {status}" for status, n in verdict.counts.items())
        console.print(f"verdict: {verdict.status.upper()} ({counts})", highlight=False)


def make_console() -> Console:
    console = Console()
    if not console.is_terminal:
        console = Console(width=max(console.width, 140))  # logs and CI: do not squeeze the table
    return console


def run(args: argparse.Namespace) -> int:
    console = make_console()
    if args.worker:
        from harness.run.orchestrator import run_worker

        return run_worker(args.master_host, args.master_port)
    try:
        options = options_from(args, console)
    except ValueError as exc:
        console.print(f"[red]error:[/] {exc}", highlight=False)
        return EXIT_USAGE
    code = EXIT_OK
    group = secrets.token_hex(3) if args.repeat > 1 else None
    for index in range(args.repeat):
        if group is not None:
            options.tags.update({REPEAT_GROUP_TAG: group, REPEAT_INDEX_TAG: str(index + 1)})
            if index:
                time.sleep(parse_duration(args.cooldown))
        result = execute(options)
        if result.manifest is None:
            return result.exit_code
        print_summary(console, result)
        run_code = result.exit_code
        if options.gate and result.run_dir is not None and run_code == EXIT_OK:
            gate_code = run_gate(console, result.run_dir, args.baseline, options.reports_dir)
            run_code = gate_code if gate_code is not None else run_code
        if args.report and result.run_dir is not None:
            write_report(console, result.run_dir, options.reports_dir)
        code = max(code, run_code)  # 3 aborted > 2 > 1 gate failed > 0
        if (
            run_code == EXIT_ABORTED
            and result.manifest.abort_reason
            and "interrupt" in result.manifest.abort_reason
        ):
            break
    return code
