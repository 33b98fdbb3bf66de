"""``ab.html``: the paired (duet) comparison of two targets, rendered from ab.json's model.

:mod:`harness.compare.paired` computes every figure — the verdict, the MDE the banner quotes, the
per-window series and the interval band, the differential CPU hotspots beside the verdict
(``--profile cpu``) and the repeats' boundaries; this module only draws them (through the one chart
encoder) and renders the page. :func:`write_ab` also looks up the latest duet ``harness calibrate``
of the machine both sides ran on (:func:`harness.history.db.calibration_for`) and passes it in.
"""

from __future__ import annotations

from pathlib import Path

from markupsafe import Markup
from matplotlib.axes import Axes

from harness.compare.ab_result import AbResult, AbSeries, write_ab_json
from harness.contract import rundir
from harness.history import db
from harness.report import jinja
from harness.report.figures import BLUE, GRID, MUTED, PALETTE, RED, new_figure, styled, to_svg

AB_HTML = "ab.html"


def _y(values: list[float | None]) -> list[float]:
    """A missing window (None in the model) is a gap in the line."""
    return [float("nan") if v is None else v for v in values]


def _mark_repeats(ax: Axes, series: AbSeries) -> None:
    """A dotted line where each repeat after the first begins (``--repeat N``)."""
    for t in series.repeat_starts:
        ax.axvline(t, color=MUTED, lw=0.8, ls=":")


@styled
def windows_chart(series: AbSeries) -> Markup:
    """A's and B's overall p95 per paired window, on one axis."""
    fig = new_figure(8, 3.0)
    ax = fig.subplots()
    ax.plot(series.t, _y(series.a), color=BLUE, lw=1.2, label="A")
    ax.plot(
        series.t,
        _y(series.b),
        color=PALETTE[2],
        lw=1.2,
        label="B",
    )
    _mark_repeats(ax, series)
    ax.set_xlabel(f"window start (s), {series.block_seconds} s windows")
    ax.set_ylabel(f"{series.metric} (ms)")
    ax.legend()
    fig.tight_layout()
    return to_svg(fig)


@styled
def ratio_chart(series: AbSeries) -> Markup:
    """B / A per window, with the overall ratio and its interval as a band."""
    fig = new_figure(8, 2.6)
    ax = fig.subplots()
    if series.band_low is not None and series.band_high is not None:
        ax.axhspan(series.band_low, series.band_high, color=GRID, alpha=0.9, label="interval (overall)")
    ax.axhline(1.0, color=MUTED, lw=0.8)
    if series.ratio_estimate is not None:
        ax.axhline(series.ratio_estimate, color=RED, lw=1.0, ls="--", label="B / A (overall)")
    ax.plot(
        series.t,
        _y(series.ratio),
        color=PALETTE[5],
        lw=1.0,
        marker="o",
        ms=2,
        label="B / A per window",
    )
    _mark_repeats(ax, series)
    ax.set_xlabel("window start (s)")
    ax.set_ylabel(f"{series.metric} B / A")
    ax.legend()
    fig.tight_layout()
    return to_svg(fig)


def render_ab(result: AbResult, calibration: db.CalibrationRow | None = None) -> str:
    return jinja.render(
        "ab.html.j2",
        r=result,
        s=result.settings,
        headline=result.headline,
        metrics=result.metrics,
        warnings=result.warnings,
        sides=[result.a, result.b],
        profile=result.profile,
        windows_chart=windows_chart(result.series) if result.series.t else None,
        ratio_chart=ratio_chart(result.series) if result.series.t else None,
        calibration=calibration,
    )


def machine_calibration(result: AbResult, out_dir: Path) -> db.CalibrationRow | None:
    """The latest duet calibration of the machine of both sides (their manifests' fingerprints)."""
    dirs = [Path(side.run_dir) for side in (result.a, result.b)]
    db_file = db.find_db(out_dir, *dirs)
    if db_file is None:
        return None
    try:
        machines = {rundir.load_manifest(run_dir).machine.fingerprint for run_dir in dirs}
    except rundir.RunDirError:
        return None
    return db.calibration_for(db_file, machines, "duet")


def write_ab(result: AbResult, out_dir: Path) -> tuple[Path, Path]:
    """ab.json (through the compare stage's writer) and ab.html into ``out_dir``, each atomically.

    The page is rendered before anything is written, so a failure leaves neither file half-done.
    """
    html = render_ab(result, machine_calibration(result, out_dir))
    json_path, html_path = write_ab_json(result, out_dir), out_dir / AB_HTML
    rundir.write_text_atomic(html_path, html)
    return json_path, html_path
