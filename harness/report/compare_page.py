"""``compare.html``: the comparison of two run sets, rendered from compare.json's model.

:mod:`harness.compare.compare` computes every figure; this module only renders them, from the
same :class:`~harness.compare.result.CompareFile` that compare.json holds, in the run report's
frame and chart style: a chart of each operation's p50 and p95, base against new, beside each
change with its interval and the threshold, then the table. Each compared run links to its report
by a path relative to the page (:mod:`.links`). The page builder (:func:`write_compare_page`)
also looks up the latest ``harness calibrate`` of the machine the compared runs ran on
(:func:`harness.history.db.calibration_for`) and passes its figures in.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from markupsafe import Markup
from matplotlib.axes import Axes
from matplotlib.lines import Line2D
from matplotlib.ticker import FuncFormatter

from harness.compare.compare import write_compare_json
from harness.compare.result import CompareFile, CompareResult, MetricComparison
from harness.contract import rundir
from harness.history import db
from harness.report import jinja
from harness.report.figures import (
    BLUE,
    GREEN,
    GRID,
    MUTED,
    RED,
    chart_figure,
    escape_mathtext,
    legend_above,
    styled,
    to_svg,
)
from harness.report.links import run_links

COMPARE_HTML = "compare.html"
#: The percentiles the chart shows per operation (the table has every metric).
CHARTED = ("p50", "p95")
STATUS_COLORS = {"regression": RED, "improvement": GREEN}
ROW_HEIGHT = 0.24  # inches per operation and percentile


def _charted(metrics: list[MetricComparison]) -> list[MetricComparison]:
    """p50 and p95 of every operation with both values, overall first, in compare.json's order."""
    rows = [m for m in metrics if m.metric in CHARTED and m.base is not None and m.new is not None]
    return sorted(rows, key=lambda m: m.operation != "overall")


def _values_panel(ax: Axes, rows: list[MetricComparison], y: np.ndarray) -> None:
    base = np.array([m.base for m in rows], dtype=float)
    new = np.array([m.new for m in rows], dtype=float)
    for b, n, row in zip(base, new, y, strict=True):
        ax.plot([b, n], [row, row], color=GRID, lw=2.2, zorder=1, solid_capstyle="round")
    ax.scatter(base, y, color=MUTED, s=18, zorder=2)
    ax.scatter(new, y, color=[STATUS_COLORS.get(m.status, BLUE) for m in rows], s=22, zorder=3)
    positive = np.concatenate([base, new])
    positive = positive[positive > 0]
    if positive.size and positive.max() / positive.min() > 20:
        ax.set_xscale("log")
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    ax.set_xlabel("latency (ms)" + (", log scale" if ax.get_xscale() == "log" else ""))
    shown = {m.status for m in rows}
    keys = [("base", MUTED), ("new", BLUE)] + [
        (status, color) for status, color in STATUS_COLORS.items() if status in shown
    ]
    handles = [Line2D([], [], ls="", marker="o", ms=5, color=color, label=label) for label, color in keys]
    legend_above(ax, handles=handles, ncols=len(handles))


def _change_panel(ax: Axes, rows: list[MetricComparison], y: np.ndarray, threshold: float) -> None:
    ax.axvspan(-threshold * 100, threshold * 100, color="#f3f4f6", lw=0, zorder=0)
    ax.axvline(0, color=MUTED, lw=0.8, zorder=1)
    for m, row in zip(rows, y, strict=True):
        if m.change is None:
            continue
        color = STATUS_COLORS.get(m.status, BLUE)
        if m.ci_low is not None and m.ci_high is not None:
            ax.plot([m.ci_low * 100, m.ci_high * 100], [row, row], color=color, lw=1.4, alpha=0.6, zorder=2)
        ax.scatter([m.change * 100], [row], color=color, s=22, zorder=3)
        ax.annotate(
            f"{m.change * 100:+.1f}%",
            (1.0, row),
            xycoords=("axes fraction", "data"),
            xytext=(4, 0),
            textcoords="offset points",
            va="center",
            fontsize=7.5,
            color=color,
        )
    ax.set_xlabel(f"change (%), interval; grey: within ±{threshold * 100:g}%")


@styled
def change_chart(result: CompareFile) -> Markup | None:
    """Per operation, p50 and p95 base → new (log axis when they span > 20x) and each change
    with its bootstrap interval against the threshold band; red regression, green improvement."""
    rows = _charted(result.metrics)
    if not rows:
        return None
    fig, (values_ax, change_ax) = chart_figure(
        0.95 + ROW_HEIGHT * len(rows), 2, sharey=True, left=1.55, right=0.92
    )
    y = np.arange(len(rows))[::-1].astype(float)
    _values_panel(values_ax, rows, y)
    _change_panel(change_ax, rows, y, result.settings.threshold)
    values_ax.set_yticks(y, [escape_mathtext(f"{m.operation} {m.metric}") for m in rows])
    values_ax.set_ylim(-0.7, len(rows) - 0.3)
    for ax in (values_ax, change_ax):
        ax.grid(axis="y", visible=False)
    return to_svg(fig)


def render_compare(
    result: CompareFile, calibration: db.CalibrationRow | None = None, page_dir: Path | None = None
) -> str:
    """The page; with ``page_dir`` (where it is written) the runs link to their reports."""
    overall_p95 = next((m for m in result.metrics if m.operation == "overall" and m.metric == "p95"), None)
    return jinja.render(
        "compare.html.j2",
        scenario=result.scenario,
        base=result.base,
        new=result.new,
        base_links=run_links(result.base.runs, page_dir) if page_dir else [],
        new_links=run_links(result.new.runs, page_dir) if page_dir else [],
        chart=change_chart(result),
        settings=result.settings,
        metrics=result.metrics,
        regressions=result.regressions,
        warnings=result.warnings,
        hotspots=result.hotspots,
        calibration=calibration,
        own_mde=None if overall_p95 is None else overall_p95.mde,
    )


def machine_calibration(result: CompareFile, out_dir: Path) -> db.CalibrationRow | None:
    """The latest sequential calibration of the machine the compared runs ran on (their manifests'
    fingerprints, as history.db recorded them; else the manifest in ``out_dir``); None without."""
    db_file = db.find_db(out_dir)
    if db_file is None:
        return None
    machines = db.machines_of_runs(db_file, [*result.base.runs, *result.new.runs])
    if not machines and (out_dir / rundir.MANIFEST_FILE).is_file():
        try:
            fingerprint = rundir.load_manifest(out_dir).machine.fingerprint
        except rundir.RunDirError:
            fingerprint = None
        machines = {fingerprint} if fingerprint else set()
    return db.calibration_for(db_file, machines, "sequential")


def write_compare_page(result: CompareFile, out_dir: Path) -> Path:
    """Write ``out_dir/compare.html`` atomically; return its path."""
    path = out_dir / COMPARE_HTML
    rundir.write_text_atomic(path, render_compare(result, machine_calibration(result, out_dir), out_dir))
    return path


def write_compare(result: CompareResult, out_dir: Path) -> tuple[Path, Path]:
    """Write compare.json (the compare stage's writer) and compare.html into ``out_dir``."""
    return write_compare_json(result, out_dir), write_compare_page(result.to_file(), out_dir)
