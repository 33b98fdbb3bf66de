"""``reports/history.html``: trend charts per scenario with baselines and change points marked.

The analysis (series, change points) comes from :mod:`harness.history.series`; this module only
draws and renders.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.contract import rundir
from harness.history.series import LATENCY_KEYS, ChangeRecord, History, Series
from harness.report import html

HISTORY_HTML = "history.html"
HISTORY_JSON = "history.json"
PANELS: tuple[tuple[str, tuple[str, ...], str], ...] = (
    ("latency (ms)", LATENCY_KEYS, "ms"),
    ("error rate (%)", ("error_rate",), "%"),
    ("achieved rate (req/s)", ("rate",), "req/s"),
    ("peak RSS (MB)", ("peak_rss_mb",), "MB"),
)


@dataclass
class SeriesView:
    key: str
    scenario: str
    fingerprint: str
    runs: int
    baseline_run_id: str | None
    chart: str
    changes: list[ChangeRecord]
    last_commit: str
    last_started_at: str


def _tick_labels(series: Series) -> list[str]:
    return [f"{p.when:%m-%d %H:%M}\n{p.commit[:7]}" for p in series.points]


MAX_TICKS = 6


def _plot_panel(ax: Any, series: Series, keys: tuple[str, ...], title: str, x: list[dt.datetime]) -> None:
    scale = 100.0 if title.startswith("error") else 1.0
    for key in keys:
        values = [None if v is None else v * scale for v in series.values(key)]
        ax.plot(x, [float("nan") if v is None else v for v in values], marker="o", ms=3, lw=1.2, label=key)
    for change in series.changes:
        if change.operation == "overall" and change.metric in keys:
            when = series.points[change.index].when
            ax.axvline(when, color="#c0392b", ls="-", lw=1, alpha=0.7)
            ax.annotate(
                f"{change.metric} {change.change * 100:+.0f}%",
                (when, 1.0),
                xycoords=("data", "axes fraction"),
                fontsize=7,
                color="#c0392b",
                rotation=90,
                va="top",
                ha="right",
            )
    for point in series.points:
        if point.run_id == series.baseline_run_id:
            ax.axvline(point.when, color="#2c7be5", ls="--", lw=1)
            ax.annotate(
                "baseline",
                (point.when, 0.02),
                xycoords=("data", "axes fraction"),
                fontsize=7,
                color="#2c7be5",
            )
    ax.set_title(title, fontsize=9)
    ax.grid(alpha=0.3)
    if len(keys) > 1:
        ax.legend(fontsize=7, loc="upper left")


def series_chart(series: Series) -> str:
    plt = html.pyplot()
    fig, axes = plt.subplots(2, 2, figsize=(11, 6), sharex=True)
    x = [p.when for p in series.points]
    for ax, (title, keys, _unit) in zip(axes.flat, PANELS, strict=True):
        _plot_panel(ax, series, keys, title, x)
    labels = _tick_labels(series)
    step = max(1, -(-len(x) // MAX_TICKS))
    axes[0][0].set_yscale("log")  # p50 and p99 differ by an order of magnitude
    for ax in axes[1]:
        ax.set_xticks(x[::step])
        ax.set_xticklabels(labels[::step], fontsize=7)
    fig.suptitle(series.key, fontsize=11)
    fig.tight_layout()
    return html.figure_data_uri(fig)


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
    return html.render(
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
    rundir.write_json_atomic(target.with_suffix(".json"), history.to_json())
    return target
