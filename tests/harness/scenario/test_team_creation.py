"""The team-creation operations and scenarios/team_creation.yaml: what they ask of the runtime and
what the plan carries to the Locust process."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from harness.load.plan import build_ops
from harness.scenario.kinds import run_kind
from harness.scenario.loader import check_scenario
from harness.scenario.operations import NAMED_OPERATIONS, PLACEHOLDER
from harness.verdict.checklist import load_checklist

ROOT = Path(__file__).resolve().parents[3]
SCENARIO = ROOT / "scenarios" / "team_creation.yaml"
SIZES = {"team_creation": 1, "team_creation_5": 5, "team_creation_10": 10}


def test_each_operation_asks_for_a_team_of_its_size_and_waits_for_all_of_it() -> None:
    for name, size in SIZES.items():
        op = NAMED_OPERATIONS[name]
        assert (op.method, op.path, op.expect_status) == ("POST", "/v1/projects", (201,))
        assert op.json["metadata"] == {"teamSize": size}  # what the runtime builds the team from
        assert op.until is not None
        assert op.until.path == "/v1/projects/{id}" and op.until.ready == ("completed",)
        assert op.until.failed == ("failed",) and (op.until.count_field, op.until.count) == ("agents", size)
        # a fresh domain per request: no creation reads another's research from the cache
        assert "uuid" in PLACEHOLDER.findall(op.json["domain"])


def test_targets_are_the_guides_and_its_checklist_names_these_operations() -> None:
    minutes = {name: (NAMED_OPERATIONS[name].target_ms or 0) / 60_000 for name in SIZES}
    assert minutes == {"team_creation": 5, "team_creation_5": 30, "team_creation_10": 90}
    judged = {
        (r.rule.metric, r.rule.operation) for r in load_checklist().rules if "team_creation" in r.applies_to
    }
    assert {("max", name) for name in SIZES} <= judged


def test_the_shipped_scenario_runs_all_three_as_a_team_creation_run() -> None:
    resolved = check_scenario(SCENARIO, time_scale=0.05)
    scenario = resolved.scenario
    assert run_kind(scenario.model_dump()) == ("team_creation", True)
    assert [item.operation for item in scenario.mix] == list(SIZES)
    assert resolved.setup == []  # nothing to set up: each operation creates its own project
    assert 30 <= resolved.duration_s <= 120  # the nightly's scale keeps it short
    ops = build_ops(resolved, {}, {"X-API-Key": "k"})
    for spec in ops:
        assert spec.until == NAMED_OPERATIONS[spec.label].until
        assert spec.dynamic  # {seq} and {uuid} filled per request
        assert json.loads(spec.body or "{}")["metadata"]["teamSize"] == SIZES[spec.label]


def test_documented_runtime_configs_flip_only_the_creation_switches() -> None:
    configs = {
        "sequential": (False, False),
        "parallel": (True, False),
        "templates": (False, True),
    }
    for name, (parallel, templates) in configs.items():
        data = yaml.safe_load((ROOT / "docs" / "examples" / f"team-creation-{name}.yaml").read_text())
        assert data == {"switches": {"parallel_creation": parallel, "templates": templates}}
