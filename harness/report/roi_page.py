"""``roi.html`` for ``harness roi --before/--after`` and ``switches.html`` for ``--switches``.

The ROI figures come from :mod:`harness.roi.roi`, the sweep from :mod:`harness.roi.switches`;
this module draws the cumulative-benefit chart and renders the pages.
"""

from __future__ import annotations

from pathlib import Path

from markupsafe import Markup

from harness.contract import rundir
from harness.report import jinja
from harness.report.figures import MUTED, PALETTE, new_figure, styled, to_svg
from harness.roi.outputs import RoiResult, write_roi_json
from harness.roi.switches import SUMMARY_METRICS, SweepResult

ROI_HTML = "roi.html"
SWITCHES_HTML = "switches.html"
MONTHS = 12


@styled
def cumulative_chart(result: RoiResult) -> Markup:
    """Cumulative net benefit over 12 months, one line per case (break-even where it crosses 0)."""
    fig = new_figure(8, 3.6)
    ax = fig.subplots()
    months = list(range(MONTHS + 1))
    for (name, case), color in zip(result.cases.items(), PALETTE, strict=False):
        values = [month * case.net_monthly - case.one_off_investment for month in months]
        ax.plot(months, values, marker="o", ms=3, color=color, label=name)
    ax.axhline(0, color=MUTED, lw=0.8)
    ax.set_xlabel("months")
    ax.set_ylabel(f"cumulative net ({result.currency})")
    ax.legend()
    fig.tight_layout()
    return to_svg(fig)


def render_roi(result: RoiResult) -> str:
    return jinja.render(
        "roi.html.j2",
        r=result,
        cases=result.cases,
        benefits=result.benefits,
        chart=cumulative_chart(result),
        before_runs=result.compare.base.runs if result.compare else [],
        after_runs=result.compare.new.runs if result.compare else [],
    )


def write_roi(result: RoiResult, out_dir: Path) -> tuple[Path, Path]:
    """roi.json (through the roi stage's writer) and roi.html into ``out_dir``."""
    json_path, html_path = write_roi_json(result, out_dir), out_dir / ROI_HTML
    rundir.write_text_atomic(html_path, render_roi(result))
    return json_path, html_path


def render_switches(result: SweepResult, roi: RoiResult | None) -> str:
    labels = [label for _, label in SUMMARY_METRICS]
    return jinja.render("switches.html.j2", s=result, roi=roi, metric_labels=labels)


def write_switches_page(result: SweepResult, roi: RoiResult | None, out_dir: Path) -> Path:
    """Write ``out_dir/switches.html`` atomically; return its path."""
    path = out_dir / SWITCHES_HTML
    rundir.write_text_atomic(path, render_switches(result, roi))
    return path
