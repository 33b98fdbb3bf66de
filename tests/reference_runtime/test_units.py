"""Workflow planning, creation phases (sequential vs concurrent), history analysis, handoff fallback."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from reference_runtime.agents.worker import analyze_history, command_verb
from reference_runtime.config import load_settings
from reference_runtime.creation import run_steps
from reference_runtime.errors import ApiError
from reference_runtime.routes.common import check_declared_length
from reference_runtime.runtime import Runtime
from reference_runtime.workflows import WorkflowDefinitionError, plan_steps

from .helpers import Server


def test_plan_steps_dependencies() -> None:
    seq = plan_steps([{"agent": "a", "action": "x"}, {"agent": "b", "action": "y"}], parallel=False)
    assert seq[1].deps == ["step-1"]
    par = plan_steps([{"agent": "a", "action": "x"}, {"agent": "b", "action": "y"}], parallel=True)
    assert par[1].deps == []
    cond = plan_steps(
        [{"id": "s", "agent": "a", "action": "x"}, {"agent": "b", "action": "y", "conditions": ["after:s"]}],
        parallel=True,
    )
    assert cond[1].deps == ["s"]
    with pytest.raises(WorkflowDefinitionError, match="cycle"):
        plan_steps([{"id": "a", "agent": "a", "action": "x", "dependsOn": ["a"]}], parallel=False)


def test_run_steps_parallel_vs_sequential() -> None:
    async def step(i: int) -> int:
        await asyncio.sleep(0.05)
        return i

    async def timed(parallel: bool) -> tuple[list[int], float]:
        t0 = time.perf_counter()
        out = await run_steps([lambda i=i: step(i) for i in range(4)], parallel)  # type: ignore[misc]
        return out, time.perf_counter() - t0

    seq, t_seq = asyncio.run(timed(False))
    par, t_par = asyncio.run(timed(True))
    assert seq == par == [0, 1, 2, 3]
    assert t_seq > 2 * t_par  # four sleeps one after another vs at once


def test_command_verb_and_history_analysis() -> None:
    assert command_verb("*Analyze requirements") == "analyze" and command_verb("  ") == ""
    rows = [
        {"body": '{"text": "alpha beta beta"}', "message_type": "result", "timestamp": 10.0},
        {"body": '{"text": "beta gamma"}', "message_type": "handoff", "timestamp": 5.0},
    ]
    stats = analyze_history(rows)
    assert stats["messages"] == 2 and stats["topTerms"][0] == "beta"
    assert stats["byType"] == {"result": 1, "handoff": 1} and stats["meanGapS"] == 5.0
    assert 0 < stats["meanSimilarity"] <= 1


def test_handoff_falls_back_to_backup_when_receiver_silent(tmp_path: Path, backend: Server) -> None:
    settings = load_settings(
        None,
        {
            "state_dir": str(tmp_path),
            "handoff": {"ack_timeout_s": 0.2, "retry_attempts": 2, "retry_interval_s": 0.05},
        },
        environ={},
    )

    async def run() -> tuple[dict[str, object], list[str]]:
        rt = Runtime(settings, backend.base_url)
        await rt.start()
        try:
            row = await rt.projects.create({"name": "hand", "domain": "d", "metadata": {"teamSize": 0}})
            a = await rt.agents.add(row["id"], {"name": "a", "role": "analyst"})
            b = await rt.agents.add(row["id"], {"name": "b", "role": "pm"})
            c = await rt.agents.add(row["id"], {"name": "c", "role": "po"})
            await rt.agents.stop(b.id)  # receiver offline: never acks
            ack = await rt.handoffs.initiate(row["id"], a, b, "item", {"k": 1}, backup=c)
            await asyncio.sleep(0.1)
            events = [e["event"] for e in await rt.services.repo.audit_events(str(ack["handoff_id"]))]
            return ack, events
        finally:
            await rt.stop()

    ack, events = asyncio.run(run())
    assert ack["status"] == "accepted" and ack["attempts"] == 3
    assert events.count("handoff.retry") == 2 and "handoff.fallback" in events
    assert events[-1] == "handoff.completed"


@pytest.mark.parametrize(("declared", "status"), [("²", 400), ("-1", 400), ("1e3", 400), ("11", 413)])
def test_declared_content_length_is_4xx_never_500(declared: str, status: int) -> None:
    with pytest.raises(ApiError) as caught:
        check_declared_length(declared, 10)
    assert caught.value.status == status


def test_declared_content_length_within_the_limit_passes() -> None:
    check_declared_length(None, 10)
    check_declared_length("10", 10)
