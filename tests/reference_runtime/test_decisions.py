"""Decision engine: evaluation, precomputed table, early termination (fewer rules, same answer)."""

from __future__ import annotations

import asyncio

import pytest

from reference_runtime.decisions import (
    DEFAULT_TARGETS,
    DecisionEngine,
    DecisionRequest,
    Rule,
    default_engine,
    default_rules,
    fingerprint,
    sample_commands,
    stem,
)

TARGETS = {"ops": {"deploy"}, "qa": {"test"}, "writer": {"docs"}}


def small_rules() -> list[Rule]:
    return [
        Rule("ops-strong", "ops", 8.0, frozenset({"deploy", "release"}), pattern=r"\bv\d+\.\d+\b"),
        Rule("qa-strong", "qa", 6.0, frozenset({"test", "bug"})),
        Rule("writer-strong", "writer", 5.0, frozenset({"draft", "write"})),
        *[Rule(f"ops-weak-{i}", "ops", 0.1, frozenset({"server"})) for i in range(20)],
        *[Rule(f"qa-weak-{i}", "qa", 0.1, frozenset({"verify"})) for i in range(20)],
        *[Rule(f"writer-weak-{i}", "writer", 0.1, frozenset({"email"})) for i in range(20)],
    ]


def engine(**kw) -> DecisionEngine:
    return DecisionEngine(small_rules(), TARGETS, default_target="writer", **kw)


def test_evaluate_routes_by_rules():
    e = engine(precomputed=False, early_termination=False)
    d = e.evaluate(DecisionRequest("Please DEPLOY release v2.1 to the server"))
    assert d.target == "ops"
    assert d.exit_reason == "full"
    assert d.rules_examined == 63
    assert d.confidence > 0.95
    assert e.evaluate(DecisionRequest("write a draft email")).target == "writer"
    assert e.evaluate(DecisionRequest("found a bug, test it")).target == "qa"
    assert e.evaluate(DecisionRequest("nothing relevant")).target == "writer"  # default on ties


def test_stemming_and_normalization():
    assert stem("deploying") == stem("deployed") == stem("deploys") == "deploy"
    e = engine(precomputed=False)
    assert e.evaluate(DecisionRequest("   Deploying   THE release")).target == "ops"
    a = fingerprint(DecisionRequest("Deploy  now", {"b": 1, "a": 2}))
    assert a == fingerprint(DecisionRequest("deploy now", {"a": 2, "b": 1}))


def test_early_termination_examines_fewer_rules_same_answer():
    off = engine(precomputed=False, early_termination=False)
    on = engine(precomputed=False, early_termination=True)
    request = DecisionRequest("deploy release v1.2 now")
    full, early = off.evaluate(request), on.evaluate(request)
    assert early.target == full.target == "ops"
    assert early.exit_reason == "confidence"
    assert early.rules_examined < full.rules_examined / 2
    assert early.confidence > 0.95


def test_no_early_exit_when_unclear():
    on = engine(precomputed=False, early_termination=True)
    # ops and qa both strongly matched: confidence never provably > 0.95
    d = on.evaluate(DecisionRequest("deploy the test"))
    assert d.exit_reason == "full"
    assert d.rules_examined == 63


def test_single_valid_path_exits_immediately():
    on = engine(precomputed=False, early_termination=True)
    off = engine(precomputed=False, early_termination=False)
    request = DecisionRequest("draft something", {"requires": ["test"]})
    early, full = on.evaluate(request), off.evaluate(request)
    assert early.target == full.target == "qa"
    assert early.exit_reason == "single_path"
    assert early.rules_examined == 0
    assert full.rules_examined == 21
    assert on.evaluate(DecisionRequest("x", {"agent": "ops"})).target == "ops"


def test_cached_result_is_an_early_exit():
    on = engine(precomputed=False, early_termination=True)
    request = DecisionRequest("write the email")
    first = on.evaluate(request)
    again = on.evaluate(DecisionRequest("Write   the EMAIL"))
    assert again.target == first.target
    assert again.exit_reason == "cached"
    assert again.rules_examined == 0
    assert on.counters.exits["cached"] == 1


def test_gates_narrow_valid_targets():
    rules = [
        *small_rules(),
        Rule("g", "*", 9.0, frozenset({"server"}), kind="gate", allow=frozenset({"ops"})),
    ]
    on = DecisionEngine(rules, TARGETS, early_termination=True, precomputed=False)
    d = on.evaluate(DecisionRequest("write about the server"))
    assert (d.target, d.exit_reason, d.rules_examined) == ("ops", "single_path", 1)


def test_precomputed_answers_match_full_evaluation():
    commands = sample_commands(200, seed=3)
    e = DecisionEngine(
        default_rules(), DEFAULT_TARGETS, common_commands=commands, default_target="orchestrator"
    )
    assert e.table_size == len({fingerprint(c) for c in commands})
    for c in commands:
        table = e.decide(c)
        full = e.evaluate(c, early_termination=False)
        assert table.source == "precomputed"
        assert (table.target, table.confidence, table.scores) == (full.target, full.confidence, full.scores)
    assert e.counters.precomputed_hits == len(commands)
    assert e.counters.precomputed_misses == 0


def test_precomputed_miss_falls_back_to_evaluate():
    e = engine(common_commands=[DecisionRequest("deploy v1.0")])
    assert e.decide(DecisionRequest("deploy v1.0")).source == "precomputed"
    d = e.decide(DecisionRequest("write a draft"))
    assert d.source == "evaluated"
    assert (e.counters.precomputed_hits, e.counters.precomputed_misses, e.counters.evaluations) == (1, 1, 1)


def test_rule_change_rebuilds_table_and_clears_cache():
    e = engine(common_commands=[DecisionRequest("verify it")])
    assert e.decide(DecisionRequest("verify it")).target == "qa"
    e.evaluate(DecisionRequest("email it"))
    builds = e.counters.table_builds
    e.set_rules([Rule("all-ops", "ops", 1.0, frozenset({"verify", "email"}))])
    assert e.counters.table_builds == builds + 1
    assert e.decide(DecisionRequest("verify it")).target == "ops"
    assert e.evaluate(DecisionRequest("email it")).exit_reason != "cached"
    with pytest.raises(ValueError, match="unknown targets"):
        e.set_rules([Rule("x", "nobody", 1.0, frozenset({"a"}))])


def test_scheduled_refresh():
    e = engine(common_commands=[DecisionRequest("verify it")])

    async def main():
        task = asyncio.create_task(e.run_refresh(0.01))
        for _ in range(100):
            if e.counters.table_builds >= 3:
                break
            await asyncio.sleep(0.01)
        task.cancel()

    asyncio.run(main())
    assert e.counters.table_builds >= 3


def test_default_engine_early_termination_saves_work_without_changing_targets():
    requests = sample_commands(300, seed=5)
    off = default_engine(precomputed=False, early_termination=False)
    on = default_engine(precomputed=False, early_termination=True)
    full = [off.evaluate(r) for r in requests]
    early = [on.evaluate(r) for r in requests]
    assert [d.target for d in full] == [d.target for d in early]
    assert on.counters.rules_examined < off.counters.rules_examined * 0.8
    assert on.counters.exits["confidence"] > 0
    assert on.rule_count > 300


def test_confidence_threshold_is_configurable():
    request = DecisionRequest("deploy release v1.2 now")
    strict = engine(precomputed=False, confidence_threshold=0.999999)
    loose = engine(precomputed=False, confidence_threshold=0.9)
    assert strict.evaluate(request).target == loose.evaluate(request).target == "ops"
    assert loose.evaluate(request).rules_examined <= strict.evaluate(request).rules_examined
    with pytest.raises(ValueError):
        engine(confidence_threshold=0.3)
