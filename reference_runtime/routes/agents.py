"""Agents of a project, and command execution (the acknowledgment hot path)."""

from __future__ import annotations

import asyncio
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from ..agents.registry import AgentState
from ..errors import bad_request, not_found
from ..fields import COMMAND, DEFAULT_TIMEOUT_S, NAME, TIMEOUT_S
from ..runtime import Runtime
from ..store.repo import dumps
from .common import (
    as_integer,
    body_priority,
    existing_project_id,
    json_response,
    opt_obj,
    opt_str_list,
    parse_json_object,
    path_id,
    read_body,
    read_json,
    req_str,
    runtime,
    services,
)


def _personality(body: dict[str, Any]) -> dict[str, Any] | None:
    p = opt_obj(body, "personality")
    if p is not None:
        for key in ("traits", "background", "communication"):
            if key in p and not isinstance(p[key], str):
                raise bad_request(f"'personality.{key}' must be a string", {"field": f"personality.{key}"})
    return p


async def _agent(request: Request) -> AgentState:
    pid = path_id(request, "project_id", "project", uuid_format=True)
    aid = path_id(request, "agent_id", "agent")
    agent = await runtime(request).agents.lookup(pid, aid)
    if agent is None:
        raise not_found("agent", aid)
    return agent


async def list_agents(request: Request) -> Response:
    pid = await existing_project_id(request)
    await runtime(request).agents.sync_project(pid)
    return json_response({"agents": [a.to_api() for a in services(request).registry.in_project(pid)]})


async def create_agent(request: Request) -> Response:
    rt = runtime(request)
    pid = await existing_project_id(request)
    body, _ = await read_json(request)
    clean = {
        "name": req_str(body, "name", NAME),
        "role": req_str(body, "role", NAME),
        "personality": _personality(body) or {},
        "capabilities": opt_str_list(body, "capabilities") or [],
        "commands": opt_str_list(body, "commands") or [],
    }
    agent = await rt.agents.add(pid, clean)
    return json_response(agent.to_api(), 201)


async def get_agent(request: Request) -> Response:
    return json_response((await _agent(request)).to_api())


async def update_agent(request: Request) -> Response:
    """Validate and serialize every field first, persist, and only then swap the new values
    into the live agent: a rejected or failed update leaves it exactly as it was."""
    s = services(request)
    agent = await _agent(request)
    body, _ = await read_json(request)
    changes: dict[str, Any] = {}
    personality = _personality(body)
    if personality is not None:
        changes["personality"] = personality
    for key in ("capabilities", "commands"):
        items = opt_str_list(body, key)
        if items is not None:
            changes[key] = items
    if changes:
        values = {key: dumps(value) for key, value in changes.items()}
        await s.repo.update_agent(agent.id, values)
        for key, value in changes.items():
            setattr(agent, key, value)
        s.cache.on_record_changed("agent", agent.id)
    return json_response(agent.to_api())


async def delete_agent(request: Request) -> Response:
    rt = runtime(request)
    agent = await _agent(request)
    await rt.agents.remove(agent.id)
    rt.services.cache.on_record_changed("agent", agent.id)
    return Response(status_code=204)


def _timeout(body: dict[str, Any]) -> int:
    value = as_integer(body.get("timeout", DEFAULT_TIMEOUT_S))
    lo, hi = TIMEOUT_S.min, TIMEOUT_S.max
    if value is None or not lo <= value <= hi:
        raise bad_request(
            f"'timeout' must be an integer number of seconds in [{lo}, {hi}]", {"field": "timeout"}
        )
    return value


def _wants_async(prefer: str, body: dict[str, Any]) -> bool:
    flag = body.get("async", False)
    if not isinstance(flag, bool):
        raise bad_request("'async' must be a boolean", {"field": "async"})
    return flag or "respond-async" in prefer.lower()


async def execute_core(
    rt: Runtime, project_id: str, agent_id: str, raw: bytes, prefer: str
) -> tuple[int, dict[str, Any]]:
    """Validate, persist (group commit), enqueue; 202 — or wait for the result (200).

    Shared by the Starlette route and the ASGI fast path in ``app.Gate``.
    """
    agent = await rt.agents.lookup(project_id, agent_id)
    if agent is None:
        raise not_found("agent", agent_id[:128])
    body = parse_json_object(raw, rt.settings.max_json_depth)
    command = req_str(body, "command", COMMAND)
    parameters = opt_obj(body, "parameters") or {}
    context = opt_obj(body, "context") or {}
    timeout = _timeout(body)
    is_async = _wants_async(prefer, body)
    priority = body_priority(body)
    exec_id, future = await rt.commands.submit(
        agent, command, parameters, context, float(timeout), priority, not is_async, len(raw)
    )
    if future is None:
        return 202, {"executionId": exec_id, "status": "queued"}
    try:
        outcome = await asyncio.wait_for(asyncio.shield(future), timeout=timeout)
    except TimeoutError:
        return 200, {
            "executionId": exec_id,
            "command": command,
            "status": "timeout",
            "error": f"no result within {timeout}s; poll /v1/executions/{exec_id}",
            "duration": timeout * 1000,
        }
    resp: dict[str, Any] = {
        "executionId": exec_id,
        "command": command,
        "status": "success" if outcome["status"] == "completed" else "error",
        "output": outcome.get("output") or {},
        "duration": outcome.get("duration", 0),
    }
    if outcome.get("error"):
        resp["error"] = outcome["error"]
    return 200, resp


async def execute_command(request: Request) -> Response:
    rt = runtime(request)
    pid = path_id(request, "project_id", "project", uuid_format=True)
    aid = path_id(request, "agent_id", "agent")
    raw = await read_body(request, rt.settings.max_body_bytes)
    status, body = await execute_core(rt, pid, aid, raw, request.headers.get("prefer", ""))
    return json_response(body, status)
