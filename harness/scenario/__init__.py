"""Scenario files: schema, YAML loading with line numbers, durations and time scaling."""

from harness.scenario.loader import (
    Issue,
    ResolvedScenario,
    ResolvedStage,
    ScenarioError,
    check_scenario,
    load_scenario,
    parse_scenario_text,
    resolve,
)
from harness.scenario.schema import Scenario

__all__ = [
    "Issue",
    "ResolvedScenario",
    "ResolvedStage",
    "Scenario",
    "ScenarioError",
    "check_scenario",
    "load_scenario",
    "parse_scenario_text",
    "resolve",
]
