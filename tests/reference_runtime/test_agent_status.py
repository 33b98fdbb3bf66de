"""Agent status persistence: rate-limited to once a second per agent, but never lost."""

from __future__ import annotations

import asyncio
import time
import uuid
from pathlib import Path
from typing import Any

from reference_runtime.config import load_settings
from reference_runtime.runtime import Runtime

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
    await rt.repo.insert_project(project)
    agent = await rt.add_agent(project["id"], {"name": "a", "role": "analyst"})
    return project["id"], agent.id, agent


async def _stored_status(rt: Runtime, pid: str, aid: str) -> str:
    row = await rt.repo.get_agent(pid, aid)
    assert row is not None
    return str(row["status"])


def test_status_change_inside_the_interval_is_persisted_later(tmp_path: Path, backend: Server) -> None:
    async def main() -> None:
        rt = Runtime(_settings(tmp_path), backend.base_url)
        await rt.start()
        try:
            pid, aid, agent = await _agent(rt)
            rt.set_agent_status(agent, "active")  # first change: persisted at once
            rt.set_agent_status(agent, "idle")  # inside the interval: deferred, not dropped
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
            rt.set_agent_status(agent, "active")
            rt.set_agent_status(agent, "error")  # still waiting for its interval at stop()
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
