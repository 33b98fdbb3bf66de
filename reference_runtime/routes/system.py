"""Executions, metrics, health and admin endpoints."""

from __future__ import annotations

import time
from typing import Any

import psutil
from starlette.requests import Request
from starlette.responses import Response

from ..errors import bad_request, iso, not_found
from ..store.repo import loads
from .common import json_response, path_id, runtime, services

FINISHED = ("completed", "failed", "cancelled")
PERIODS = {"1h": 3600, "6h": 6 * 3600, "24h": 86400, "7d": 7 * 86400, "30d": 30 * 86400}
_PROCESS = psutil.Process()


async def get_execution(request: Request) -> Response:
    s = services(request)
    eid = path_id(request, "execution_id", "execution")
    key = f"execution:{eid}"
    row = await s.cache.get(key)
    if row is None:
        row = await s.repo.get_execution(eid)
        if row is None:
            raise not_found("execution", eid)
        if row["status"] in FINISHED:  # finished executions never change: cache them
            await s.cache.set(key, row, tags=(f"execution:{eid}",))
    body: dict[str, Any] = {
        "id": row["id"],
        "type": row["type"],
        "status": row["status"],
        "progress": row["progress"],
        "startTime": iso(row["start_time"] or row["created_at"]),
    }
    if row["end_time"] is not None:
        body["endTime"] = iso(row["end_time"])
    if row["result"] is not None:
        body["result"] = loads(row["result"])
    if row["error"] is not None:
        body["error"] = row["error"]
    for key, col in (("agentId", "agent_id"), ("workflowId", "workflow_id")):
        if row[col] is not None:
            body[key] = row[col]
    return json_response(body)


async def metrics(request: Request) -> Response:
    rt = runtime(request)
    period = request.query_params.get("period", "24h")
    if period not in PERIODS:
        raise bad_request(f"period must be one of {list(PERIODS)}", {"parameter": "period"})
    counts = await rt.services.repo.metrics_counts(time.time() - PERIODS[period])
    proj = {r[0]: int(r[1]) for r in counts["projects"]}
    total_p = sum(proj.values())
    finished = proj.get("completed", 0) + proj.get("failed", 0)
    agent_total = sum(int(r[1]) for r in counts["agents"])
    weighted = sum(float(r[2] or 0) * int(r[1]) for r in counts["agents"])
    ex = {r[0]: (int(r[1]), r[2]) for r in counts["executions"]}
    durations = [(n, avg) for n, avg in ex.values() if avg is not None]
    avg_ms = int(1000 * sum(n * a for n, a in durations) / max(1, sum(n for n, _ in durations)))
    body = {
        "period": period,
        "projects": {
            "total": total_p,
            "active": sum(proj.get(s, 0) for s in ("initializing", "discovery", "building", "validating")),
            "completed": proj.get("completed", 0),
            "successRate": round(proj.get("completed", 0) / finished, 4) if finished else 0.0,
        },
        "agents": {
            "total": agent_total,
            "active": sum(1 for a in rt.services.registry if a.status == "active"),
            "averageQualityScore": round(weighted / agent_total, 2) if agent_total else 0.0,
        },
        "executions": {
            "total": sum(n for n, _ in ex.values()),
            "successful": ex.get("completed", (0, None))[0],
            "failed": ex.get("failed", (0, None))[0],
            "averageDuration": avg_ms,
        },
        "system": {
            "cpuUsage": _PROCESS.cpu_percent(interval=None),
            "memoryUsage": round(_PROCESS.memory_info().rss / (1024 * 1024), 2),
            "activeConnections": rt.active_connections,
            "queueDepth": rt.services.registry.total_depth(),
        },
    }
    return json_response(body)


async def health(request: Request) -> Response:
    body = await runtime(request).health()
    return json_response(body, 503 if body["status"] == "unhealthy" else 200)


async def activate(request: Request) -> Response:
    rt = runtime(request)
    project_id, agents = await rt.projects.activate_team()
    return json_response(
        {
            "status": "activated",
            "projectId": project_id,
            "team": rt.services.team.name,
            "agents": [{"id": a.id, "name": a.name, "role": a.role, "status": a.status} for a in agents],
        }
    )


async def openapi_document(request: Request) -> Response:
    """This runtime's OpenAPI document (``reference_runtime.openapi``), built once at start."""
    body: bytes = request.app.state.openapi
    return Response(body, media_type="application/json")
