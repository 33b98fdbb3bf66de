"""The run page, ``report.html``: one self-contained file (inline CSS and SVG charts, no network).

Everything shown is computed by :mod:`harness.report.analysis`; charts come from
:mod:`harness.report.charts`; the page renders through :mod:`harness.report.jinja`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from markupsafe import Markup

from harness.contract import rundir
from harness.contract.runfolder import RunFolder
from harness.report import analysis, charts, jinja, profiles
from harness.verdict.gate import GateConfigError, evaluate_run
from harness.verdict.model import Verdict, load_verdict

REPORT_FILE = "report.html"
T = TypeVar("T")


@dataclass(frozen=True)
class Chart:
    id: str
    title: str
    caption: str
    svg: Markup | None
    missing: str | None = None  # not measured: why (listed under "Not measured, and why")
    empty: str | None = None  # measured, nothing to draw: one line in place of an empty axis


def _verdict_for(run_dir: Path, verdict: Verdict | None) -> tuple[Verdict | None, str, bool]:
    """(verdict, note, preview): preview when no gate ran and the page evaluated one for itself."""
    if verdict is not None:
        return verdict, "Verdict as evaluated by the gate.", False
    stored = load_verdict(run_dir)
    if stored is not None:
        evaluated = stored.evaluated_at.replace("T", " ")
        return stored, f"Verdict from verdict.json (evaluated {evaluated}).", False
    try:
        fresh = evaluate_run(run_dir)
    except GateConfigError as exc:
        return None, f"Not evaluated: {exc}", False
    note = "Not evaluated (no verdict.json): a preview with the default checklist, not the run's verdict."
    return fresh, note, True


def _optional(read: Callable[[], T]) -> T | None:
    """A file that is missing or invalid is shown as not measured rather than failing the page."""
    try:
        return read()
    except rundir.RunDirError:
        return None


def _charts(data: analysis.ReportData) -> list[Chart]:
    series = data.series
    no_series = "timeseries.csv is missing"

    def chart(chart_id: str, title: str, caption: str, svg: Markup | None, missing: str) -> Chart:
        return Chart(chart_id, title, caption, svg, None if svg else missing)

    errors = data.errors_by_kind
    errors_chart = charts.errors_chart(errors, series) if errors is not None else None
    no_errors = "No failed requests and no dropped sends in the measured window."
    return [
        chart(
            "throughput",
            "Throughput: achieved vs target",
            "Completed requests per second against the scheduled rate; shaded bands are load stages.",
            charts.throughput_chart(series) if series else None,
            "timeseries.csv has no rate column" if series else no_series,
        ),
        chart(
            "latency",
            "Latency percentiles over time",
            "Per-second p50/p95/p99/max, measured from the "
            "intended send time (coordinated omission corrected).",
            charts.latency_chart(series) if series else None,
            "no request completed in the measured window" if series else no_series,
        ),
        chart(
            "distribution",
            "Latency distribution",
            "HDR percentile curve per operation; the right end is the tail that users meet under load.",
            charts.percentile_chart(data.percentile_curves),
            "histograms.json is missing or empty",
        ),
        Chart(
            "errors",
            "Errors over time by kind",
            "Failed requests per second, stacked by error kind.",
            errors_chart,
            "samples.parquet is missing" if errors is None else None,
            no_errors if errors is not None and errors_chart is None else None,
        ),
        chart(
            "resources",
            "Target CPU and memory",
            "CPU of the target's process tree (100% = one core) and its resident memory.",
            charts.resources_chart(series) if series else None,
            "the monitor recorded no CPU or RSS for the target",
        ),
        chart(
            "runtime",
            "Queue depth and cache hit rates",
            "From the runtime's metrics endpoint" + _unreported(series) + ".",
            charts.runtime_chart(series) if series else None,
            "the target exposes no queue depth or cache metrics",
        ),
    ]


def _unreported(series: analysis.Series | None) -> str:
    """``; queue depth not reported`` when only one panel of the runtime chart has data."""
    if series is None:
        return ""
    cache = ("cache_hit_rate", "cache_hit_rate_l1", "cache_hit_rate_l2", "cache_hit_rate_l3")
    queue, caches = series.get("queue_depth") is not None, any(series.get(c) is not None for c in cache)
    if queue == caches:
        return ""
    return "; cache hit rates not reported" if queue else "; queue depth not reported"


def build_report_data(
    run_dir: Path, verdict: Verdict | None, report_dir: Path
) -> tuple[analysis.ReportData, list[Chart]]:
    folder = RunFolder(run_dir)
    manifest = folder.manifest
    verdict, verdict_note, preview = _verdict_for(run_dir, verdict)
    summary = _optional(lambda: folder.summary)
    timeseries = _optional(lambda: folder.timeseries)
    histograms = _optional(lambda: folder.histograms)
    seconds = len(timeseries) if timeseries is not None else 0
    data = analysis.ReportData(
        run_id=manifest.run_id,
        title=manifest.scenario_name,
        description=str(manifest.scenario.get("description") or ""),
        run_status=manifest.status,
        incomplete=manifest.status != "complete",
        abort_reason=manifest.abort_reason,
        banner=analysis.build_banner(verdict, manifest, preview=preview),
        verdict_note=verdict_note,
        facts=analysis.build_facts(manifest),
        switches=analysis.build_switches(manifest),
        operation_header=analysis.OPERATION_HEADER,
        operations=analysis.build_operations(summary, verdict),
        series=analysis.build_series(timeseries, summary),
        percentile_curves=analysis.percentile_curves(histograms),
        errors_by_kind=_optional(lambda: analysis.errors_by_kind(folder, seconds)),
        error_kinds=analysis.error_kind_table(summary),
        checklist=analysis.build_checklist(verdict),
        profiles=profiles.build_profiles(manifest, run_dir, report_dir),
        not_measured=[],
        generated_at=dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
    )
    chart_list = _charts(data)
    missing = [analysis.Fact(f"chart: {c.title}", c.missing) for c in chart_list if c.missing]
    data.not_measured = analysis.build_not_measured(manifest, verdict, missing)
    data.not_applicable, data.run_kind = _not_applicable(verdict)
    return data, chart_list


def _not_applicable(verdict: Verdict | None) -> tuple[list[analysis.Fact], str | None]:
    """Checklist rules written for other kinds of run: listed apart, never as not measured."""
    if verdict is None:
        return [], None
    rules = [r for r in verdict.rules if r.status == "not-applicable"]
    return [analysis.Fact(r.title or r.text, f"{r.text} — {r.reason}") for r in rules], verdict.run_kind


def render_report(run_dir: Path, *, out: Path | None = None, verdict: Verdict | None = None) -> Path:
    """Write ``report.html`` (or ``out``) for a run folder and return its path."""
    out = out or run_dir / REPORT_FILE
    data, chart_list = build_report_data(run_dir, verdict, out.parent)
    html = jinja.render("report.html.j2", report=data, charts=chart_list)
    rundir.write_text_atomic(out, html)
    return out
