"""The run page's charts (matplotlib, encoded by :func:`harness.report.figures.to_svg`).

Inputs are prepared by analysis.py; every function returns inline SVG, or None when there is
nothing to draw: the run did not measure what the chart shows, or (the errors chart) measured
nothing but zeros, which the page says in one line instead of an empty axis.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from markupsafe import Markup
from matplotlib.axes import Axes
from matplotlib.ticker import FuncFormatter

from harness.report.analysis import Series
from harness.report.figures import (
    INK,
    MUTED,
    PALETTE,
    RED,
    chart_figure,
    escape_mathtext,
    legend_above,
    log_if_wide,
    styled,
    to_svg,
)


def _time_axis(t: np.ndarray) -> tuple[np.ndarray, str]:
    span = float(t.max()) if t.size else 0.0
    if span > 3 * 3600:
        return t / 3600.0, "time (h)"
    if span > 600:
        return t / 60.0, "time (min)"
    return t, "time (s)"


def _time_scale(t: np.ndarray) -> float:
    span = float(t.max()) if t.size else 0.0
    return 3600.0 if span > 3 * 3600 else 60.0 if span > 600 else 1.0


def _stage_bands(ax: Axes, series: Series, scale: float) -> None:
    if len(series.stages) < 2:
        return
    for index, (start, end, rate) in enumerate(series.stages):
        if index % 2:
            ax.axvspan(start / scale, end / scale, color="#f3f4f6", zorder=0, lw=0)
        if len(series.stages) <= 12 and rate is not None:
            ramp = index < len(series.ramps) and series.ramps[index]
            ax.annotate(
                "ramp" if ramp else f"{rate:.3g}/s",
                xy=((start + end) / 2 / scale, 0.98),
                xycoords=("data", "axes fraction"),
                ha="center",
                va="top",
                fontsize=7,
                color=MUTED,
            )


@styled
def throughput_chart(series: Series) -> Markup | None:
    rate = series.get("rate")
    if rate is None:
        return None
    fig, (ax,) = chart_figure()
    scale = _time_scale(series.t)
    t, label = _time_axis(series.t)
    _stage_bands(ax, series, scale)
    target = series.get("target_rate")
    if target is not None:  # the schedule per second: a ramp stage is drawn as a ramp
        ax.plot(t, target, color=INK, lw=1.2, ls="--", label="target rate (scheduled)")
    ax.plot(t, rate, color=PALETTE[0], lw=1.4, label="achieved (completed/s)")
    dropped = series.get("dropped")
    if dropped is not None and np.nansum(dropped) > 0:
        ax.fill_between(t, 0, dropped, color=RED, alpha=0.35, lw=0, label="dropped sends/s")
    ax.set_xlabel(label)
    ax.set_ylabel("requests / s")
    ax.set_ylim(bottom=0)
    legend_above(ax, ncols=3)
    return to_svg(fig)


@styled
def latency_chart(series: Series) -> Markup | None:
    lines = [(name, series.get(f"{name}_ms")) for name in ("p50", "p95", "p99", "max")]
    present = [(name, values) for name, values in lines if values is not None]
    if not present:
        return None
    fig, (ax,) = chart_figure()
    scale = _time_scale(series.t)
    t, label = _time_axis(series.t)
    _stage_bands(ax, series, scale)
    colors = {"p50": PALETTE[1], "p95": PALETTE[0], "p99": PALETTE[2], "max": "#9ca3af"}
    for name, values in present:
        ax.plot(t, values, color=colors[name], lw=1.6 if name != "max" else 0.9, label=name)
    log_if_wide(ax, np.concatenate([v for _, v in present]))
    ax.set_xlabel(label)
    ax.set_ylabel("latency (ms)")
    legend_above(ax, ncols=4)
    return to_svg(fig)


def _line_style(values: np.ndarray, color: str) -> dict[str, Any]:
    """Sparse series (gaps where a second had no value) get markers, or lone points vanish."""
    sparse = bool(np.isnan(values).any())
    return {"color": color, "lw": 1.3, "marker": "o" if sparse else None, "markersize": 2.5}


@styled
def percentile_chart(curves: dict[str, tuple[np.ndarray, np.ndarray]]) -> Markup | None:
    if not curves:
        return None
    fig, (ax,) = chart_figure(3.1)
    ordered = sorted(curves.items(), key=lambda item: item[0] == "overall")
    colors = iter(PALETTE)
    for name, (percentiles, values) in ordered:
        nines = -np.log10(np.maximum(1.0 - percentiles / 100.0, 1e-9))
        overall = name == "overall"
        ax.plot(
            nines,
            values,
            color=INK if overall else next(colors, MUTED),
            lw=2.0 if overall else 1.3,
            label=escape_mathtext(name),
        )
    ticks = [0, 1, 2, 3, 4, 5]
    ax.set_xticks(ticks, ["0%", "90%", "99%", "99.9%", "99.99%", "99.999%"])
    ax.set_xlim(0, max(float(np.max(-np.log10(np.maximum(1 - p / 100, 1e-9)))) for p, _ in curves.values()))
    ax.set_yscale("log")
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    ax.set_xlabel("percentile (HDR histogram, log scale of 1 / (1 − p))")
    ax.set_ylabel("latency (ms)")
    # Curves rise to the right: the lower right corner is where they are not.
    ax.legend(loc="lower right", ncols=2, frameon=True, framealpha=0.9, edgecolor="none")
    return to_svg(fig)


@styled
def errors_chart(errors: pd.DataFrame, series: Series | None) -> Markup | None:
    """Failed requests per second by kind (and dropped sends, dotted); None when there were
    neither: the page then says "no failed requests" in one line."""
    dropped = series.get("dropped") if series is not None else None
    has_dropped = dropped is not None and bool(np.nansum(dropped) > 0)
    if not errors.shape[1] and not has_dropped:
        return None
    fig, (ax,) = chart_figure()
    t_raw = errors.index.to_numpy(dtype=float)
    scale = _time_scale(t_raw)
    t, label = _time_axis(t_raw)
    if t.size:
        ax.set_xlim(0, float(t.max()) + (t[1] - t[0] if t.size > 1 else 1.0))
    if errors.shape[1]:
        ax.stackplot(
            t,
            [errors[c].to_numpy(dtype=float) for c in errors.columns],
            labels=[escape_mathtext(str(c)) for c in errors.columns],
            colors=[RED, *PALETTE][: errors.shape[1]],
            alpha=0.85,
            step="post",
        )
    if series is not None and dropped is not None and has_dropped:
        ax.plot(series.t / scale, dropped, color=INK, lw=1, ls=":", label="dropped sends (not errors)")
    ax.set_xlabel(label)
    ax.set_ylabel("failed requests / s")
    ax.set_ylim(bottom=0)
    legend_above(ax, ncols=4)
    return to_svg(fig)


@styled
def resources_chart(series: Series) -> Markup | None:
    cpu, rss = series.get("cpu_percent"), series.get("rss_mb")
    if cpu is None and rss is None:
        return None
    fig, (ax,) = chart_figure(right=0.915 if cpu is not None and rss is not None else 0.975)
    t, label = _time_axis(series.t)
    handles = []
    if cpu is not None:
        handles += ax.plot(t, cpu, color=PALETTE[0], lw=1.3, label="CPU % (target process tree)")
        ax.set_ylabel("CPU %")
        ax.set_ylim(bottom=0)
    if rss is not None:
        right = ax.twinx() if cpu is not None else ax
        handles += right.plot(t, rss, color=PALETTE[3], lw=1.6, label="RSS (MB)")
        right.set_ylabel("RSS (MB)")
        right.spines["right"].set_visible(True)
        right.spines["top"].set_visible(False)
        right.grid(False)
    ax.set_xlabel(label)
    ax.legend(handles=handles, loc="lower right", bbox_to_anchor=(1.0, 1.0), borderaxespad=0.2, ncols=2)
    return to_svg(fig)


@styled
def runtime_chart(series: Series) -> Markup | None:
    """Queue depth and cache hit rates, side by side; only the panels the target reported."""
    queue = series.get("queue_depth")
    caches = [
        (name, values)
        for name, values in (
            ("all layers", series.get("cache_hit_rate")),
            ("L1", series.get("cache_hit_rate_l1")),
            ("L2", series.get("cache_hit_rate_l2")),
            ("L3", series.get("cache_hit_rate_l3")),
        )
        if values is not None
    ]
    if queue is None and not caches:
        return None
    fig, axes = chart_figure(2.6, 2 if queue is not None and caches else 1)
    t, label = _time_axis(series.t)
    panels = iter(axes)
    if queue is not None:
        ax = next(panels)
        ax.plot(t, queue, **_line_style(queue, PALETTE[2]))
        top = max(1.0, float(np.nanmax(queue)) * 1.1)
        ax.set_ylim(-0.03 * top, top)  # an idle queue is a flat 0, kept off the axis line
        ax.set_title("queue depth")
    if caches:
        ax = next(panels)
        for (name, values), color in zip(caches, [INK, *PALETTE], strict=False):
            ax.plot(t, values * 100.0, label=name, **_line_style(values, color))
        ax.set_ylim(-4, 104)  # lines at 0% and 100% stay visible
        ax.set_title("cache hit rate (%)")
        ax.legend(loc="lower right", ncols=2, frameon=True, framealpha=0.9, edgecolor="none")
    for ax in axes:
        ax.set_xlabel(label)
        if t.size:
            ax.set_xlim(float(t.min()), float(t.max()))
    return to_svg(fig)
