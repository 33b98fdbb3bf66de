"""``harness ab SCENARIO (--a URL | --a-config NAME|FILE | --a-ref GITREF | --a-cmd CMD) (--b ...)``:
a paired (duet) comparison of two live targets under one load.

Parses the options and hands them to the run stage (:func:`harness.run.duet.run_duet`), which
writes ``<out>/<ab_id>/{a,b}`` (ordinary run folders; ``a-<i>``/``b-<i>`` with ``--repeat N``),
``ab.json`` and ``ab.html``; prints the verdicts and, with ``--profile cpu``, the differential
hotspots (or why a side was not profiled). Exit codes: 0 no regression, 1 regression, 2 usage or
input error, 3 aborted or target unreachable (and, with ``--require-power``, an inconclusive
result).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from rich.console import Console
from rich.table import Table

from harness.compare.ab_result import AbProfile
from harness.compare.compare import ThresholdError
from harness.compare.paired import paired_settings
from harness.contract.exits import EXIT_USAGE
from harness.load.sides import ASSIGN_MODES
from harness.run.duet import DEFAULT_ASSIGN, DuetOptions, DuetResult, SideTarget, run_duet
from harness.run.duet_profile import AB_PROFILE_KINDS
from harness.run.options import (
    add_api_key_argument,
    api_key_of,
    command_line,
    make_console,
    parse_tags,
    reports_dir_of,
)
from harness.scenario.units import parse_duration


def _add_side_arguments(parser: argparse.ArgumentParser, side: str) -> None:
    """``--X``, ``--X-config``, ``--X-ref``, ``--X-cmd``, ``--X-pid`` of side ``X``."""
    parser.add_argument(f"--{side}", metavar="URL", help=f"side {side}: a running service (loopback)")
    parser.add_argument(
        f"--{side}-config",
        metavar="NAME|FILE",
        help=f"side {side}: start the reference runtime with this profile or config file",
    )
    parser.add_argument(
        f"--{side}-ref",
        metavar="GITREF",
        help=f"side {side}: start the reference runtime of this git ref (a temporary worktree of --repo)",
    )
    parser.add_argument(
        f"--{side}-cmd",
        metavar="CMD",
        help=f"side {side}: start this HTTP service; {{port}} in CMD is replaced by a free loopback port",
    )
    parser.add_argument(
        f"--{side}-pid", type=int, metavar="PID", help=f"with --{side} URL: monitor this process tree"
    )


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("scenario", type=Path, help="scenario YAML file")
    for side in ("a", "b"):  # exactly one of --X, --X-config, --X-ref, --X-cmd: checked by the run stage
        _add_side_arguments(parser, side)
    parser.add_argument(
        "--repo",
        type=Path,
        metavar="DIR",
        help="git repository of --a-ref/--b-ref (default: the harness's own checkout)",
    )
    parser.add_argument(
        "--assign",
        choices=ASSIGN_MODES,
        default=DEFAULT_ASSIGN,
        help=f"mirror: every request to both sides; alternate: to one, randomized (default {DEFAULT_ASSIGN})",
    )
    parser.add_argument("--duration", help="override the total duration (e.g. 30s, 2m)")
    parser.add_argument("--time-scale", type=float, default=1.0, help="multiply every duration")
    parser.add_argument("--threshold", default="5%", help="relative change that counts (default 5%%)")
    parser.add_argument("--alpha", default="0.01", help="significance level (default 0.01)")
    parser.add_argument("--min-effect", default="1ms", help="absolute latency change that counts (1ms)")
    parser.add_argument(
        "--repeat",
        type=int,
        default=1,
        metavar="N",
        help="N measured windows back to back, targets up throughout, pooled into one analysis (default 1)",
    )
    parser.add_argument(
        "--profile",
        choices=AB_PROFILE_KINDS,
        action="append",
        default=[],
        help="cpu: py-spy on each side over the same window; ab.html shows the differential hotspots",
    )
    parser.add_argument("--out", type=Path, help="write <ab_id>/ under DIR (default reports/ab)")
    parser.add_argument("--reports-dir", type=Path, help="reports folder (history.db); default reports/")
    parser.add_argument("--tag", action="append", default=[], metavar="K=V", help="tag both runs")
    parser.add_argument("--gate", action="store_true", help="also evaluate the gates on side b")
    parser.add_argument("--require-power", action="store_true", help="exit 3 when the result is inconclusive")
    parser.add_argument("--allow-remote", action="store_true", help="allow non-loopback targets")
    add_api_key_argument(parser, of="the URL sides (--a/--b)")
    parser.add_argument("--quiet", action="store_true", help="no progress line")


def options_from(args: argparse.Namespace, console: Console) -> DuetOptions:
    """Raises ValueError naming the bad option."""
    if args.time_scale <= 0:
        raise ValueError("--time-scale must be > 0")
    if args.repeat < 1:
        raise ValueError(f"--repeat {args.repeat}: must be at least 1")
    try:
        duration = parse_duration(args.duration) if args.duration else None
    except ValueError as exc:
        raise ValueError(f"--duration: {exc}") from exc
    settings = paired_settings(
        threshold=args.threshold, alpha=args.alpha, min_effect=args.min_effect, n_boot=2000, seed=0
    )
    options = DuetOptions(
        scenario_path=args.scenario,
        a=SideTarget(url=args.a, config=args.a_config, pid=args.a_pid, ref=args.a_ref, cmd=args.a_cmd),
        b=SideTarget(url=args.b, config=args.b_config, pid=args.b_pid, ref=args.b_ref, cmd=args.b_cmd),
        settings=settings,
        assign=args.assign,
        time_scale=args.time_scale,
        duration_s=duration,
        out=args.out,
        reports_dir=reports_dir_of(args),
        tags=parse_tags(args.tag),
        allow_remote=args.allow_remote,
        api_key=api_key_of(args),
        gate=args.gate,
        require_power=args.require_power,
        quiet=args.quiet,
        cli=command_line(args),
        console=console,
        repeat=args.repeat,
        profile=list(dict.fromkeys(args.profile)),
    )
    if args.repo is not None:
        options.repo = args.repo
    return options


def _num(value: object, fmt: str = "{:.3g}") -> str:
    return fmt.format(value) if isinstance(value, int | float) else "-"


def print_metrics(console: Console, outcome: DuetResult) -> None:
    result = outcome.result
    table = Table(title="paired comparison (B vs A)", title_justify="left")
    for column in ("operation", "metric", "A", "B", "change", "CI", "MDE", "verdict"):
        table.add_column(column, justify="left" if column in ("operation", "metric", "verdict") else "right")
    for m in result.metrics:
        if m.status == "untested":
            continue
        ci = f"[{_num(m.ci_low, '{:+.1%}')}, {_num(m.ci_high, '{:+.1%}')}]"
        table.add_row(
            str(m.operation),
            str(m.metric),
            _num(m.a),
            _num(m.b),
            _num(m.change, "{:+.1%}"),
            ci,
            _num(m.mde, "{:.1%}"),
            f"{m.mark} {m.status}".strip(),
        )
    console.print(table)


def print_profile(console: Console, profile: AbProfile | None, top: int = 10) -> None:
    """The differential CPU hotspots (``--profile cpu``), or why there are none."""
    if profile is None:
        return
    for side in (profile.a, profile.b):
        if side.status != "ok":
            console.print(f"CPU profile, side {side.side}: {side.status}: {side.reason}", highlight=False)
    if profile.note:
        console.print(f"CPU profile: {profile.note}", highlight=False)
    if not profile.hotspots:
        return
    title = f"CPU hotspots, B vs A (self share of {profile.a.samples} / {profile.b.samples} py-spy samples)"
    table = Table(title=title, title_justify="left")
    for column in ("function", "file:line", "A", "B", "change"):
        table.add_column(column, justify="left" if column in ("function", "file:line") else "right")
    for row in profile.hotspots[:top]:
        table.add_row(
            row.function,
            row.location,
            f"{row.a_percent:.1f}%",
            f"{row.b_percent:.1f}%",
            f"{row.change_points:+.1f} pp",
        )
    console.print(table)


def print_result(console: Console, outcome: DuetResult) -> None:
    result = outcome.result
    if result is None:
        return
    print_metrics(console, outcome)
    print_profile(console, result.profile)
    verdict = "no regression"
    if result.has_regression:
        verdict = "REGRESSION"
    elif result.inconclusive:
        verdict = "inconclusive"
    windows = f" ({len(result.repeats)} repeats pooled)" if len(result.repeats) > 1 else ""
    console.print(f"ab: {verdict}{windows}", highlight=False)
    console.print(f"ab.json: {outcome.json_path}\nab.html: {outcome.html_path}", highlight=False)
    if outcome.ab_dir is not None:
        folders = "  ".join(str(outcome.ab_dir / name) for name in outcome.runs)
        console.print(f"run folders: {folders}", highlight=False)


def run(args: argparse.Namespace) -> int:
    console = make_console()
    try:
        options = options_from(args, console)
    except (ValueError, ThresholdError) as exc:
        console.print(f"[red]error:[/] {exc}", highlight=False)
        return EXIT_USAGE
    outcome = run_duet(options)
    print_result(console, outcome)
    return outcome.exit_code
