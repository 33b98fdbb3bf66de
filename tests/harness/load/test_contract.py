"""The Locust side and the run stage share one set of names and two typed files (plan, result)."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from harness.contract import rundir
from harness.contract.atomic import write_model
from harness.load import recorder
from harness.load.contract import (
    DRIVER_RESULT_FILE,
    PLAN_FILE,
    DriverResult,
    Plan,
    load_driver_result,
    read_plan,
)
from harness.load.plan import build_ops, build_plan
from harness.scenario import resolve
from harness.scenario.loader import load_scenario


def test_recorder_columns_are_the_contract_minus_the_worker_the_collector_adds() -> None:
    assert (*recorder.COLUMNS, "worker") == rundir.SAMPLE_COLUMNS


def test_the_locust_side_imports_the_contract_without_pydantic() -> None:
    code = "import sys, harness.load.recorder; print('pydantic' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


# ---------------------------------------------------------------- plan.json / driver_result.json

SCENARIO = """\
name: planned
load:
  stages:
    - {duration: 2s, rate: 5}
    - {duration: 4s, rate: 20, ramp: true}
  max_in_flight: 7
  drain: 3s
mix:
  - {name: get_x, path: "/x/{pid}", weight: 3}
  - {name: post_y, method: POST, path: "/y/{seq}", json: {a: "{pid}"}}
"""


def _plan(tmp_path: Path) -> Plan:
    path = tmp_path / "s.yaml"
    path.write_text(SCENARIO)
    resolved = resolve(load_scenario(path), source=str(path))
    ops = build_ops(resolved, {"pid": "p-1"}, {"X-API-Key": "k"})
    return build_plan(
        resolved, run_id="r1", target_url="http://127.0.0.1:1", ops=ops, work_dir=tmp_path, csv_prefix=None
    )


def test_plan_round_trips_through_plan_json_with_the_setup_context_rendered(tmp_path: Path) -> None:
    plan = _plan(tmp_path)
    write_model(tmp_path / PLAN_FILE, plan)
    again = read_plan(tmp_path / PLAN_FILE)
    assert again == plan and again.schema_version == 1
    assert again.stages == [(0.0, 2.0, 5.0, 5.0), (2.0, 6.0, 5.0, 20.0)]
    assert again.duration_s == 6.0 and again.max_in_flight == 7 and again.drain == 3.0
    get_x, post_y = again.ops
    assert get_x.path == "/x/p-1" and not get_x.dynamic and get_x.weight == 3
    assert post_y.dynamic and json.loads(post_y.body or "") == {"a": "p-1"}
    assert post_y.headers["Content-Type"] == "application/json" and post_y.headers["X-API-Key"] == "k"


def test_a_plan_of_another_schema_version_or_with_unknown_fields_is_refused(tmp_path: Path) -> None:
    data = _plan(tmp_path).model_dump(mode="json")
    (tmp_path / PLAN_FILE).write_text(json.dumps({**data, "schema_version": 2}))
    with pytest.raises(ValueError, match="schema_version"):
        read_plan(tmp_path / PLAN_FILE)
    (tmp_path / PLAN_FILE).write_text(json.dumps({**data, "rate": 5}))
    with pytest.raises(ValueError, match="rate"):
        read_plan(tmp_path / PLAN_FILE)


def test_driver_result_loads_or_is_none_when_missing_or_unreadable(tmp_path: Path) -> None:
    assert load_driver_result(tmp_path) is None
    result = DriverResult(
        status="aborted",
        abort_reason="interrupted",
        t0=100.0,
        ended_at=104.5,
        parts=["part-00000.parquet"],
        pacer=rundir.PacerCounts(scheduled=12, sent=11, dropped=1, late=2, max_lag_s=0.25),
    )
    write_model(tmp_path / DRIVER_RESULT_FILE, result)
    loaded = load_driver_result(tmp_path)
    assert loaded == result
    assert loaded is not None and loaded.pacer is not None
    assert isinstance(loaded.pacer.scheduled, int)  # counts stay integers
    (tmp_path / DRIVER_RESULT_FILE).write_text('{"status": "complete"')
    assert load_driver_result(tmp_path) is None
    unknown = {"status": "complete", "ended_at": 1.0, "extra": 1}
    (tmp_path / DRIVER_RESULT_FILE).write_text(json.dumps(unknown))
    assert load_driver_result(tmp_path) is None
