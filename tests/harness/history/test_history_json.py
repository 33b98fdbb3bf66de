"""history.json: the model round-trips, and files of every released schema version keep loading."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from harness.history.series import HistoryFileError, build_history, load_history, write_history_json
from harness.testing.synthetic import SyntheticOp, SyntheticSpec, make_run

FIXTURES = Path(__file__).parents[2] / "fixtures" / "history"


def test_v1_fixture_loads() -> None:
    """Written by the history code of schema version 1 (10 synthetic nightly runs, a step at run 5)."""
    history = load_history(FIXTURES / "v1" / "history.json")
    (series,) = history.series
    assert history.schema_version == 1 and series.key == "steady_state@synthetic"
    assert [p.run_id for p in series.points] == [f"night{i:02d}" for i in range(10)]
    assert series.baseline_run_id == "night02" and history.skipped == ["x: aborted"]
    assert series.points[5].when == dt.datetime(2026, 11, 6, 2, 0, tzinfo=dt.UTC)
    assert series.operations() == ["command_ack", "list_projects"]
    p50 = [c for c in series.changes if c.metric == "p50" and c.operation == "overall"]
    assert [c.index for c in p50] == [5] and p50[0].commit_after == "c05abcdef"
    assert history.settings["op_metric"] == "p95"


def test_written_history_loads_back_equal(tmp_path: Path) -> None:
    reports = tmp_path / "reports"
    start = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    for i in range(4):
        make_run(
            reports / "runs",
            SyntheticSpec(
                ops=(SyntheticOp("command_ack", 1.0, 20.0, 0.3, 0.0),),
                duration_s=4,
                seed=i,
                started_at=start + dt.timedelta(hours=i),
                run_id=f"r{i}",
            ),
        )
    history = build_history(reports)
    path = tmp_path / "history.json"
    write_history_json(history, path)
    assert load_history(path) == history
    assert json.loads(path.read_text())["kind"] == "motherbox-perf/history"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{", "unreadable JSON"),
        ('{"kind": "motherbox-perf/compare", "schema_version": 1}', "not a motherbox-perf/history file"),
        ('{"kind": "motherbox-perf/history", "schema_version": 99}', "unsupported schema_version 99"),
        ('{"kind": "motherbox-perf/history", "schema_version": 1, "series": 3}', "series"),
    ],
)
def test_bad_history_file_is_one_clear_error(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "history.json"
    path.write_text(content)
    with pytest.raises(HistoryFileError, match=message):
        load_history(path)
    with pytest.raises(HistoryFileError, match="not found"):
        load_history(tmp_path / "missing.json")
