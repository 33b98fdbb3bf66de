"""``roi.html`` for ``harness roi --before/--after`` and ``switches.html`` for ``--switches``.

The ROI figures come from :mod:`harness.roi.roi`, the sweep from :mod:`harness.roi.switches`;
this module draws the cumulative-benefit chart and renders the pages, in the run report's frame
and chart style, the before and after runs linked to their reports (:mod:`.links`).
"""

from __future__ import annotations

from pathlib import Path

from markupsafe import Markup
from matplotlib.ticker import FuncFormatter

from harness.contract import rundir
from harness.report import jinja
from harness.report.figures import MUTED, PALETTE, chart_figure, legend_above, styled, to_svg
from harness.report.links import run_links
from harness.roi.outputs import RoiResult, write_roi_json
from harness.roi.switches import SUMMARY_METRICS, SweepResult

ROI_HTML = "roi.html"
SWITCHES_HTML = "switches.html"
MONTHS = 12


@styled
def cumulative_chart(result: RoiResult) -> Markup:
    """Cumulative net benefit over 12 months, one line per case: the one-off investment at month 0,
    then the case's monthly net (roi.json's figures); break-even marked where the case has one."""
    fig, (ax,) = chart_figure(2.9, left=0.95)
    months = list(range(MONTHS + 1))
    for (name, case), color in zip(result.cases.items(), PALETTE, strict=False):
        values = [month * case.net_monthly - case.one_off_investment for month in months]
        ax.plot(months, values, marker="o", ms=3, lw=1.4, color=color, label=name)
        if case.payback_months is not None and case.payback_months <= MONTHS:
            ax.plot([case.payback_months], [0.0], marker="D", ms=5, color=color, ls="")
    ax.axhline(0, color=MUTED, lw=0.8)
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:,.0f}"))
    ax.set_xticks(months)
    ax.set_xlabel("months after the change")
    ax.set_ylabel(f"cumulative net ({result.currency})")
    legend_above(ax, ncols=len(result.cases))
    return to_svg(fig)


def render_roi(result: RoiResult, page_dir: Path | None = None) -> str:
    """The page; with ``page_dir`` (where it is written) the runs link to their reports."""
    before = result.compare.base.runs if result.compare else []
    after = result.compare.new.runs if result.compare else []
    return jinja.render(
        "roi.html.j2",
        r=result,
        cases=result.cases,
        benefits=result.benefits,
        chart=cumulative_chart(result),
        before_runs=before,
        after_runs=after,
        before_links=run_links(before, page_dir) if page_dir else [],
        after_links=run_links(after, page_dir) if page_dir else [],
    )


def write_roi(result: RoiResult, out_dir: Path) -> tuple[Path, Path]:
    """roi.json (through the roi stage's writer) and roi.html into ``out_dir``."""
    json_path, html_path = write_roi_json(result, out_dir), out_dir / ROI_HTML
    rundir.write_text_atomic(html_path, render_roi(result, out_dir))
    return json_path, html_path


def render_switches(result: SweepResult, roi: RoiResult | None) -> str:
    labels = [label for _, label in SUMMARY_METRICS]
    return jinja.render("switches.html.j2", s=result, roi=roi, metric_labels=labels)


def write_switches_page(result: SweepResult, roi: RoiResult | None, out_dir: Path) -> Path:
    """Write ``out_dir/switches.html`` atomically; return its path."""
    path = out_dir / SWITCHES_HTML
    rundir.write_text_atomic(path, render_switches(result, roi))
    return path
