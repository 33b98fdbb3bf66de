"""``compare.html``: the comparison of two run sets, rendered from compare.json's model.

:mod:`harness.compare.compare` computes every figure; this module only renders them, from the
same :class:`~harness.compare.result.CompareFile` that compare.json holds.
"""

from __future__ import annotations

from pathlib import Path

from harness.compare.compare import write_compare_json
from harness.compare.result import CompareFile, CompareResult
from harness.contract import rundir
from harness.report import jinja

COMPARE_HTML = "compare.html"


def render_compare(result: CompareFile) -> str:
    return jinja.render(
        "compare.html.j2",
        scenario=result.scenario,
        base=result.base,
        new=result.new,
        settings=result.settings,
        metrics=result.metrics,
        regressions=result.regressions,
        warnings=result.warnings,
        hotspots=result.hotspots,
    )


def write_compare_page(result: CompareFile, out_dir: Path) -> Path:
    """Write ``out_dir/compare.html`` atomically; return its path."""
    path = out_dir / COMPARE_HTML
    rundir.write_text_atomic(path, render_compare(result))
    return path


def write_compare(result: CompareResult, out_dir: Path) -> tuple[Path, Path]:
    """Write compare.json (the compare stage's writer) and compare.html into ``out_dir``."""
    return write_compare_json(result, out_dir), write_compare_page(result.to_file(), out_dir)
