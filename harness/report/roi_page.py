"""roi.json + roi.html for ``harness roi --before/--after``; the sweep page for ``--switches``."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Any

from harness.compare.compare import CompareResult
from harness.contract import rundir
from harness.report import html
from harness.roi.roi import BenefitRow, RoiResult

ROI_JSON = "roi.json"
ROI_HTML = "roi.html"


def cumulative_chart(result: RoiResult) -> str:
    """Cumulative net benefit over 12 months, one line per case (break-even where it crosses 0)."""
    plt = html.pyplot()
    fig, ax = plt.subplots(figsize=(8, 3.6))
    months = list(range(13))
    for name, case in result.cases.items():
        values = [month * case.net_monthly - case.one_off_investment for month in months]
        ax.plot(months, values, marker="o", ms=3, label=name)
    ax.axhline(0, color="#555", lw=0.8)
    ax.set_xlabel("months")
    ax.set_ylabel(f"cumulative net ({result.currency})")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return html.figure_data_uri(fig)


def render_roi(result: RoiResult, benefits: list[BenefitRow], compare: CompareResult | None) -> str:
    return html.render(
        "roi.html.j2",
        r=result,
        cases=result.cases,
        benefits=benefits,
        chart=cumulative_chart(result),
        before_runs=compare.base.runs if compare else [],
        after_runs=compare.new.runs if compare else [],
    )


def write_roi(
    result: RoiResult, benefits: list[BenefitRow], compare: CompareResult | None, out_dir: Path
) -> tuple[Path, Path]:
    data: dict[str, Any] = result.to_json()
    data["benefits"] = [asdict(b) for b in benefits]
    if compare is not None:
        data["compare"] = {"base": asdict(compare.base), "new": asdict(compare.new)}
    json_path, html_path = out_dir / ROI_JSON, out_dir / ROI_HTML
    rundir.write_json_atomic(json_path, data)
    rundir.write_text_atomic(html_path, render_roi(result, benefits, compare))
    return json_path, html_path
