"""Live agents: in-memory state (status, mailbox, worker) mirrored to the ``agents`` table."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from ..errors import iso
from ..store.repo import dumps, loads
from .mailbox import Mailbox


@dataclass(slots=True)
class Work:
    """One message in an agent's mailbox."""

    kind: str  # "command" | "handoff" | "step"
    agent_id: str
    command: str
    parameters: dict[str, Any]
    context: dict[str, Any]
    priority: int = 3
    timeout_s: float = 30.0
    execution_id: str | None = None
    enqueued: float = field(default_factory=time.monotonic)
    future: asyncio.Future[dict[str, Any]] | None = None
    nbytes: int = 0


@dataclass
class AgentState:
    id: str
    project_id: str
    name: str
    role: str
    personality: dict[str, Any]
    capabilities: list[str]
    commands: list[str]
    created_at: float
    mailbox: Mailbox[Work]
    status: str = "created"
    quality_score: float = 80.0
    last_active: float | None = None
    in_flight: int = 0
    processed: int = 0
    failed: int = 0
    last_failed: bool = False
    task: asyncio.Task[None] | None = None
    persisted_status: str = "created"
    persisted_at: float = 0.0

    def to_api(self) -> dict[str, Any]:
        view = {
            "id": self.id,
            "name": self.name,
            "role": self.role,
            "personality": self.personality,
            "capabilities": self.capabilities,
            "commands": self.commands,
            "status": self.status,
            "qualityScore": self.quality_score,
            "createdAt": iso(self.created_at),
        }
        if self.last_active is not None:  # the spec types it as a date-time string, never null
            view["lastActive"] = iso(self.last_active)
        return view

    def summary(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "role": self.role, "status": self.status}


def new_agent_row(project_id: str, body: dict[str, Any], now: float) -> dict[str, Any]:
    """A row of the agents table for a newly created agent (status ``created``)."""
    return {
        "id": "agt-" + uuid.uuid4().hex[:16],
        "project_id": project_id,
        "name": body["name"],
        "role": body["role"],
        "status": "created",
        "personality": dumps(body.get("personality") or {}),
        "capabilities": dumps(body.get("capabilities") or []),
        "commands": dumps(body.get("commands") or []),
        "quality_score": 80.0,
        "created_at": now,
        "last_active": None,
    }


class Registry:
    def __init__(self, mailbox_capacity: int) -> None:
        self.mailbox_capacity = mailbox_capacity
        self._agents: dict[str, AgentState] = {}
        self._by_project: dict[str, dict[str, AgentState]] = {}

    def __len__(self) -> int:
        return len(self._agents)

    def __iter__(self) -> Iterator[AgentState]:
        return iter(list(self._agents.values()))

    def add_from_row(self, row: dict[str, Any]) -> AgentState:
        state = AgentState(
            id=row["id"],
            project_id=row["project_id"],
            name=row["name"],
            role=row["role"],
            personality=loads(row["personality"]) or {},
            capabilities=loads(row["capabilities"]) or [],
            commands=loads(row["commands"]) or [],
            created_at=row["created_at"],
            mailbox=Mailbox(self.mailbox_capacity),
            status=row["status"],
            quality_score=row["quality_score"],
            last_active=row.get("last_active"),
            persisted_status=row["status"],
        )
        self._agents[state.id] = state
        self._by_project.setdefault(state.project_id, {})[state.id] = state
        return state

    def get(self, project_id: str, agent_id: str) -> AgentState | None:
        agent = self._agents.get(agent_id)
        return agent if agent is not None and agent.project_id == project_id else None

    def by_id(self, agent_id: str) -> AgentState | None:
        return self._agents.get(agent_id)

    def in_project(self, project_id: str) -> list[AgentState]:
        return sorted(self._by_project.get(project_id, {}).values(), key=lambda a: (a.created_at, a.id))

    def find(self, project_id: str, ref: str) -> AgentState | None:
        """Resolve a workflow step's ``agent``: id, then name, then role (case-insensitive)."""
        members = self._by_project.get(project_id, {})
        if ref in members:
            return members[ref]
        low = ref.lower()
        for attr in ("name", "role"):
            for agent in self.in_project(project_id):
                if str(getattr(agent, attr)).lower() == low:
                    return agent
        return None

    def remove(self, agent_id: str) -> AgentState | None:
        agent = self._agents.pop(agent_id, None)
        if agent is not None:
            self._by_project.get(agent.project_id, {}).pop(agent_id, None)
        return agent

    def remove_project(self, project_id: str) -> list[AgentState]:
        members = list(self._by_project.pop(project_id, {}).values())
        for agent in members:
            self._agents.pop(agent.id, None)
        return members

    def depths(self) -> dict[str, int]:
        return {a.id: len(a.mailbox) for a in self._agents.values()}

    def total_depth(self) -> int:
        return sum(len(a.mailbox) for a in self._agents.values())
