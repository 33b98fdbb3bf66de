"""Agent status persistence: rate-limited to once a second per agent, but never lost."""

from __future__ import annotations

import asyncio
import time
import uuid
from pathlib import Path
from typing import Any

import orjson

from reference_runtime.agents.registry import Registry, new_agent_row
from reference_runtime.agents.status import AgentStatusWriter
from reference_runtime.bus import UnknownAgent
from reference_runtime.config import load_settings
from reference_runtime.runtime import Runtime
from reference_runtime.store import Repo, WriteOp

from .helpers import Server


def _settings(tmp: Path) -> Any:
    return load_settings(None, {"state_dir": str(tmp), "archive": {"enabled": False}}, environ={})


async def _agent(rt: Runtime) -> tuple[str, str, Any]:
    now = time.time()
    project = {
        "id": str(uuid.uuid4()),
        "name": "status test",
        "domain": "d",
        "status": "completed",
        "phase": "ready",
        "requirements": "{}",
        "metadata": "{}",
        "created_at": now,
        "updated_at": now,
    }
    await rt.services.repo.insert_project(project)
    agent = await rt.agents.add(project["id"], {"name": "a", "role": "analyst"})
    return project["id"], agent.id, agent


async def _stored_status(rt: Runtime, pid: str, aid: str) -> str:
    row = await rt.services.repo.get_agent(pid, aid)
    assert row is not None
    return str(row["status"])


class _Batcher:
    def __init__(self) -> None:
        self.ops: list[WriteOp] = []

    def put_nowait(self, op: WriteOp) -> None:
        self.ops.append(op)


def test_status_writer_throttles_per_agent_and_flushes_at_shutdown() -> None:
    async def main() -> list[list[str]]:
        registry, batcher = Registry(10), _Batcher()
        writer = AgentStatusWriter(registry, Repo(None), batcher)  # type: ignore[arg-type]
        a = registry.add_from_row(new_agent_row("p", {"name": "a", "role": "r"}, 1.0))
        b = registry.add_from_row(new_agent_row("p", {"name": "b", "role": "r"}, 1.0))
        seen = []
        writer.set_status(a, "active")  # first change: written at once
        writer.set_status(b, "active")  # another agent has its own interval
        writer.set_status(a, "idle")  # inside the interval: deferred
        writer.set_status(b, "error")  # deferred
        seen.append([op.params["b_status"] for op in batcher.ops])
        writer.set_status(a, "active")  # back to what is stored: nothing left to write for a
        writer.flush_pending()
        seen.append([op.params["b_status"] for op in batcher.ops])
        return seen

    assert asyncio.run(main()) == [["active", "active"], ["active", "active", "error"]]


def test_status_change_inside_the_interval_is_persisted_later(tmp_path: Path, backend: Server) -> None:
    async def main() -> None:
        rt = Runtime(_settings(tmp_path), backend.base_url)
        await rt.start()
        try:
            pid, aid, agent = await _agent(rt)
            rt.statuses.set_status(agent, "active")  # first change: persisted at once
            rt.statuses.set_status(agent, "idle")  # inside the interval: deferred, not dropped
            deadline = time.monotonic() + 30  # generous: shared CI machine
            while await _stored_status(rt, pid, aid) != "idle":
                assert time.monotonic() < deadline, "deferred status never persisted"
                await asyncio.sleep(0.1)
        finally:
            await rt.stop()

    asyncio.run(main())


def test_pending_status_is_persisted_at_shutdown(tmp_path: Path, backend: Server) -> None:
    async def first() -> tuple[str, str]:
        rt = Runtime(_settings(tmp_path), backend.base_url)
        await rt.start()
        try:
            pid, aid, agent = await _agent(rt)
            rt.statuses.set_status(agent, "active")
            rt.statuses.set_status(agent, "error")  # still waiting for its interval at stop()
            return pid, aid
        finally:
            await rt.stop()

    async def second(pid: str, aid: str) -> str:
        rt = Runtime(_settings(tmp_path), backend.base_url)
        await rt.start()
        try:
            return await _stored_status(rt, pid, aid)
        finally:
            await rt.stop()

    pid, aid = asyncio.run(first())
    assert asyncio.run(second(pid, aid)) == "error"


def test_waiters_are_released_when_their_agent_is_deleted(tmp_path: Path, backend: Server) -> None:
    """Sync commands in flight or queued on a deleted agent answer (failed) instead of hanging."""

    async def main() -> list[dict[str, Any]]:
        rt = Runtime(_settings(tmp_path), backend.base_url)
        await rt.start()
        try:
            _pid, aid, agent = await _agent(rt)
            rt.services.faults.configure({"model_latency": {"fixed_ms": 30_000}})  # every model call hangs
            futures = []
            for i in range(6):  # some in flight, the rest queued behind them
                _, fut = await rt.commands.submit(agent, f"*research x{i}", {}, {}, 3600.0, 3, True, 10)
                assert fut is not None
                futures.append(fut)
            await asyncio.sleep(0.2)
            await rt.agents.remove(aid)
            return list(await asyncio.wait_for(asyncio.gather(*futures), timeout=20))
        finally:
            rt.services.faults.configure({})
            await rt.stop()

    outcomes = asyncio.run(main())
    assert [o["status"] for o in outcomes] == ["failed"] * 6
    assert all(o["error"] == "agent stopped" for o in outcomes)


def test_workflow_step_that_raises_fails_the_step_not_the_run(
    tmp_path: Path, backend: Server, monkeypatch: Any
) -> None:
    async def main() -> dict[str, Any]:
        rt = Runtime(_settings(tmp_path), backend.base_url)
        await rt.start()
        try:
            pid, aid, _agent_state = await _agent(rt)

            def gone(*_args: Any, **_kwargs: Any) -> None:
                raise UnknownAgent(aid)  # deleted between the lookup and the send

            monkeypatch.setattr(rt.services.bus, "send", gone)
            wf = {"id": "wf-x", "steps": orjson.dumps([{"agent": aid, "action": "*status"}]), "parallel": 0}
            _, result = await asyncio.wait_for(rt.workflows.start(pid, wf, {}, wait=True), timeout=20)
            assert result is not None
            return result
        finally:
            await rt.stop()

    result = asyncio.run(main())
    assert result["status"] == "failed"
    assert result["steps"][0]["status"] == "failed" and "UnknownAgent" in result["steps"][0]["error"]


def test_cancelled_ack_releases_its_mailbox_slot(tmp_path: Path, backend: Server, monkeypatch: Any) -> None:
    async def main() -> tuple[int, int]:
        rt = Runtime(_settings(tmp_path), backend.base_url)
        await rt.start()
        try:
            _pid, _aid, agent = await _agent(rt)
            free = agent.mailbox.free

            async def never(*_args: Any) -> None:
                await asyncio.Event().wait()

            monkeypatch.setattr(rt.services.store, "write", never)  # the group commit never answers
            task = asyncio.create_task(rt.commands.submit(agent, "*status", {}, {}, 30.0, 3, False, 10))
            await asyncio.sleep(0.05)
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            return free, agent.mailbox.free
        finally:
            monkeypatch.undo()
            await rt.stop()

    before, after = asyncio.run(main())
    assert after == before
