"""Projects: creation (team creation in the background, admission-limited), the reference team
activation, and deletion with the project's agents."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .agents.registry import AgentState, Registry
from .agents.supervisor import AgentSupervisor
from .agents.team import TeamDefinition
from .creation import TeamCreator, requested_roles
from .errors import overloaded
from .store import Repo
from .store.repo import dumps
from .tasks import BackgroundTasks

MAX_CONCURRENT_CREATIONS = 16
MAX_PENDING_CREATIONS = 500
REFERENCE_TEAM_PROJECT_ID = str(uuid.uuid5(uuid.NAMESPACE_URL, "motherbox-reference-team"))


@dataclass(frozen=True)
class ProjectDeps:
    repo: Repo
    registry: Registry
    agents: AgentSupervisor
    creator: TeamCreator
    team: TeamDefinition
    tasks: BackgroundTasks
    set_status: Callable[[AgentState, str], None]


class ProjectService:
    def __init__(self, deps: ProjectDeps) -> None:
        self.deps = deps
        self._creation_slots = asyncio.Semaphore(MAX_CONCURRENT_CREATIONS)
        self._creations_pending = 0

    async def create(self, body: dict[str, Any]) -> dict[str, Any]:
        """Persist the project, then run team creation (research + creation) in the background."""
        now = time.time()
        row = _project_row(
            str(uuid.uuid4()),
            body["name"],
            body["domain"],
            body.get("requirements") or {},
            body.get("metadata") or {},
            now,
            status="initializing",
            phase="initialization",
        )
        if self._creations_pending >= MAX_PENDING_CREATIONS:
            raise overloaded("too many team creations in progress; retry later", 2, status=503)
        await self.deps.repo.insert_project(row)
        roles = requested_roles(body.get("metadata") or {}, self.deps.creator.library)
        self._creations_pending += 1
        self.deps.tasks.spawn(self._create_team(row, roles), f"create-{row['id']}")
        return row

    async def _create_team(self, project: dict[str, Any], roles: list[str]) -> None:
        try:
            async with self._creation_slots:  # bounded concurrency: creation is model-call heavy
                await self.deps.creator.create(project, roles)
        except Exception as exc:  # recorded on the project; never crashes the app
            await self.deps.repo.update_project(
                project["id"],
                {"status": "failed", "phase": f"creation failed: {type(exc).__name__}: {exc}"[:200]},
            )
        finally:
            self._creations_pending -= 1

    async def activate_team(self) -> tuple[str, list[AgentState]]:
        """Create (once) the system project holding the 10-agent team and mark every agent active."""
        project_id = REFERENCE_TEAM_PROJECT_ID
        team = self.deps.team
        if await self.deps.repo.get_project(project_id) is None:
            requirements = {"description": team.description}
            metadata = {"system": True, "teamVersion": team.version}
            row = _project_row(
                project_id,
                team.name,
                "agent-team-creation",
                requirements,
                metadata,
                time.time(),
                status="completed",
                phase="active",
            )
            await self.deps.repo.insert_project(row)
        await self._add_missing_roles(project_id)
        agents = self.deps.registry.in_project(project_id)
        for agent in agents:
            if agent.status in ("created", "offline"):
                self.deps.set_status(agent, "active")
        return project_id, agents

    async def _add_missing_roles(self, project_id: str) -> None:
        existing = {a.role for a in self.deps.registry.in_project(project_id)}
        for role in self.deps.team.roles:
            if role.role in existing:
                continue
            await self.deps.agents.add(
                project_id,
                {
                    "name": role.name,
                    "role": role.role,
                    "personality": {k: str(v) for k, v in role.persona.items() if isinstance(v, str)},
                    "capabilities": [role.group, role.phase],
                    "commands": sorted(role.commands),
                },
            )

    async def remove(self, project_id: str) -> None:
        await self.deps.agents.remove_project_agents(project_id)
        await self.deps.repo.delete_project(project_id)


def _project_row(
    project_id: str,
    name: str,
    domain: str,
    requirements: dict[str, Any],
    metadata: dict[str, Any],
    now: float,
    *,
    status: str,
    phase: str,
) -> dict[str, Any]:
    return {
        "id": project_id,
        "name": name,
        "domain": domain,
        "status": status,
        "phase": phase,
        "requirements": dumps(requirements),
        "metadata": dumps(metadata),
        "created_at": now,
        "updated_at": now,
    }
