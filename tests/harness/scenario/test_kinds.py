"""A run's kind: the scenario's `kind:` or inferred from its shape (harness.scenario.kinds)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from harness.scenario.kinds import RUN_KINDS, infer_kind, run_kind
from harness.scenario.loader import ScenarioError, load_scenario, parse_scenario_text

SCENARIOS = Path(__file__).resolve().parents[3] / "scenarios"


def _scenario(stages: list[tuple[float, float]] | None = None, **load: Any) -> dict[str, Any]:
    if stages is not None:
        load["stages"] = [{"duration": d, "rate": r} for d, r in stages]
    return {"name": "x", "load": {"model": "open", **load}, "mix": [{"operation": "command_ack"}]}


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("smoke", "smoke"),
        ("steady_state", "steady"),
        ("spike_test", "spike"),
        ("stress_test", "stress"),
        ("endurance_test", "endurance"),
        ("profile", "steady"),
    ],
)
def test_every_shipped_scenario_declares_its_kind(name: str, kind: str) -> None:
    scenario = load_scenario(SCENARIOS / f"{name}.yaml")
    assert scenario.kind == kind
    assert run_kind(scenario.model_dump()) == (kind, True)


@pytest.mark.parametrize("name", ["smoke", "steady_state", "spike_test", "stress_test", "endurance_test"])
def test_inference_agrees_with_the_guide_scenarios(name: str) -> None:
    dumped = load_scenario(SCENARIOS / f"{name}.yaml").model_dump()
    dumped.pop("kind")
    kind, declared = run_kind(dumped)
    assert not declared
    assert kind == load_scenario(SCENARIOS / f"{name}.yaml").kind


@pytest.mark.parametrize(
    ("scenario", "kind"),
    [
        (_scenario([(60, 10), (60, 20), (60, 30)]), "stress"),
        (_scenario([(60, 10), (60, 20)]), "smoke"),  # two rising stages: no stress run
        (_scenario([(300, 100), (300, 1000), (300, 100)]), "spike"),
        (_scenario([(300, 100), (300, 140), (300, 100)]), "steady"),  # 1.4x is no spike
        (_scenario(rate=50, duration=24 * 3600.0), "endurance"),
        (_scenario(rate=100, duration=3600.0), "steady"),
        (_scenario(rate=100, duration=299.0), "smoke"),
        (_scenario([(5, 20), (15, 20)]), "smoke"),
    ],
)
def test_inference_from_the_shape(scenario: dict[str, Any], kind: str) -> None:
    assert infer_kind(scenario) == kind


def test_team_creation_operations_make_a_team_creation_run() -> None:
    scenario = _scenario(rate=1, duration=3600.0)
    scenario["mix"] = [{"operation": "team_creation_5"}]
    assert infer_kind(scenario) == "team_creation"


def test_declared_kind_wins_and_unknown_kinds_are_rejected() -> None:
    text = "name: s\nkind: {kind}\nload: {{rate: 10, duration: 10s}}\nmix:\n  - {{operation: command_ack}}\n"
    for kind in RUN_KINDS:
        assert parse_scenario_text(text.format(kind=kind)).kind == kind
    with pytest.raises(ScenarioError) as info:
        parse_scenario_text(text.format(kind="soak"), "s.yaml")
    assert "kind" in str(info.value)


def test_a_manifest_without_kind_is_inferred_from_its_declared_load() -> None:
    """Old run folders: the manifest's scenario holds the declared (unscaled) load."""
    scenario = _scenario(rate=100, duration=3600.0)
    scenario["resolved"] = {"time_scale": 0.01, "duration_s": 36.0}
    assert run_kind(scenario) == ("steady", False)
