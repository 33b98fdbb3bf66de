"""history.db's ``calibrations`` table: record, latest per machine and mode, and the lookup the
compare and ab pages use (never created by a read)."""

import sqlite3

from harness.history import db


def row(fingerprint="m1", mode="sequential", measured_at="2024-01-01T00:00:00Z", p95=0.2):
    return db.CalibrationRow(
        machine_fingerprint=fingerprint,
        measured_at=measured_at,
        scenario="smoke",
        duration_s=20.0,
        mode=mode,
        pairs=3,
        cv_p50=0.1,
        cv_p95=p95 / 2,
        mde_p50=0.05,
        mde_p95=0.08,
        detectable_p50=0.1,
        detectable_p95=p95,
        calibration_dir="reports/calibrations/x",
    )


def test_record_and_latest_per_fingerprint_and_mode(tmp_path):
    path = tmp_path / "history.db"
    db.record_calibration(path, row("m1", "sequential", "2024-01-01T00:00:00Z", 0.5))
    db.record_calibration(path, row("m1", "sequential", "2024-02-01T00:00:00Z", 0.4))
    db.record_calibration(path, row("m1", "duet", "2024-01-15T00:00:00Z", 0.06))
    db.record_calibration(path, row("m2", "sequential", "2024-03-01T00:00:00Z", 0.9))
    db.record_calibration(path, row("m1", "duet", "2024-01-15T00:00:00Z", 0.06))  # idempotent
    assert db.latest_calibration(path, "m1", "sequential") == row(
        "m1", "sequential", "2024-02-01T00:00:00Z", 0.4
    )
    assert db.latest_calibration(path, "m1", "duet") == row("m1", "duet", "2024-01-15T00:00:00Z", 0.06)
    assert db.latest_calibration(path, "m2", "sequential").detectable_p95 == 0.9
    assert db.latest_calibration(path, "m2", "duet") is None
    assert db.latest_calibration(path, "m3", "sequential") is None
    with sqlite3.connect(path) as conn:
        assert conn.execute("select count(*) from calibrations").fetchone() == (4,)


def test_reads_never_create_the_database(tmp_path):
    path = tmp_path / "history.db"
    assert db.latest_calibration(path, "m1", "duet") is None
    assert db.machines_of_runs(path, ["r1"]) == set()
    assert db.calibration_for(None, {"m1"}, "duet") is None
    assert db.find_db(tmp_path) is None
    assert not path.exists()


def test_calibration_for_needs_one_known_machine(tmp_path):
    path = tmp_path / "reports" / "history.db"
    db.record_calibration(path, row("m1"))
    assert db.calibration_for(path, {"m1"}, "sequential") == row("m1")
    assert db.calibration_for(path, {"m1", "m2"}, "sequential") is None  # runs of two machines
    assert db.calibration_for(path, {"m1", None}, "sequential") is None
    assert db.find_db(tmp_path / "reports" / "runs" / "r1") == path.resolve()
