"""The table ``harness run`` prints when a run folder is written (figures from summary.json)."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from harness.contract.rundir import Manifest, Summary
from harness.run.options import RunResult

COLUMNS = (
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
)
#: Profile outputs worth a line under the table (the rest are listed in the manifest).
SHOWN_PROFILE_FILES = ("speedscope", "flamegraph", "hotspots", "leaks_flamegraph", "memory", "scalene")


def ms(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value / 1000:.2f}s" if value >= 10_000 else f"{value:.1f}"


def summary_table(summary: Summary, manifest: Manifest) -> Table:
    table = Table(
        title=f"{manifest.scenario_name} · {manifest.status} · {summary.duration_s:.0f}s",
        title_justify="left",
    )
    for col in COLUMNS:
        table.add_column(col, justify="left" if col == "operation" else "right")
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
    return table


def print_summary(console: Console, result: RunResult) -> None:
    """The table, why the run aborted, the profiles' outputs and where the run folder is."""
    summary, manifest = result.summary, result.manifest
    if summary is None or manifest is None:
        return
    console.print(summary_table(summary, manifest))
    console.print(
        "latency in ms from the intended send time (coordinated-omission corrected); svc = service time"
    )
    if manifest.abort_reason:
        console.print(f"[yellow]aborted:[/] {manifest.abort_reason}")
    for kind, record in manifest.profiles.items():
        console.print(f"profile {kind}: {record.status}" + (f" ({record.reason})" if record.reason else ""))
        for name, path in record.files.items():
            if name in SHOWN_PROFILE_FILES:
                console.print(f"  {name:17} {path}", highlight=False)
    console.print(f"run folder: {result.run_dir}")
