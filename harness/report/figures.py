"""The one chart encoder: a matplotlib figure becomes inline SVG markup in the page.

SVG rather than PNG: it scales with the page, its text stays text (searchable, selectable, in the
page's font), and on the pages' figures it is about as small as a base64 PNG. Figures are made
without pyplot (:func:`new_figure`), so there is no global figure registry to leak into and
pyplot's import cost is avoided. The house style applies inside :func:`styled` only, never to the
global rcParams.

Every page's charts share this one look: the run report's palette as the colour cycle, fixed
margins (:func:`chart_figure`), legends above the plot (:func:`legend_above`), titles on the left,
a log axis only when values span more than 50x (:func:`log_if_wide`), and non-negative quantities
(rates, error rates, memory) on an axis from 0. An empty chart is not drawn: the page says so in
one line instead.
"""

from __future__ import annotations

import functools
import io
import itertools
import re
from collections.abc import Callable
from typing import Any, ParamSpec, TypeVar

import matplotlib

matplotlib.use("Agg")

import numpy as np
from cycler import cycler
from markupsafe import Markup
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter

INK = "#1f2937"
MUTED = "#6b7280"
GRID = "#e5e7eb"
PALETTE = ["#2563eb", "#0d9488", "#d97706", "#7c3aed", "#db2777", "#475569", "#65a30d", "#0891b2"]
RED = "#dc2626"
BLUE = "#2563eb"
GREEN = "#047857"
WIDTH = 8.2  # inches: every chart of every page, scaled to the page's width by CSS
STYLE: dict[str, Any] = {
    "font.family": ["DejaVu Sans"],
    "font.size": 8.5,
    "axes.edgecolor": "#9ca3af",
    "axes.labelcolor": MUTED,
    "axes.titlesize": 9,
    "axes.titlelocation": "left",
    "axes.titlecolor": INK,
    "axes.prop_cycle": cycler(color=PALETTE),
    "xtick.color": MUTED,
    "ytick.color": MUTED,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.color": GRID,
    "grid.linewidth": 0.6,
    "legend.frameon": False,
    "legend.fontsize": 8,
    "svg.fonttype": "none",  # text stays text: crisp, selectable, page font
}
_counter = itertools.count()
P = ParamSpec("P")
R = TypeVar("R")


def styled(draw: Callable[P, R]) -> Callable[P, R]:
    """Run a chart function inside the pages' matplotlib style (without touching global rcParams)."""

    @functools.wraps(draw)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        with matplotlib.rc_context(STYLE):  # type: ignore[arg-type]
            return draw(*args, **kwargs)

    return wrapper


def new_figure(width: float, height: float) -> Figure:
    """A figure not registered with pyplot (garbage-collected like any object)."""
    return Figure(figsize=(width, height))


def chart_figure(
    height: float = 2.6,
    columns: int = 1,
    rows: int = 1,
    *,
    right: float = 0.975,
    sharex: bool = False,
    sharey: bool = False,
    bottom: float = 0.47,
    left: float = 0.72,
) -> tuple[Figure, list[Axes]]:
    """The pages' chart frame: 8.2 in wide, fixed margins (layout solving doubled the drawing
    time; ``bottom`` and ``left`` in inches), ``rows`` x ``columns`` axes in reading order."""
    fig = new_figure(WIDTH, height)
    axes = fig.subplots(rows, columns, sharex=sharex, sharey=sharey, squeeze=False)
    fig.subplots_adjust(
        left=left / WIDTH,
        right=right,
        top=1 - 0.32 / height,
        bottom=bottom / height,
        wspace=0.22,
        hspace=0.5 * rows / max(height - 0.79, 0.5),  # about 0.5 in between rows
    )
    return fig, list(axes.flat)


def legend_above(ax: Axes, **kwargs: Any) -> None:
    """Legends sit above the plot area, right-aligned, so they never hide data."""
    ax.legend(loc="lower right", bbox_to_anchor=(1.0, 1.0), borderaxespad=0.2, **kwargs)


def log_if_wide(ax: Axes, values: np.ndarray) -> None:
    """A log axis (plain tick labels) when the positive values span more than 50x."""
    finite = values[np.isfinite(values) & (values > 0)]
    if finite.size and finite.max() / max(finite.min(), 1e-3) > 50:
        ax.set_yscale("log")
        plain = FuncFormatter(lambda v, _: f"{v:g}")
        ax.yaxis.set_major_formatter(plain)
        ax.yaxis.set_minor_formatter(FuncFormatter(lambda v, _: ""))


def escape_mathtext(label: str) -> str:
    """Labels come from run folders (operation names, error messages); '$' must not start mathtext."""
    return label.replace("$", r"\$")


def to_svg(fig: Figure) -> Markup:
    """Inline SVG: no XML prologue or metadata, ids unique per chart, size from the page's CSS."""
    buffer = io.StringIO()
    salt = f"chart{next(_counter)}"  # ids (clip paths, markers) must not collide between charts
    with matplotlib.rc_context({**STYLE, "svg.hashsalt": salt}):  # type: ignore[arg-type,dict-item]
        fig.savefig(
            buffer, format="svg", metadata={"Date": None, "Creator": None, "Format": None, "Type": None}
        )
    text = buffer.getvalue()
    text = text[text.index("<svg") :]
    text = re.sub(r"<metadata>.*?</metadata>", "", text, flags=re.DOTALL)
    text = re.sub(r'\s(width|height)="[0-9.]+pt"', "", text, count=2)
    # matplotlib escapes every text it writes into the SVG, so the markup is safe to inline.
    return Markup(text.replace("<svg ", '<svg role="img" preserveAspectRatio="xMidYMid meet" ', 1))
