"""What kind of run a scenario is: declared with ``kind:``, or inferred from the scenario's shape.

The kind decides which checklist rules apply to a run (docs/checklists.md, "Applicability"): the
guide's steady-state expectations are judged on steady runs, spike recovery on spike runs, and so on.

Vocabulary: ``smoke``, ``steady``, ``spike``, ``stress``, ``endurance``, ``team_creation``. A
checklist rule may also say ``any``.

Inference, when a scenario has no ``kind:`` (first match wins), from the scenario as declared (not
time-scaled, so ``--time-scale`` never changes a run's kind):

1. a mix operation named ``team_creation*`` → ``team_creation``;
2. at least three stages of rising rate at the start → ``stress``;
3. a stage whose rate is more than 1.5x both neighbours' → ``spike``;
4. a planned duration of 2 h or more → ``endurance``;
5. a planned duration of 5 min or more → ``steady``;
6. anything shorter → ``smoke``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal, get_args

RunKind = Literal["smoke", "steady", "spike", "stress", "endurance", "team_creation"]
RUN_KINDS: tuple[str, ...] = get_args(RunKind)
ANY_KIND = "any"

#: Rising stages at the start that make a stress run (as the breaking-point rule needs).
STRESS_MIN_STAGES = 3
#: A spike stage's rate exceeds both neighbours' by this factor (as the recovery rule needs).
SPIKE_FACTOR = 1.5
ENDURANCE_MIN_S = 2 * 3600.0
STEADY_MIN_S = 300.0


def run_kind(scenario: Mapping[str, Any]) -> tuple[RunKind, bool]:
    """(kind, declared) of a scenario given as a mapping with durations in seconds — a parsed
    ``Scenario``'s ``model_dump()`` or a manifest's ``scenario``. ``declared`` is False when inferred."""
    declared = scenario.get("kind")
    if isinstance(declared, str) and declared in RUN_KINDS:
        return declared, True  # type: ignore[return-value]
    return infer_kind(scenario), False


def infer_kind(scenario: Mapping[str, Any]) -> RunKind:
    mix = scenario.get("mix") or []
    operations = [str(item.get("operation") or "") for item in mix if isinstance(item, Mapping)]
    if any(op.startswith("team_creation") for op in operations):
        return "team_creation"
    load = scenario.get("load") or {}
    stages = load.get("stages") if isinstance(load, Mapping) else None
    rates = [_number(stage.get("rate")) for stage in stages or [] if isinstance(stage, Mapping)]
    if _rising_prefix(rates) >= STRESS_MIN_STAGES:
        return "stress"
    if _has_spike(rates):
        return "spike"
    duration = _planned_seconds(load if isinstance(load, Mapping) else {}, stages or [])
    if duration >= ENDURANCE_MIN_S:
        return "endurance"
    return "steady" if duration >= STEADY_MIN_S else "smoke"


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _rising_prefix(rates: Sequence[float | None]) -> int:
    count, previous = 0, None
    for rate in rates:
        if rate is None or (previous is not None and rate <= previous):
            break
        count, previous = count + 1, rate
    return count


def _has_spike(rates: Sequence[float | None]) -> bool:
    for index in range(1, len(rates) - 1):
        before, here, after = rates[index - 1], rates[index], rates[index + 1]
        if before is None or here is None or after is None:
            continue
        if here > SPIKE_FACTOR * before and here > SPIKE_FACTOR * after:
            return True
    return False


def _planned_seconds(load: Mapping[str, Any], stages: Sequence[Any]) -> float:
    if stages:
        return sum(_number(s.get("duration")) or 0.0 for s in stages if isinstance(s, Mapping))
    return _number(load.get("duration")) or 0.0
