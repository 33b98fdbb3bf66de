"""Command submission (reserve, persist, enqueue) and execution records, with an in-memory store."""

from __future__ import annotations

import asyncio
import re
from typing import Any

import pytest

from reference_runtime.agents.registry import AgentState, Registry, new_agent_row
from reference_runtime.bus import BusStats
from reference_runtime.commands import (
    CommandSubmitter,
    ExecutionLog,
    SubmissionDeps,
    execution_row,
    new_execution_id,
)
from reference_runtime.errors import ApiError
from reference_runtime.faults import FaultInjector
from reference_runtime.store import Repo, WriteOp


class FakeStore:
    def __init__(self, fail: bool = False) -> None:
        self.fail = fail
        self.written: list[WriteOp] = []

    async def write(self, *ops: WriteOp) -> None:
        if self.fail:
            raise OSError("disk gone")
        self.written.extend(ops)


class FakeBatcher:
    def __init__(self) -> None:
        self.items: list[WriteOp] = []

    def put_nowait(self, item: WriteOp) -> None:
        self.items.append(item)


def _agent(capacity: int = 2) -> AgentState:
    return Registry(capacity).add_from_row(new_agent_row("p1", {"name": "a", "role": "analyst"}, 1.0))


def _submitter(store: FakeStore, stats: BusStats) -> CommandSubmitter:
    deps = SubmissionDeps(store, Repo(store), stats, FaultInjector(), "42:owner", 3)  # type: ignore[arg-type]
    return CommandSubmitter(deps)


def _submit(sub: CommandSubmitter, agent: AgentState, wait: bool = False) -> tuple[str, Any]:
    return asyncio.run(sub.submit(agent, "*status", {"q": 1}, {}, 30.0, 2, wait, 17))


def test_execution_ids_are_unique_and_fixed_width() -> None:
    ids = {new_execution_id() for _ in range(1000)}
    assert len(ids) == 1000
    assert all(re.fullmatch(r"exe-[0-9a-f]{32}", i) for i in ids)


def test_execution_row_is_queued_and_owned() -> None:
    row = execution_row("exe-1", "workflow", "p1", {"input": {}}, 2, "me", workflow_id="wf-1")
    assert row["status"] == "queued" and row["progress"] == 0 and row["owner"] == "me"
    assert row["workflow_id"] == "wf-1" and row["agent_id"] is None and row["payload"] == '{"input":{}}'


def test_submit_persists_then_enqueues() -> None:
    store, stats, agent = FakeStore(), BusStats(), _agent()
    exec_id, future = _submit(_submitter(store, stats), agent)
    assert future is None
    assert [op.key for op in store.written] == ["exec_ins"]
    row = store.written[0].params
    assert (row["id"], row["agent_id"], row["owner"], row["priority"]) == (exec_id, agent.id, "42:owner", 2)
    work = agent.mailbox.get_nowait()
    assert (work.execution_id, work.command, work.nbytes) == (exec_id, "*status", 17)
    assert stats.sent[2] == 1


def test_full_mailbox_is_429_before_anything_is_written() -> None:
    store, stats, agent = FakeStore(), BusStats(), _agent(capacity=1)
    sub = _submitter(store, stats)
    _submit(sub, agent)
    with pytest.raises(ApiError) as err:
        _submit(sub, agent)
    assert err.value.status == 429 and err.value.headers == {"Retry-After": "3"}
    assert len(store.written) == 1 and stats.rejected == 1


def test_persistence_failure_is_503_and_gives_the_slot_back() -> None:
    agent = _agent(capacity=1)
    with pytest.raises(ApiError) as err:
        _submit(_submitter(FakeStore(fail=True), BusStats()), agent)
    assert err.value.status == 503
    assert agent.mailbox.free == 1 and len(agent.mailbox) == 0


def test_finish_command_also_records_the_agent_message() -> None:
    batcher = FakeBatcher()
    log = ExecutionLog(Repo(FakeStore()), batcher)  # type: ignore[arg-type]
    log.start("exe-1", 5.0)
    log.finish_command("exe-1", "agt-1", 3, "failed", {"x": 1}, "boom")
    keys = [op.key for op in batcher.items]
    assert keys[0].startswith("exec_start") and len(keys) == 3
    assert batcher.items[2].params["message_type"] == "error"
