"""Agent status: changed in memory at once, persisted at most once a second per agent."""

from __future__ import annotations

import asyncio
import time

from ..batching import Batcher
from ..store import Repo, WriteOp
from .registry import AgentState, Registry

STATUS_PERSIST_INTERVAL_S = 1.0


class AgentStatusWriter:
    """A busy agent flips active ↔ idle per command; writing every flip would flood the writer.
    A change inside the interval is persisted when it ends (the latest status wins), never dropped."""

    def __init__(self, registry: Registry, repo: Repo, status_batcher: Batcher[WriteOp]) -> None:
        self._registry = registry
        self._repo = repo
        self._batcher = status_batcher
        self._timers: dict[str, asyncio.TimerHandle] = {}

    def set_status(self, agent: AgentState, status: str) -> None:
        agent.status = status
        if status == agent.persisted_status:
            return
        wait = STATUS_PERSIST_INTERVAL_S - (time.monotonic() - agent.persisted_at)
        if wait <= 0:
            self._persist(agent)
        elif agent.id not in self._timers:
            loop = asyncio.get_running_loop()
            self._timers[agent.id] = loop.call_later(wait, self._persist_deferred, agent)

    def flush_pending(self) -> None:
        """Shutdown: persist every status change still waiting for its interval to end."""
        for handle in self._timers.values():
            handle.cancel()
        self._timers.clear()
        for agent in self._registry:
            if agent.status != agent.persisted_status:
                self._persist(agent)

    def _persist(self, agent: AgentState) -> None:
        old, agent.persisted_status = agent.persisted_status, agent.status
        agent.persisted_at = time.monotonic()
        # ``old`` is the last persisted status: the webhook event describes this persisted change.
        self._batcher.put_nowait(self._repo.agent_status_op(agent.id, agent.status, agent.project_id, old))

    def _persist_deferred(self, agent: AgentState) -> None:
        self._timers.pop(agent.id, None)
        if agent.status != agent.persisted_status and self._registry.by_id(agent.id) is agent:
            self._persist(agent)
