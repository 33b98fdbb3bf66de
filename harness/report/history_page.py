"""``reports/history.html``: trend charts per scenario with baselines and change points marked.

The series and change points come from :mod:`harness.history.series`; this module only draws
and renders, in the run report's look (:mod:`harness.report.figures`): one panel per measured
quantity stacked over the runs in order, rates, error rates and memory on an axis from 0. A
quantity no run measured, or one that is 0 in every run (no errors), is one line under the chart,
not an empty panel. Runs are linked to their reports by relative paths (:mod:`.links`).
history.json is written by :func:`harness.history.series.write_history_json`.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from markupsafe import Markup
from matplotlib.axes import Axes

from harness.contract import rundir
from harness.history.series import LATENCY_KEYS, ChangeRecord, History, Series, write_history_json
from harness.report import jinja
from harness.report.figures import (
    BLUE,
    PALETTE,
    RED,
    chart_figure,
    legend_above,
    log_if_wide,
    styled,
    to_svg,
)
from harness.report.links import RunLink, run_href

HISTORY_HTML = "history.html"


@dataclass(frozen=True)
class Panel:
    title: str
    keys: tuple[str, ...]
    scale: float = 1.0  # error rates are stored as fractions, drawn as %
    from_zero: bool = True
    absent: str = "not measured in any run"
    zero: str = ""  # the line shown instead of a panel that is 0 in every run ("" = draw it)


PANELS: tuple[Panel, ...] = (
    Panel("latency (ms)", LATENCY_KEYS, from_zero=False),
    Panel("error rate (%)", ("error_rate",), scale=100.0, zero="no failed requests in any run"),
    Panel("achieved rate (req/s)", ("rate",)),
    Panel("peak RSS (MB)", ("peak_rss_mb",), absent="not measured in any run (no monitor)"),
)
MAX_TICKS = 6
PANEL_HEIGHT = 1.75  # inches per stacked panel


@dataclass
class SeriesView:
    key: str
    scenario: str
    fingerprint: str
    runs: int
    baseline_run_id: str | None
    chart: Markup | None
    notes: list[str]  # quantities shown as one line instead of a panel
    changes: list[tuple[ChangeRecord, str | None]]  # each with the link to its first run after
    last_commit: str
    last_started_at: str
    latest: RunLink | None
    baseline: RunLink | None


def _tick_labels(series: Series) -> list[str]:
    return [f"{p.when:%m-%d %H:%M}\n{p.commit[:7]}" for p in series.points]


def _mark_changes(ax: Axes, series: Series, keys: tuple[str, ...]) -> None:
    """A red line at each change point of the panel's overall metrics, labelled once per run."""
    labels: dict[int, list[str]] = {}
    for change in series.changes:
        if change.operation == "overall" and change.metric in keys:
            labels.setdefault(change.index, []).append(f"{change.metric} {change.change * 100:+.0f}%")
    for index, texts in labels.items():
        ax.axvline(index, color=RED, ls="-", lw=1, alpha=0.7)
        ax.annotate(
            "\n".join(texts),
            (index, 0.98),
            xycoords=("data", "axes fraction"),
            fontsize=7,
            color=RED,
            rotation=90,
            va="top",
            ha="right",
            linespacing=1.1,
        )


def _mark_baseline(ax: Axes, series: Series) -> None:
    for index, point in enumerate(series.points):
        if point.run_id == series.baseline_run_id:
            ax.axvline(index, color=BLUE, ls="--", lw=1)
            ax.annotate("baseline", (index, 0.02), xycoords=("data", "axes fraction"), fontsize=7, color=BLUE)


def _values(series: Series, panel: Panel) -> dict[str, list[float]]:
    return {
        key: [float("nan") if v is None else v * panel.scale for v in series.values(key)]
        for key in panel.keys
    }


def _panels(series: Series) -> tuple[list[tuple[Panel, dict[str, list[float]]]], list[str]]:
    """The panels to draw and the one-line notes for the others (none measured / all zero)."""
    drawn, notes = [], []
    for panel in PANELS:
        values = _values(series, panel)
        present = [v for vs in values.values() for v in vs if v == v]  # NaN != NaN
        name = panel.title.split(" (")[0]
        if not present:
            notes.append(f"{name}: {panel.absent}")
        elif panel.zero and not any(present):
            notes.append(f"{name}: {panel.zero}")
        else:
            drawn.append((panel, values))
    return drawn, notes


def _plot_panel(ax: Axes, series: Series, panel: Panel, values: dict[str, list[float]]) -> None:
    x = list(range(len(series.points)))
    for key, color in zip(panel.keys, PALETTE[1:] if len(panel.keys) > 1 else PALETTE, strict=False):
        ax.plot(x, values[key], marker="o", ms=3, lw=1.3, color=color, label=key)
    every = np.asarray([v for vs in values.values() for v in vs], dtype=float)
    if panel.from_zero:  # rates, error rates, memory: from 0, with room above the highest point
        top = float(np.nanmax(every)) * 1.12
        ax.set_ylim(0, top if top > 0 else 1.0)
    else:
        log_if_wide(ax, every)
    _mark_changes(ax, series, panel.keys)
    _mark_baseline(ax, series)
    ax.set_title(panel.title)
    if len(panel.keys) > 1:
        legend_above(ax, ncols=len(panel.keys))


@styled
def series_chart(series: Series) -> tuple[Markup | None, list[str]]:
    """Stacked panels (latency, errors, rate, memory) over the runs of one series, in run order;
    the notes for the quantities not drawn."""
    drawn, notes = _panels(series)
    if not drawn or not series.points:
        return None, notes
    height = 0.94 + PANEL_HEIGHT * len(drawn)
    fig, axes = chart_figure(height, rows=len(drawn), sharex=True, bottom=0.62)  # two-line ticks
    for ax, (panel, values) in zip(axes, drawn, strict=True):
        _plot_panel(ax, series, panel, values)
    labels = _tick_labels(series)
    step = max(1, -(-len(labels) // MAX_TICKS))
    ticks = list(range(0, len(labels), step))
    axes[-1].set_xticks(ticks, [labels[i] for i in ticks], fontsize=7)
    axes[-1].set_xlim(-0.5, len(labels) - 0.5)
    return to_svg(fig), notes


def _view(series: Series, page_dir: Path) -> SeriesView:
    chart, notes = series_chart(series)

    def href(index: int) -> str | None:
        folder = Path(series.points[index].run_dir)
        return run_href(folder, page_dir) if (folder / rundir.MANIFEST_FILE).is_file() else None

    last = series.points[-1] if series.points else None
    base = next((i for i, p in enumerate(series.points) if p.run_id == series.baseline_run_id), None)
    return SeriesView(
        key=series.key,
        scenario=series.scenario,
        fingerprint=series.fingerprint,
        runs=len(series.points),
        baseline_run_id=series.baseline_run_id,
        chart=chart,
        notes=notes,
        changes=[(c, href(c.index)) for c in series.changes],
        last_commit=last.commit if last else "",
        last_started_at=last.started_at if last else "",
        latest=RunLink(last.run_id, href(len(series.points) - 1)) if last else None,
        baseline=None if base is None else RunLink(series.points[base].run_id, href(base)),
    )


def views_of(history: History, page_dir: Path = Path()) -> list[SeriesView]:
    return [_view(s, page_dir) for s in history.series]


def render_history(history: History, generated_at: str | None = None, page_dir: Path = Path()) -> str:
    """The page, its run links relative to ``page_dir`` (the folder it is written to)."""
    return jinja.render(
        "history.html.j2",
        views=views_of(history, page_dir),
        skipped=history.skipped,
        settings=history.settings,
        generated_at=generated_at or dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    )


def write_history(history: History, reports_dir: Path, out: Path | None = None) -> Path:
    """Write history.html (and history.json beside it) atomically; returns the HTML path."""
    target = out or reports_dir / HISTORY_HTML
    rundir.write_text_atomic(target, render_history(history, page_dir=target.parent))
    write_history_json(history, target.with_suffix(".json"))
    return target
