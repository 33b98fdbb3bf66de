"""``reports/history.html``: trend charts per scenario with baselines and change points marked.

The series and change points come from :mod:`harness.history.series`; this module only draws
and renders. history.json is written by :func:`harness.history.series.write_history_json`.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

from markupsafe import Markup
from matplotlib.axes import Axes
from matplotlib.ticker import FuncFormatter

from harness.contract import rundir
from harness.history.series import LATENCY_KEYS, ChangeRecord, History, Series, write_history_json
from harness.report import jinja
from harness.report.figures import BLUE, RED, new_figure, styled, to_svg

HISTORY_HTML = "history.html"
PANELS: tuple[tuple[str, tuple[str, ...], str], ...] = (
    ("latency (ms)", LATENCY_KEYS, "ms"),
    ("error rate (%)", ("error_rate",), "%"),
    ("achieved rate (req/s)", ("rate",), "req/s"),
    ("peak RSS (MB)", ("peak_rss_mb",), "MB"),
)
MAX_TICKS = 6


@dataclass
class SeriesView:
    key: str
    scenario: str
    fingerprint: str
    runs: int
    baseline_run_id: str | None
    chart: Markup
    changes: list[ChangeRecord]
    last_commit: str
    last_started_at: str


def _tick_labels(series: Series) -> list[str]:
    return [f"{p.when:%m-%d %H:%M}\n{p.commit[:7]}" for p in series.points]


def _mark_changes(ax: Axes, series: Series, keys: tuple[str, ...]) -> None:
    for change in series.changes:
        if change.operation == "overall" and change.metric in keys:
            when = series.points[change.index].when
            ax.axvline(when, color=RED, ls="-", lw=1, alpha=0.7)  # type: ignore[arg-type]
            ax.annotate(
                f"{change.metric} {change.change * 100:+.0f}%",
                (when, 1.0),  # type: ignore[arg-type]
                xycoords=("data", "axes fraction"),
                fontsize=7,
                color=RED,
                rotation=90,
                va="top",
                ha="right",
            )


def _mark_baseline(ax: Axes, series: Series) -> None:
    for point in series.points:
        if point.run_id == series.baseline_run_id:
            ax.axvline(point.when, color=BLUE, ls="--", lw=1)  # type: ignore[arg-type]
            ax.annotate(
                "baseline",
                (point.when, 0.02),  # type: ignore[arg-type]
                xycoords=("data", "axes fraction"),
                fontsize=7,
                color=BLUE,
            )


def _plot_panel(ax: Axes, series: Series, keys: tuple[str, ...], title: str, x: list[dt.datetime]) -> None:
    scale = 100.0 if title.startswith("error") else 1.0
    for key in keys:
        values = [float("nan") if v is None else v * scale for v in series.values(key)]
        ax.plot(x, values, marker="o", ms=3, lw=1.2, label=key)  # type: ignore[arg-type]
    _mark_changes(ax, series, keys)
    _mark_baseline(ax, series)
    ax.set_title(title, loc="left")
    if len(keys) > 1:
        ax.legend(loc="upper left")


@styled
def series_chart(series: Series) -> Markup:
    """Four panels (latency, errors, rate, memory) over the runs of one series."""
    fig = new_figure(11, 6)
    axes = fig.subplots(2, 2, sharex=True)
    x = [p.when for p in series.points]
    for ax, (title, keys, _unit) in zip(axes.flat, PANELS, strict=True):
        _plot_panel(ax, series, keys, title, x)
    labels = _tick_labels(series)
    step = max(1, -(-len(x) // MAX_TICKS))
    axes[0][0].set_yscale("log")  # p50 and p99 differ by an order of magnitude
    plain = FuncFormatter(lambda v, _: f"{v:g}")
    axes[0][0].yaxis.set_major_formatter(plain)
    axes[0][0].yaxis.set_minor_formatter(plain)
    for ax in axes[1]:
        ax.set_xticks(x[::step])  # type: ignore[arg-type]
        ax.set_xticklabels(labels[::step], fontsize=7)
    fig.suptitle(series.key, fontsize=11)
    fig.tight_layout()
    return to_svg(fig)


def views_of(history: History) -> list[SeriesView]:
    return [
        SeriesView(
            key=s.key,
            scenario=s.scenario,
            fingerprint=s.fingerprint,
            runs=len(s.points),
            baseline_run_id=s.baseline_run_id,
            chart=series_chart(s),
            changes=s.changes,
            last_commit=s.points[-1].commit if s.points else "",
            last_started_at=s.points[-1].started_at if s.points else "",
        )
        for s in history.series
    ]


def render_history(history: History, generated_at: str | None = None) -> str:
    return jinja.render(
        "history.html.j2",
        views=views_of(history),
        skipped=history.skipped,
        settings=history.settings,
        generated_at=generated_at or dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    )


def write_history(history: History, reports_dir: Path, out: Path | None = None) -> Path:
    """Write history.html (and history.json beside it) atomically; returns the HTML path."""
    target = out or reports_dir / HISTORY_HTML
    rundir.write_text_atomic(target, render_history(history))
    write_history_json(history, target.with_suffix(".json"))
    return target
