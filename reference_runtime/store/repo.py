"""Domain operations over the store. Parameterized statements only (bindparam / Core)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, Protocol

import orjson
from sqlalchemy import bindparam, delete, desc, func, select, update

from . import schema as s
from .db import Store, WriteOp, row_dict, rows_to_dicts

UNFINISHED = ("queued", "processing")
#: The spec's webhook events (``webhooks:`` in openapi-spec.yaml).
PROJECT_EVENT = "project.status.changed"
AGENT_EVENT = "agent.status.changed"


def dumps(value: Any) -> str:
    return orjson.dumps(value).decode()


def loads(value: str | None) -> Any:
    return None if value is None else orjson.loads(value)


# Prebuilt statements: shapes are fixed so group commit can executemany them.
_INSERT_EXEC = s.executions.insert()
_INSERT_MSG = s.messages.insert()
_INSERT_AUDIT = s.audit.insert()
_EXEC_START = (
    update(s.executions)
    .where(s.executions.c.id == bindparam("b_id"))
    .values(status=bindparam("b_status"), progress=bindparam("b_progress"), start_time=bindparam("b_start"))
)
_EXEC_FINISH = (
    update(s.executions)
    .where(s.executions.c.id == bindparam("b_id"))
    .values(
        status=bindparam("b_status"),
        progress=bindparam("b_progress"),
        result=bindparam("b_result"),
        error=bindparam("b_error"),
        end_time=bindparam("b_end"),
    )
)
_EXEC_PROGRESS = (
    update(s.executions)
    .where(s.executions.c.id == bindparam("b_id"))
    .values(progress=bindparam("b_progress"))
)
_AGENT_STATUS = (
    update(s.agents)
    .where(s.agents.c.id == bindparam("b_id"))
    .values(status=bindparam("b_status"), last_active=bindparam("b_last"))
)


class StatusEvents(Protocol):
    """Webhook outbox rows for a status change (``webhooks.outbox.Outbox``), committed with it."""

    def wants(self, event: str) -> bool: ...

    def ops(self, event: str, project_id: str, agent_id: str | None, old: str, new: str) -> list[WriteOp]: ...


class Repo:
    def __init__(self, store: Store) -> None:
        self.store = store
        #: Event-based cache invalidation: called with (kind, id) after a record changes.
        self.on_change: Callable[[str, str], object] | None = None  # return value ignored
        self.status_events: StatusEvents | None = None

    def _with_status_event(
        self, op: WriteOp, event: str, project_id: str, agent_id: str | None, old: str | None, new: str
    ) -> WriteOp:
        """``op`` carrying the outbox rows of its status change (same transaction)."""
        hook = self.status_events
        if hook is not None and old is not None and old != new and hook.wants(event):
            op.extra = tuple(hook.ops(event, project_id, agent_id, old, new))
        return op

    def _changed(self, kind: str, record_id: str) -> None:
        if self.on_change is not None:
            self.on_change(kind, record_id)

    # -- projects ----------------------------------------------------------------------------
    async def insert_project(self, row: dict[str, Any]) -> None:
        await self.store.write(WriteOp("project_ins", s.projects.insert(), row))

    async def update_project(self, project_id: str, values: dict[str, Any]) -> None:
        values = {**values, "updated_at": time.time()}
        stmt = update(s.projects).where(s.projects.c.id == project_id).values(**values)
        op = WriteOp(f"project_upd:{id(stmt)}", stmt, {})
        new = values.get("status")
        if new is not None and self.status_events is not None and self.status_events.wants(PROJECT_EVENT):
            old = await self.store.scalar(select(s.projects.c.status).where(s.projects.c.id == project_id))
            op = self._with_status_event(op, PROJECT_EVENT, project_id, None, old, str(new))
        await self.store.write(op)
        self._changed("project", project_id)

    async def delete_project(self, project_id: str) -> None:
        ops = [
            WriteOp("d1", delete(s.agents).where(s.agents.c.project_id == project_id), {}),
            WriteOp("d2", delete(s.workflows).where(s.workflows.c.project_id == project_id), {}),
            WriteOp("d3", delete(s.projects).where(s.projects.c.id == project_id), {}),
        ]
        await self.store.write(*ops)
        self._changed("project", project_id)

    async def get_project(self, project_id: str) -> dict[str, Any] | None:
        row = await self.store.fetch_one(select(s.projects).where(s.projects.c.id == project_id))
        return None if row is None else row_dict(row)

    async def list_projects(
        self, statuses: tuple[str, ...] | None, limit: int, offset: int
    ) -> tuple[list[dict[str, Any]], int]:
        """One page (oldest first) of the projects in any of ``statuses`` (all when None), and
        how many there are in total."""
        stmt = select(
            s.projects.c.id, s.projects.c.name, s.projects.c.status, s.projects.c.created_at
        ).order_by(s.projects.c.created_at, s.projects.c.id)
        count_stmt = select(func.count()).select_from(s.projects)
        if statuses is not None:
            stmt = stmt.where(s.projects.c.status.in_(statuses))
            count_stmt = count_stmt.where(s.projects.c.status.in_(statuses))
        rows = rows_to_dicts(await self.store.fetch_all(stmt.limit(limit).offset(offset)))
        total = int(await self.store.scalar(count_stmt) or 0)
        return rows, total

    async def agent_counts(self, project_ids: list[str]) -> dict[str, int]:
        if not project_ids:
            return {}
        stmt = (
            select(s.agents.c.project_id, func.count())
            .where(s.agents.c.project_id.in_(project_ids))
            .group_by(s.agents.c.project_id)
        )
        rows = await self.store.fetch_all(stmt)
        return {str(r[0]): int(r[1]) for r in rows}

    # -- agents ------------------------------------------------------------------------------
    async def insert_agent(self, row: dict[str, Any]) -> None:
        await self.store.write(WriteOp("agent_ins", s.agents.insert(), row))

    async def update_agent(self, agent_id: str, values: dict[str, Any]) -> None:
        stmt = update(s.agents).where(s.agents.c.id == agent_id).values(**values)
        await self.store.write(WriteOp(f"agent_upd:{id(stmt)}", stmt, {}))
        self._changed("agent", agent_id)

    def agent_status_op(
        self, agent_id: str, status: str, project_id: str = "", old: str | None = None
    ) -> WriteOp:
        """The status write; with ``old`` given, also the webhook outbox rows of the change."""
        op = WriteOp(
            "agent_status", _AGENT_STATUS, {"b_id": agent_id, "b_status": status, "b_last": time.time()}
        )
        return self._with_status_event(op, AGENT_EVENT, project_id, agent_id, old, status)

    async def delete_agent(self, agent_id: str) -> None:
        await self.store.write(WriteOp("agent_del", delete(s.agents).where(s.agents.c.id == agent_id), {}))
        self._changed("agent", agent_id)

    async def get_agent(self, project_id: str, agent_id: str) -> dict[str, Any] | None:
        stmt = select(s.agents).where(s.agents.c.id == agent_id, s.agents.c.project_id == project_id)
        row = await self.store.fetch_one(stmt)
        return None if row is None else row_dict(row)

    async def list_agents(self, project_id: str) -> list[dict[str, Any]]:
        stmt = (
            select(s.agents)
            .where(s.agents.c.project_id == project_id)
            .order_by(s.agents.c.created_at, s.agents.c.id)
        )
        return rows_to_dicts(await self.store.fetch_all(stmt))

    async def all_agents(self) -> list[dict[str, Any]]:
        return rows_to_dicts(await self.store.fetch_all(select(s.agents)))

    # -- executions --------------------------------------------------------------------------
    def execution_insert_op(self, row: dict[str, Any]) -> WriteOp:
        return WriteOp("exec_ins", _INSERT_EXEC, row)

    def execution_start_op(self, exec_id: str, start: float) -> WriteOp:
        return WriteOp(
            "exec_start",
            _EXEC_START,
            {"b_id": exec_id, "b_status": "processing", "b_progress": 10, "b_start": start},
        )

    def execution_progress_op(self, exec_id: str, progress: int) -> WriteOp:
        return WriteOp("exec_progress", _EXEC_PROGRESS, {"b_id": exec_id, "b_progress": progress})

    def execution_finish_op(
        self, exec_id: str, status: str, result: Any, error: str | None, end: float, progress: int = 100
    ) -> WriteOp:
        params = {
            "b_id": exec_id,
            "b_status": status,
            "b_progress": progress,
            "b_result": None if result is None else dumps(result),
            "b_error": error,
            "b_end": end,
        }
        return WriteOp("exec_finish", _EXEC_FINISH, params)

    async def get_execution(self, exec_id: str) -> dict[str, Any] | None:
        row = await self.store.fetch_one(select(s.executions).where(s.executions.c.id == exec_id))
        return None if row is None else row_dict(row)

    async def unfinished_executions(self) -> list[dict[str, Any]]:
        stmt = (
            select(s.executions)
            .where(s.executions.c.status.in_(UNFINISHED))
            .order_by(s.executions.c.created_at, s.executions.c.id)
        )
        return rows_to_dicts(await self.store.fetch_all(stmt))

    async def claim_executions(self, old_owner: str | None, new_owner: str) -> None:
        cond = s.executions.c.owner.is_(None) if old_owner is None else s.executions.c.owner == old_owner
        stmt = update(s.executions).where(cond, s.executions.c.status == "queued").values(owner=new_owner)
        await self.store.write(WriteOp(f"claim:{id(stmt)}", stmt, {}))

    async def fail_interrupted(self, owner: str | None, reason: str) -> None:
        cond = s.executions.c.owner.is_(None) if owner is None else s.executions.c.owner == owner
        stmt = (
            update(s.executions)
            .where(cond, s.executions.c.status == "processing")
            .values(status="failed", error=reason, end_time=time.time())
        )
        await self.store.write(WriteOp(f"fail:{id(stmt)}", stmt, {}))

    # -- messages (agent history) -----------------------------------------------------------
    def message_op(
        self, agent_id: str, message_type: str, priority: int, exec_id: str | None, body: Any
    ) -> WriteOp:
        row = {
            "agent_id": agent_id,
            "message_type": message_type,
            "priority": priority,
            "timestamp": time.time(),
            "execution_id": exec_id,
            "body": dumps(body),
        }
        return WriteOp("msg_ins", _INSERT_MSG, row)

    def recent_messages_stmt(self, agent_id: str, limit: int) -> Any:
        return (
            select(
                s.messages.c.message_type, s.messages.c.priority, s.messages.c.timestamp, s.messages.c.body
            )
            .where(s.messages.c.agent_id == agent_id)
            .order_by(desc(s.messages.c.timestamp))
            .limit(limit)
        )

    async def recent_messages(self, agent_id: str, limit: int) -> list[dict[str, Any]]:
        return rows_to_dicts(await self.store.fetch_all(self.recent_messages_stmt(agent_id, limit)))

    # -- workflows ---------------------------------------------------------------------------
    async def insert_workflow(self, row: dict[str, Any]) -> None:
        await self.store.write(WriteOp("wf_ins", s.workflows.insert(), row))
        self._changed("project", str(row["project_id"]))

    async def get_workflow(self, project_id: str, workflow_id: str) -> dict[str, Any] | None:
        stmt = select(s.workflows).where(
            s.workflows.c.id == workflow_id, s.workflows.c.project_id == project_id
        )
        row = await self.store.fetch_one(stmt)
        return None if row is None else row_dict(row)

    async def list_workflows(self, project_id: str) -> list[dict[str, Any]]:
        stmt = (
            select(s.workflows)
            .where(s.workflows.c.project_id == project_id)
            .order_by(s.workflows.c.created_at, s.workflows.c.id)
        )
        return rows_to_dicts(await self.store.fetch_all(stmt))

    async def workflow_ids(self, project_id: str) -> list[str]:
        stmt = select(s.workflows.c.id).where(s.workflows.c.project_id == project_id)
        return [r[0] for r in await self.store.fetch_all(stmt)]

    async def mark_workflow_executed(self, workflow_id: str) -> None:
        stmt = (
            update(s.workflows)
            .where(s.workflows.c.id == workflow_id)
            .values(last_executed=time.time(), execution_count=s.workflows.c.execution_count + 1)
        )
        await self.store.write(WriteOp(f"wf_exec:{id(stmt)}", stmt, {}))

    # -- handoffs and audit ------------------------------------------------------------------
    async def insert_handoff(self, row: dict[str, Any]) -> None:
        await self.store.write(WriteOp("ho_ins", s.handoffs.insert(), row))

    async def update_handoff(self, handoff_id: str, values: dict[str, Any]) -> None:
        values = {**values, "updated_at": time.time()}
        stmt = update(s.handoffs).where(s.handoffs.c.id == handoff_id).values(**values)
        await self.store.write(WriteOp(f"ho_upd:{id(stmt)}", stmt, {}))

    async def get_handoff(self, handoff_id: str) -> dict[str, Any] | None:
        row = await self.store.fetch_one(select(s.handoffs).where(s.handoffs.c.id == handoff_id))
        return None if row is None else row_dict(row)

    async def count_item_handoffs(self, project_id: str, item_id: str) -> int:
        return await self.store.count(
            s.handoffs, s.handoffs.c.project_id == project_id, s.handoffs.c.item_id == item_id
        )

    def audit_op(self, event: str, entity: str, entity_id: str, data: Any) -> WriteOp:
        row = {
            "ts": time.time(),
            "event": event,
            "entity": entity,
            "entity_id": entity_id,
            "data": dumps(data),
        }
        return WriteOp("audit_ins", _INSERT_AUDIT, row)

    async def audit_events(self, entity_id: str) -> list[dict[str, Any]]:
        stmt = select(s.audit).where(s.audit.c.entity_id == entity_id).order_by(s.audit.c.id)
        return rows_to_dicts(await self.store.fetch_all(stmt))

    # -- metrics -----------------------------------------------------------------------------
    async def metrics_counts(self, since: float) -> dict[str, Any]:
        p, a, e = s.projects, s.agents, s.executions
        proj = await self.store.fetch_all(
            select(p.c.status, func.count()).where(p.c.created_at >= since).group_by(p.c.status)
        )
        agent_rows = await self.store.fetch_all(
            select(a.c.status, func.count(), func.avg(a.c.quality_score)).group_by(a.c.status)
        )
        exec_rows = await self.store.fetch_all(
            select(e.c.status, func.count(), func.avg(e.c.end_time - e.c.start_time))
            .where(e.c.created_at >= since)
            .group_by(e.c.status)
        )
        return {"projects": proj, "agents": agent_rows, "executions": exec_rows}
