import sqlite3

from harness.contract import rundir
from harness.history import db as history
from harness.testing.synthetic import make_run


def test_record_run_is_idempotent_and_additive(tmp_path):
    run_dir = make_run(tmp_path / "runs")
    db = tmp_path / "history.db"
    with sqlite3.connect(db) as conn:  # another module's table already there
        conn.execute("CREATE TABLE baselines (scenario TEXT)")
    manifest, summary = rundir.load_manifest(run_dir), rundir.load_summary(run_dir)
    history.record_run(db, manifest, summary, run_dir)
    history.record_run(db, manifest, summary, run_dir)
    with sqlite3.connect(db) as conn:
        assert conn.execute("select count(*) from runs").fetchone() == (1,)
        ops = conn.execute("select operation, count, p95 from op_summaries").fetchall()
        tables = {r[0] for r in conn.execute("select name from sqlite_master where type='table'")}
    assert {"runs", "op_summaries", "baselines"} <= tables
    assert len(ops) == len(summary.operations) + 1
    overall = next(op for op in ops if op[0] == rundir.OVERALL)
    assert overall[1] == summary.overall.count and overall[2] == summary.overall.latency_ms.p95


def test_machine_fingerprint_is_stable():
    assert history.machine_info()["fingerprint"] == history.machine_info()["fingerprint"]
