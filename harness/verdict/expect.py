"""Rules from a resolved scenario: its ``expect:`` block and its ``gates:`` list.

``expect`` maps a scope (``overall`` or an operation of the mix) to metric: threshold, e.g.
``{overall: {p95: "2s", error_rate: "0.1%"}, command_ack: {p95: "100ms"}}``. Durations are
strings with units or numbers of seconds; rates are percent strings or fractions; ``min_rate`` is
req/s. Both blocks are required rules: a gate that cannot be measured fails the gate.
"""

from __future__ import annotations

from typing import Any

from harness.contract.units import parse_duration, parse_fraction
from harness.verdict.rules import RuleError, RuleSpec, parse_rule

_LATENCY = {"p50", "p90", "p95", "p99", "p99_9", "max", "mean"}


class ExpectError(ValueError):
    """An expect entry that does not translate into a rule."""


def _duration_ms(value: Any) -> float:
    """The scenario's duration grammar (harness.contract.units), the same one `load.duration` uses."""
    try:
        return parse_duration(value) * 1000.0
    except ValueError as exc:
        raise ExpectError(str(exc)) from exc


def _fraction_text(value: Any) -> str:
    try:
        return f"{parse_fraction(value) * 100:g}%"
    except ValueError as exc:
        raise ExpectError(str(exc)) from exc


def _rule_text(scope: str, key: str, value: Any) -> str:
    target = "" if scope == "overall" else f"({scope})"
    if key in _LATENCY:
        metric = "p99.9" if key == "p99_9" else key
        return f"{metric}{target} < {_duration_ms(value):g}ms"
    if key in ("error_rate", "dropped_rate"):
        return f"{key}{target} < {_fraction_text(value)}"
    if key == "min_rate":
        return f"rate{target} >= {float(value):g} req/s"
    if key == "recovery_time":
        return f"recovery_time < {_duration_ms(value):g}ms"
    raise ExpectError(f"unknown expect metric {key!r}")


def expect_rules(scenario: dict[str, Any]) -> list[RuleSpec]:
    expect = scenario.get("expect") or {}
    if not isinstance(expect, dict):
        raise ExpectError("scenario `expect` must be a mapping of scope: {metric: threshold}")
    specs: list[RuleSpec] = []
    for scope, metrics in expect.items():
        if not isinstance(metrics, dict):
            raise ExpectError(f"expect.{scope}: expected a mapping of metric: threshold")
        for key, value in metrics.items():
            try:
                text = _rule_text(str(scope), str(key), value)
                rule = parse_rule(text)
            except (ExpectError, RuleError, ValueError) as exc:
                raise ExpectError(f"expect.{scope}.{key}: {exc}") from exc
            specs.append(
                RuleSpec(
                    id=f"expect.{scope}.{key}",
                    rule=rule,
                    origin="scenario-expect",
                    section="Scenario expectations",
                    title=f"Scenario expects {key} ({scope})",
                    required=True,
                )
            )
    return specs


def gate_rules(scenario: dict[str, Any]) -> list[RuleSpec]:
    """The scenario's ``gates:`` list; a bad rule raises RuleError naming it."""
    gates = scenario.get("gates") or []
    return [
        RuleSpec(
            id=f"gates[{i}]",
            rule=parse_rule(str(text)),
            origin="scenario-gates",
            section="Scenario gates",
            required=True,
        )
        for i, text in enumerate(gates)
    ]


def expected_overall_p95_ms(scenario: dict[str, Any]) -> float | None:
    overall = (scenario.get("expect") or {}).get("overall") or {}
    value = overall.get("p95") if isinstance(overall, dict) else None
    try:
        return None if value is None else _duration_ms(value)
    except ExpectError:
        return None
