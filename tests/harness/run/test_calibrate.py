"""`harness calibrate`: the statistics from a set of A/A comparisons (pure, synthetic inputs),
calibration.json's loader, the pages quoting a calibration, bad input, and an end-to-end run
against a stand-in server (slow)."""

import json
import math

import numpy as np
import pytest

from harness.compare.compare import compare_paths
from harness.compare.paired import paired_compare
from harness.contract import rundir
from harness.history import db
from harness.report.ab_page import write_ab
from harness.report.compare_page import write_compare
from harness.run import calibrate
from harness.run.calibrate import Calibration, CalibrationError, PairFigures, load_calibration, mode_figures
from harness.testing.synthetic import SyntheticSpec, make_run
from tests.harness.compare.test_paired import duet
from tests.harness.conftest import harness, write
from tests.harness.servers import serve

SEEN = "can see changes ≥"


def pair(b50, n50, b95, n95, mde=0.05):
    return PairFigures(
        base="a", new="b", base_p50=b50, new_p50=n50, base_p95=b95, new_p95=n95,
        change_p50=n50 / b50 - 1, change_p95=n95 / b95 - 1, mde_p50=mde, mde_p95=mde,
    )  # fmt: skip


def test_sequential_between_run_cv_is_recovered():
    rng = np.random.default_rng(1)
    sigma50, sigma95 = 0.10, 0.25  # lognormal: CV = sqrt(exp(sigma^2) - 1)
    v50 = 2.0 * np.exp(rng.normal(0, sigma50, size=(3000, 2)))
    v95 = 9.0 * np.exp(rng.normal(0, sigma95, size=(3000, 2)))
    pairs = [
        pair(a, b, c, d, mde=0.01 + i % 3 * 0.01)
        for i, ((a, b), (c, d)) in enumerate(zip(v50, v95, strict=True))
    ]
    fig = mode_figures("sequential", pairs)
    assert fig.cv_p50 == pytest.approx(math.sqrt(math.expm1(sigma50**2)), rel=0.05)
    assert fig.cv_p95 == pytest.approx(math.sqrt(math.expm1(sigma95**2)), rel=0.05)
    assert fig.mde_p50 == pytest.approx(0.02)  # the median of the pairs' MDEs
    implied = math.expm1(4.2209 * math.sqrt(2) * fig.cv_p95)  # (z_0.995 + z_0.95) * sqrt(2) * CV
    assert fig.detectable_p95 == pytest.approx(implied, rel=1e-3) and fig.detectable_p95 > fig.mde_p95


def test_duet_paired_cv_is_the_spread_of_the_log_ratios():
    rng = np.random.default_rng(2)
    shared = np.exp(rng.normal(0, 0.3, size=2000))  # interference both sides saw: cancels
    ratio = np.exp(rng.normal(0, 0.04, size=2000))
    pairs = [
        pair(10 * s, 10 * s * r, 30 * s, 30 * s * r, mde=0.5) for s, r in zip(shared, ratio, strict=True)
    ]
    fig = mode_figures("duet", pairs)
    assert fig.cv_p50 == pytest.approx(0.04, rel=0.05) and fig.cv_p95 == pytest.approx(0.04, rel=0.05)
    assert fig.detectable_p95 == 0.5  # the comparisons' own MDE is the larger here
    assert mode_figures("duet", pairs[:1]).cv_p95 is None  # one pair: no spread
    assert mode_figures("sequential", []).detectable_p95 is None


def calibration(fingerprint="m", seq=0.4, duet_seen=0.06):
    modes = [
        mode_figures("sequential", [pair(1, 1.1, 3, 3.3, mde=seq), pair(1, 0.9, 3, 2.7, mde=seq)]),
        mode_figures("duet", [pair(1, 1.0, 3, 3.0, mde=duet_seen), pair(1, 1.01, 3, 3.03, mde=duet_seen)]),
    ]
    return Calibration(
        calibration_id="c1", machine_fingerprint=fingerprint, measured_at="2024-05-01T00:00:00Z",
        scenario="smoke", scenario_path="scenarios/smoke.yaml", duration_s=20.0, target="t", modes=modes,
    )  # fmt: skip


def test_calibration_json_round_trips_and_rejects_other_files(tmp_path):
    cal = calibration()
    rundir.write_json_atomic(tmp_path / "calibration.json", cal.model_dump())
    assert load_calibration(tmp_path) == cal
    (tmp_path / "x.json").write_text(json.dumps({**cal.model_dump(), "schema_version": 9}))
    with pytest.raises(CalibrationError, match="unsupported schema_version 9"):
        load_calibration(tmp_path / "x.json")
    (tmp_path / "y.json").write_text(json.dumps({**cal.model_dump(), "modes": "?"}))
    with pytest.raises(CalibrationError, match="modes"):
        load_calibration(tmp_path / "y.json")


def test_pages_quote_the_calibration_of_the_machine_when_there_is_one(tmp_path):
    reports = tmp_path / "reports"
    base = make_run(reports / "runs", SyntheticSpec(seed=1, run_id="r1", duration_s=10))
    new = make_run(reports / "runs", SyntheticSpec(seed=2, run_id="r2", duration_s=10))
    result = compare_paths([base], [new], reports_dir=reports)
    _, html = write_compare(result, new)
    assert SEEN not in html.read_text()  # no history.db: the page still works
    fingerprint = rundir.load_manifest(new).machine.fingerprint
    for name in ("r1", "r2"):
        run_dir = reports / "runs" / name
        db.record_run(db.db_path(reports), rundir.load_manifest(run_dir), None, run_dir)
    calibrate.record(calibration(fingerprint), reports / "calibrations" / "c1", reports)
    text = write_compare(result, new)[1].read_text()
    assert f"{SEEN} {calibration(fingerprint).mode('sequential').detectable_p95 * 100:.1f}%" in text
    a, b = duet(reports / "ab" / "x", 0, duration_s=10)
    text = write_ab(paired_compare(a, b), reports / "ab" / "x")[1].read_text()
    assert f"{SEEN} 6.0%" in text and "duet A/A pairs" in text


@pytest.mark.parametrize(
    "args",
    [
        ("--target", "http://127.0.0.1:9", "--config", "baseline"),
        ("--pairs", "0"),
        ("--duration", "soon"),
        ("--config", "no-such-profile"),
        ("--target", "http://example.com:80"),
        ("--target", ""),  # an empty $TARGET must not quietly calibrate a started runtime instead
    ],
)
def test_bad_input_exits_2_with_one_line(tmp_path, args):
    proc = harness("calibrate", *args, "--reports-dir", str(tmp_path))
    assert proc.returncode == 2, proc.stdout + proc.stderr
    out = (proc.stdout + proc.stderr).strip()
    assert out.startswith("error:") and len(out.splitlines()) == 1
    assert not (tmp_path / "calibrations").exists()


SCENARIO = """\
name: calib
load:
  rate: 40
  duration: 6s
  drain: 2s
mix:
  - {name: get_x, path: /x}
"""


@pytest.mark.slow
def test_calibrate_end_to_end_against_a_stand_in_server(tmp_path):
    scenario = write(tmp_path, "calib.yaml", SCENARIO)
    reports = tmp_path / "reports"
    with serve("mixed", fast_ms=5, slow_ms=20) as url:
        proc = harness(
            "calibrate", "--target", url, "--pairs", "2", "--duration", "3s", "--scenario", str(scenario),
            "--reports-dir", str(reports), "--quiet", timeout=300,
        )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "on this machine a sequential comparison can see changes ≥" in proc.stdout
    [path] = list((reports / "calibrations").glob("*/calibration.json"))
    cal = load_calibration(path)
    assert [m.mode for m in cal.modes] == ["sequential", "duet"]
    assert all(len(m.pairs) == 2 for m in cal.modes) and cal.mode("sequential").cv_p95 is not None
    for mode in ("sequential", "duet"):
        assert db.latest_calibration(db.db_path(reports), cal.machine_fingerprint, mode) is not None
    first = cal.mode("sequential").pairs[0]
    later = harness("compare", first.base, first.new, "--reports-dir", str(reports))
    assert later.returncode in (0, 1), later.stdout + later.stderr
    page = (rundir.resolve_run_dir(first.new, reports) / "compare.html").read_text()
    assert SEEN in page
