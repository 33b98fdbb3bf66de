"""Projects: list, create (starts team creation), get, update, delete."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from ..errors import bad_request, iso, not_found
from ..fields import DEFAULT_PAGE_LIMIT, DOMAIN, PAGE_LIMIT, PAGE_OFFSET, PROJECT_NAME
from ..store.repo import dumps, loads
from .common import (
    json_response,
    opt_obj,
    opt_str,
    path_id,
    project_row,
    query_int,
    read_json,
    req_str,
    runtime,
    services,
)

FILTER_STATUSES = ("active", "completed", "failed", "archived")
#: The spec's list filter uses coarser states than Project.status; map them.
_FILTER_MAP = {
    "active": ("initializing", "discovery", "building", "validating"),
    "completed": ("completed",),
    "failed": ("failed",),
    "archived": ("archived",),
}


def _validate_requirements(body: dict[str, Any]) -> dict[str, Any]:
    req = opt_obj(body, "requirements")
    if req is None:
        raise bad_request("'requirements' is required (object)", {"field": "requirements"})
    if "description" in req and not isinstance(req["description"], str):
        raise bad_request(
            "'requirements.description' must be a string", {"field": "requirements.description"}
        )
    for key in ("goals", "constraints"):
        val = req.get(key)
        if key in req and (not isinstance(val, list) or not all(isinstance(v, str) for v in val)):
            raise bad_request(
                f"'requirements.{key}' must be an array of strings", {"field": f"requirements.{key}"}
            )
    return req


async def project_view(
    request: Request, row: dict[str, Any], workflow_ids: list[str] | None = None
) -> dict[str, Any]:
    rt = runtime(request)
    await rt.agents.sync_project(row["id"])
    repo = rt.services.repo
    agents = [a.summary() for a in rt.services.registry.in_project(row["id"])]
    return {
        "id": row["id"],
        "name": row["name"],
        "domain": row["domain"],
        "requirements": loads(row["requirements"]) or {},
        "metadata": loads(row["metadata"]) or {},
        "status": row["status"],
        "phase": row["phase"],
        "createdAt": iso(row["created_at"]),
        "updatedAt": iso(row["updated_at"]),
        "agents": agents,
        "workflows": workflow_ids if workflow_ids is not None else await repo.workflow_ids(row["id"]),
    }


async def list_projects(request: Request) -> Response:
    repo = services(request).repo
    status = request.query_params.get("status")
    if status is not None and status not in FILTER_STATUSES:
        raise bad_request(f"status must be one of {list(FILTER_STATUSES)}", {"parameter": "status"})
    limit = query_int(request, "limit", DEFAULT_PAGE_LIMIT, PAGE_LIMIT)
    offset = query_int(request, "offset", 0, PAGE_OFFSET)
    # The page is cut in SQL: fetching limit + offset rows and slicing here read up to the
    # whole table for a large offset.
    rows, total = await repo.list_projects(_FILTER_MAP[status] if status else None, limit, offset)
    counts = await repo.agent_counts([r["id"] for r in rows])
    projects = [
        {
            "id": r["id"],
            "name": r["name"],
            "status": r["status"],
            "agentCount": counts.get(r["id"], 0),
            "createdAt": iso(r["created_at"]),
        }
        for r in rows
    ]
    return json_response({"projects": projects, "total": total, "offset": offset, "limit": limit})


async def create_project(request: Request) -> Response:
    rt = runtime(request)
    body, _ = await read_json(request)
    name = req_str(body, "name", PROJECT_NAME)
    domain = req_str(body, "domain", DOMAIN)
    requirements = _validate_requirements(body)
    metadata = opt_obj(body, "metadata") or {}
    row = await rt.projects.create(
        {"name": name, "domain": domain, "requirements": requirements, "metadata": metadata}
    )
    return json_response(await project_view(request, row), 201)


async def get_project(request: Request) -> Response:
    """Simple query path: served through the shared cache layers (L2/L3), invalidated on change."""
    s = services(request)
    pid = path_id(request, "project_id", "project", uuid_format=True)

    async def load() -> dict[str, Any] | None:
        row = await s.repo.get_project(pid)
        return None if row is None else {"row": row, "workflows": await s.repo.workflow_ids(pid)}

    cached = await s.cache.get_or_load(f"project:{pid}", load, tags=(f"project:{pid}",))
    if cached is None:
        raise not_found("project", pid)
    view = await project_view(request, cached["row"], cached["workflows"])
    return json_response(view)


async def update_project(request: Request) -> Response:
    s = services(request)
    row = await project_row(request)
    body, _ = await read_json(request)
    values: dict[str, Any] = {}
    name = opt_str(body, "name", PROJECT_NAME)
    if name is not None:
        values["name"] = name
    req = opt_obj(body, "requirements")
    if req is not None:
        values["requirements"] = dumps(_validate_requirements({"requirements": req}))
    meta = opt_obj(body, "metadata")
    if meta is not None:
        values["metadata"] = dumps(meta)
    if values:
        await s.repo.update_project(row["id"], values)
    updated = await s.repo.get_project(row["id"])
    if updated is None:
        raise not_found("project", row["id"])
    s.cache.on_record_changed("project", row["id"])
    return json_response(await project_view(request, updated))


async def delete_project(request: Request) -> Response:
    rt = runtime(request)
    row = await project_row(request)
    await rt.projects.remove(row["id"])
    rt.services.cache.on_record_changed("project", row["id"])
    return Response(status_code=204)
