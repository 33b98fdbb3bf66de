"""Workflows of a project: list, create, execute (sync 200 or async 202); handoffs (extension)."""

from __future__ import annotations

import time
import uuid
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from ..errors import ApiError, bad_request, iso, not_found
from ..fields import BACKUP, ITEM_ID, NAME, TRIGGER, URGENCY
from ..store.repo import dumps, loads
from ..workflows import WorkflowDefinitionError, plan_steps
from .common import (
    body_priority,
    existing_project_id,
    json_response,
    opt_obj,
    opt_str,
    opt_str_list,
    path_id,
    read_json,
    req_str,
    runtime,
    services,
)


def workflow_view(row: dict[str, Any]) -> dict[str, Any]:
    view = {
        "id": row["id"],
        "name": row["name"],
        "steps": loads(row["steps"]) or [],
        "status": row["status"],
        "version": row["version"],
        "createdAt": iso(row["created_at"]),
        "executionCount": row["execution_count"],
        "parallel": bool(row["parallel"]),
    }
    for key, src in (("description", "description"), ("trigger", "trigger")):
        if row[src] is not None:
            view[key] = row[src]
    if row["last_executed"] is not None:
        view["lastExecuted"] = iso(row["last_executed"])
    return view


async def list_workflows(request: Request) -> Response:
    pid = await existing_project_id(request)
    rows = await services(request).repo.list_workflows(pid)
    return json_response({"workflows": [workflow_view(r) for r in rows]})


async def create_workflow(request: Request) -> Response:
    pid = await existing_project_id(request)
    body, _ = await read_json(request)
    name = req_str(body, "name", NAME)
    steps = body.get("steps")
    if not isinstance(steps, list):
        raise bad_request("'steps' is required (array of objects)", {"field": "steps"})
    parallel = body.get("parallel", False)
    if not isinstance(parallel, bool):
        raise bad_request("'parallel' must be a boolean", {"field": "parallel"})
    try:
        plan_steps(steps, parallel)
    except WorkflowDefinitionError as exc:
        raise bad_request(f"invalid steps: {exc}", {"field": "steps"}) from None
    now = time.time()
    row = {
        "id": "wf-" + uuid.uuid4().hex[:16],
        "project_id": pid,
        "name": name,
        "description": opt_str(body, "description"),
        "trigger": opt_str(body, "trigger", TRIGGER),
        "steps": dumps(steps),
        "parallel": int(parallel),
        "status": "active",
        "version": 1,
        "created_at": now,
        "last_executed": None,
        "execution_count": 0,
    }
    await services(request).repo.insert_workflow(row)
    return json_response(workflow_view(row), 201)


async def execute_workflow(request: Request) -> Response:
    rt = runtime(request)
    pid = await existing_project_id(request)
    wid = path_id(request, "workflow_id", "workflow")
    wf = await rt.services.repo.get_workflow(pid, wid)
    if wf is None:
        raise not_found("workflow", wid)
    await rt.agents.sync_project(pid)
    body, _ = await read_json(request, required=False)
    wf_input = opt_obj(body, "input") or {}
    flag = body.get("async", False)
    if not isinstance(flag, bool):
        raise bad_request("'async' must be a boolean", {"field": "async"})
    is_async = flag or "respond-async" in request.headers.get("prefer", "").lower()
    try:
        exec_id, result = await rt.workflows.start(pid, wf, wf_input, wait=not is_async)
    except WorkflowDefinitionError as exc:  # stored before a rule it breaks was added
        raise ApiError(409, "conflict", f"workflow {wid!r} cannot run: {exc}", {"workflowId": wid}) from None
    if result is None:
        return json_response({"executionId": exec_id, "status": "queued"}, 202)
    return json_response(result)


def _handoff_fields(body: dict[str, Any]) -> dict[str, Any]:
    """Every field of a handoff request checked (400) before any agent is looked up."""
    return {
        "from": req_str(body, "from", NAME),
        "to": req_str(body, "to", NAME),
        "backup": opt_str(body, "backup", BACKUP),
        "item_id": req_str(body, "itemId", ITEM_ID),
        "context": opt_obj(body, "context") or {},
        "priority": body_priority(body),
        "reason": opt_str(body, "reason") or "",
        "urgency": opt_str(body, "urgency", URGENCY) or "normal",
        "required": opt_str_list(body, "requiredFields"),
        "instructions": opt_str(body, "instructions") or "",
    }


def _agent_conflict(field: str, ref: str, why: str) -> ApiError:
    """409: the request is well formed, but the project's agents do not fit it (the agents
    are state of the project, not of this URL: 404 would say the project is missing)."""
    return ApiError(409, "conflict", f"'{field}' {why}: {ref!r}", {"field": field, "agent": ref})


async def create_handoff(request: Request) -> Response:
    """Extension (not in the spec): ``POST /v1/projects/{id}/handoffs``."""
    rt = runtime(request)
    registry = rt.services.registry
    pid = await existing_project_id(request)
    body, _ = await read_json(request)
    f = _handoff_fields(body)
    await rt.agents.sync_project(pid)
    agents = {key: registry.find(pid, f[key]) if f[key] else None for key in ("from", "to", "backup")}
    for key in ("from", "to", "backup"):
        if f[key] and agents[key] is None:
            raise _agent_conflict(key, f[key], "names no agent of this project")
    sender, receiver = agents["from"], agents["to"]
    assert sender is not None and receiver is not None
    if sender.id == receiver.id:
        raise _agent_conflict("to", f["to"], "is the sending agent itself")
    ack = await rt.handoffs.initiate(
        pid,
        sender,
        receiver,
        f["item_id"],
        f["context"],
        f["priority"],
        f["reason"],
        f["urgency"],
        agents["backup"],
        f["required"],
        f["instructions"],
    )
    return json_response(ack)


async def get_handoff(request: Request) -> Response:
    repo = services(request).repo
    pid = await existing_project_id(request)
    hid = path_id(request, "handoff_id", "handoff")
    row = await repo.get_handoff(hid)
    if row is None or row["project_id"] != pid:
        raise not_found("handoff", hid)
    audit = await repo.audit_events(hid)
    return json_response(
        {
            "id": row["id"],
            "itemId": row["item_id"],
            "from": row["from_agent"],
            "to": row["to_agent"],
            "priority": f"P{row['priority']}",
            "status": row["status"],
            "attempts": row["attempts"],
            "context": loads(row["context"]),
            "reason": row["reason"],
            "createdAt": iso(row["created_at"]),
            "updatedAt": iso(row["updated_at"]),
            "audit": [{"event": a["event"], "ts": iso(a["ts"]), "data": loads(a["data"])} for a in audit],
        }
    )
