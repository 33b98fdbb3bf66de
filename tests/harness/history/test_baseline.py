"""Baselines in history.db: set/show round trip, auto resolution; the interleaved repeat order."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from harness.commands import baseline as baseline_cmd
from harness.contract import rundir
from harness.history import baseline, db
from harness.testing.synthetic import SyntheticSpec, make_run


def test_set_show_round_trip_and_auto_resolution(tmp_path: Path, capsys) -> None:
    reports = tmp_path / "reports"
    run = make_run(
        reports / "runs", SyntheticSpec(seed=1, run_id="r1", scenario="steady_state", duration_s=5)
    )
    assert baseline_cmd.main(["--reports-dir", str(reports), "set", str(run), "--note", "first"]) == 0
    assert baseline_cmd.main(["--reports-dir", str(reports), "show", "--json"]) == 0
    shown = json.loads(capsys.readouterr().out.split("\n", 1)[1])
    assert shown[0]["run_id"] == "r1" and shown[0]["scenario"] == "steady_state"
    assert shown[0]["machine_fingerprint"] == "synthetic" and shown[0]["note"] == "first"
    assert baseline.resolve_baseline("auto", "steady_state", "synthetic", reports) == run
    assert baseline.resolve_baseline("auto", "steady_state", "other-machine", reports) is None
    assert baseline.resolve_baseline("auto", "spike_test", "synthetic", reports) is None
    assert baseline.resolve_baseline(str(run), "ignored", "ignored", reports) == run


def test_setting_again_replaces_and_recorded_runs_are_untouched(tmp_path: Path) -> None:
    reports = tmp_path / "reports"
    a = make_run(reports / "runs", SyntheticSpec(seed=1, run_id="a", duration_s=5))
    b = make_run(reports / "runs", SyntheticSpec(seed=2, run_id="b", duration_s=5))
    db.record_run(db.db_path(reports), rundir.load_manifest(a), rundir.load_summary(a), a)
    baseline.set_baseline(a, reports)
    baseline.set_baseline(b, reports)
    records = baseline.list_baselines(reports)
    assert [r.run_id for r in records] == ["b"]
    with sqlite3.connect(db.db_path(reports)) as conn:
        assert conn.execute("SELECT run_id, scenario FROM runs").fetchall() == [("a", "synthetic")]
    assert baseline.unset_baseline("synthetic", "synthetic", reports)
    assert baseline.list_baselines(reports) == []
    assert not baseline.unset_baseline("synthetic", "synthetic", reports)


def test_bad_run_is_exit_2(tmp_path: Path, capsys) -> None:
    assert baseline_cmd.main(["--reports-dir", str(tmp_path), "set", str(tmp_path / "nope")]) == 2
    assert "not a run folder" in capsys.readouterr().err
