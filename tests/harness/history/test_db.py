import sqlite3

from harness.contract import rundir
from harness.history import baseline, db
from harness.testing.synthetic import SyntheticSpec, make_run


def test_record_run_is_idempotent_and_keeps_baselines(tmp_path):
    reports = tmp_path / "reports"
    run_dir = make_run(reports / "runs", SyntheticSpec(seed=1, run_id="r1", duration_s=5))
    baseline.set_baseline(run_dir, reports)
    path = db.db_path(reports)
    manifest, summary = rundir.load_manifest(run_dir), rundir.load_summary(run_dir)
    db.record_run(path, manifest, summary, run_dir)
    db.record_run(path, manifest, summary, run_dir)
    with sqlite3.connect(path) as conn:
        assert conn.execute("select count(*) from runs").fetchone() == (1,)
        ops = conn.execute("select operation, count, p95 from op_summaries").fetchall()
        tables = {r[0] for r in conn.execute("select name from sqlite_master where type='table'")}
    assert tables == {"runs", "op_summaries", "baselines", "calibrations"}
    assert len(ops) == len(summary.operations) + 1
    overall = next(op for op in ops if op[0] == rundir.OVERALL)
    assert overall[1] == summary.overall.count and overall[2] == summary.overall.latency_ms.p95
    assert [b.run_id for b in baseline.list_baselines(reports)] == ["r1"]


def test_a_failed_transaction_leaves_nothing(tmp_path):
    path = tmp_path / "history.db"
    try:
        with db.connect(path) as conn:
            conn.execute(
                "INSERT INTO baselines (scenario, machine_fingerprint, run_id, run_dir, set_at)"
                " VALUES ('s', 'm', 'r', 'd', 't')"
            )
            raise RuntimeError("interrupted")
    except RuntimeError:
        pass
    assert db.select_baselines(path) == []
