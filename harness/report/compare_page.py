"""``compare.html``: the comparison of two run sets, rendered from compare.json's model.

:mod:`harness.compare.compare` computes every figure; this module only renders them, from the
same :class:`~harness.compare.result.CompareFile` that compare.json holds. The page builder
(:func:`write_compare_page`) also looks up the latest ``harness calibrate`` of the machine the
compared runs ran on (:func:`harness.history.db.calibration_for`) and passes its figures in.
"""

from __future__ import annotations

from pathlib import Path

from harness.compare.compare import write_compare_json
from harness.compare.result import CompareFile, CompareResult
from harness.contract import rundir
from harness.history import db
from harness.report import jinja

COMPARE_HTML = "compare.html"


def render_compare(result: CompareFile, calibration: db.CalibrationRow | None = None) -> str:
    overall_p95 = next((m for m in result.metrics if m.operation == "overall" and m.metric == "p95"), None)
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
    rundir.write_text_atomic(path, render_compare(result, machine_calibration(result, out_dir)))
    return path


def write_compare(result: CompareResult, out_dir: Path) -> tuple[Path, Path]:
    """Write compare.json (the compare stage's writer) and compare.html into ``out_dir``."""
    return write_compare_json(result, out_dir), write_compare_page(result.to_file(), out_dir)
