"""Agent lifecycle: one worker per live agent; add, adopt (multi-worker), stop and remove."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from ..cache import LayeredCache
from ..observability import RuntimeMetrics
from ..store import Repo
from .registry import AgentState, Registry, new_agent_row
from .worker import AgentWorker, WorkerDeps


@dataclass(frozen=True)
class SupervisorDeps:
    registry: Registry
    repo: Repo
    cache: LayeredCache
    metrics: RuntimeMetrics
    worker: WorkerDeps
    multi_worker: bool  # ``--workers N``: other processes create agents this one must adopt


class AgentSupervisor:
    def __init__(self, deps: SupervisorDeps) -> None:
        self.deps = deps
        self.workers: dict[str, AgentWorker] = {}

    def start(self, agent: AgentState) -> None:
        worker = AgentWorker(self.deps.worker, agent)
        self.workers[agent.id] = worker
        worker.start()

    def start_rows(self, rows: Iterable[dict[str, Any]]) -> None:
        for row in rows:
            self.start(self.deps.registry.add_from_row(row))

    async def add(self, project_id: str, body: dict[str, Any]) -> AgentState:
        row = new_agent_row(project_id, body, time.time())
        await self.deps.repo.insert_agent(row)
        agent = self.deps.registry.add_from_row(row)
        self.start(agent)
        return agent

    async def lookup(self, project_id: str, agent_id: str) -> AgentState | None:
        """With ``--workers N`` each process has its own registry: a miss may be an agent that
        another worker created, so look in the database before answering 404."""
        registry = self.deps.registry
        agent = registry.get(project_id, agent_id)
        if agent is None and self.deps.multi_worker:
            row = await self.deps.repo.get_agent(project_id, agent_id)
            if row is not None and registry.by_id(agent_id) is None:
                agent = registry.add_from_row(row)
                self.start(agent)
        return agent

    async def sync_project(self, project_id: str) -> None:
        """Multi-worker: adopt the project's agents created by other workers."""
        if not self.deps.multi_worker:
            return
        rows = await self.deps.repo.list_agents(project_id)
        self.start_rows(row for row in rows if self.deps.registry.by_id(row["id"]) is None)

    async def stop(self, agent_id: str) -> None:
        worker = self.workers.pop(agent_id, None)
        if worker is not None:
            await worker.stop()

    async def stop_all(self) -> None:
        await asyncio.gather(*(w.stop() for w in self.workers.values()), return_exceptions=True)

    async def remove(self, agent_id: str) -> None:
        agent = self.deps.registry.remove(agent_id)
        if agent is not None:
            await self.stop(agent_id)
            self._forget(agent_id)
            await self.deps.repo.delete_agent(agent_id)

    async def remove_project_agents(self, project_id: str) -> None:
        """Stops the project's agents; the rows go with the project's own delete."""
        for agent in self.deps.registry.remove_project(project_id):
            await self.stop(agent.id)
            self._forget(agent.id)

    def _forget(self, agent_id: str) -> None:
        self.deps.metrics.forget_agent(agent_id)
        self.deps.cache.drop_agent(agent_id)
