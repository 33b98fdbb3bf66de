"""Baselines in history.db: set/show round trip, auto resolution, repeat helpers."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from harness.commands import baseline as baseline_cmd
from harness.history import baseline
from harness.run import repeat
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


def test_setting_again_replaces_and_other_tables_are_untouched(tmp_path: Path) -> None:
    reports = tmp_path / "reports"
    reports.mkdir()
    with sqlite3.connect(reports / "history.db") as conn:
        conn.execute("CREATE TABLE runs (run_id TEXT PRIMARY KEY, scenario TEXT)")
        conn.execute("INSERT INTO runs VALUES ('x', 'y')")
    a = make_run(reports / "runs", SyntheticSpec(seed=1, run_id="a", duration_s=5))
    b = make_run(reports / "runs", SyntheticSpec(seed=2, run_id="b", duration_s=5))
    baseline.set_baseline(a, reports)
    baseline.set_baseline(b, reports)
    records = baseline.list_baselines(reports)
    assert [r.run_id for r in records] == ["b"]
    with sqlite3.connect(reports / "history.db") as conn:
        assert conn.execute("SELECT * FROM runs").fetchall() == [("x", "y")]
    assert baseline.unset_baseline("synthetic", "synthetic", reports)
    assert baseline.list_baselines(reports) == []


def test_bad_run_is_exit_2(tmp_path: Path, capsys) -> None:
    assert baseline_cmd.main(["--reports-dir", str(tmp_path), "set", str(tmp_path / "nope")]) == 2
    assert "not a run folder" in capsys.readouterr().err


def test_interleaved_order_alternates_direction_and_tags_groups() -> None:
    assert repeat.interleaved_order(["on", "off"], 3) == [
        (0, "on"),
        (0, "off"),
        (1, "off"),
        (1, "on"),
        (2, "on"),
        (2, "off"),
    ]
    calls: list[tuple[str, dict[str, str]]] = []
    sleeps: list[float] = []
    out = repeat.run_interleaved(
        {
            "a": lambda i, tags: calls.append(("a", tags)) or i,
            "b": lambda i, tags: calls.append(("b", tags)) or i,
        },
        2,
        cooldown_s=1.5,
        groups={"a": "ga", "b": "gb"},
        sleep=sleeps.append,
    )
    assert out == {"a": [0, 1], "b": [0, 1]}
    assert sleeps == [1.5, 1.5, 1.5]
    assert calls[0][1] == {"repeat_group": "ga", "repeat": "0", "repeats": "2"}
    assert calls[2] == ("b", {"repeat_group": "gb", "repeat": "1", "repeats": "2"})
