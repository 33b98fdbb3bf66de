"""The runtime's own OpenAPI 3.1 document, served at ``GET /v1/openapi.json``.

Built from the app's routes (every route must have an operation here and every operation a
route, or ``build_document`` raises) and the field limits in ``reference_runtime.fields``, in
the shape of the upstream Mother Box spec (``../shared/mother-box/api/openapi-spec.yaml``,
whose paths are relative to a ``/v1`` server): the same operations, schemas and components
where the runtime conforms, plus the error responses and limits it really enforces and its
extensions. docs/runtime.md lists every difference from the upstream spec and why.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from starlette.routing import BaseRoute, Route

from ..config import Settings
from .operations import operations
from .schemas import INTEGER, Schema, component_schemas, ref

PREFIX = "/v1"
_PARAM = re.compile(r"\{([a-z_]+)\}")
TAGS = [
    ("Projects", "Agent team project management"),
    ("Agents", "Individual agent operations"),
    ("Workflows", "Workflow management"),
    ("Execution", "Command execution and task management"),
    ("Monitoring", "System monitoring and metrics"),
    ("Admin", "Administrative operations"),
    ("Operator", "Extension: fault injection, internal counters and Prometheus metrics"),
]


def spec_path(route_path: str) -> str:
    """``/v1/projects/{project_id}`` → ``/projects/{projectId}`` (the spec's server is ``/v1``)."""
    if not route_path.startswith(PREFIX + "/"):
        raise ValueError(f"route {route_path!r} is outside {PREFIX}")

    def camel(match: re.Match[str]) -> str:
        head, *rest = match.group(1).split("_")
        return "{" + head + "".join(word.title() for word in rest) + "}"

    return _PARAM.sub(camel, route_path[len(PREFIX) :])


def _paths(routes: Sequence[BaseRoute]) -> dict[str, dict[str, Any]]:
    ops = operations()
    paths: dict[str, dict[str, Any]] = {}
    for route in routes:
        if not isinstance(route, Route):
            continue
        path = spec_path(route.path)
        for method in sorted((route.methods or set()) - {"HEAD"}):
            key = (path, method.lower())
            if key not in ops:
                raise LookupError(f"route {method} {route.path} has no operation in the OpenAPI document")
            paths.setdefault(path, {})[method.lower()] = ops.pop(key)
    if ops:
        raise LookupError(f"OpenAPI operations without a route: {sorted(ops)}")
    return paths


def _error(description: str, retry_after: bool = False) -> Schema:
    response: Schema = {"description": description}
    if retry_after:
        header = {"description": "Seconds to wait before retrying", "required": True, "schema": INTEGER}
        response["headers"] = {"Retry-After": header}
    response["content"] = {"application/json": {"schema": ref("Error")}}
    return response


def _responses(settings: Settings) -> dict[str, Schema]:
    rate_headers = {
        name: {"schema": INTEGER}
        for name in ("X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset")
    }
    return {
        "BadRequest": _error("Bad request"),
        "Unauthorized": _error("Unauthorized"),
        "Forbidden": _error("Forbidden"),
        "NotFound": _error("Not found"),
        "RateLimitExceeded": {**_error("Rate limit exceeded"), "headers": rate_headers},
        "InternalServerError": _error("Internal server error"),
        "Conflict": _error(
            "The request conflicts with the project's current state: a handoff loop (the item was "
            "handed off too often), a handoff naming agents the project does not have (or the "
            "sender as receiver), a stored workflow that can no longer run; a webhook subscription "
            "over the limit or from the config file"
        ),
        "PayloadTooLarge": _error(f"Request body over {settings.max_body_bytes} bytes (max_body_bytes)"),
        "TooManyRequests": _error(
            f"The agent's mailbox is full ({settings.agents.mailbox_capacity} queued); retry later",
            retry_after=True,
        ),
        "ServiceUnavailable": _error(
            "Temporarily unavailable (too many open connections, a command that could not be "
            "persisted, too many team creations waiting); retry later",
            retry_after=True,
        ),
    }


def _components(settings: Settings) -> dict[str, Any]:
    def path_param(name: str, schema: Schema) -> Schema:
        return {"name": name, "in": "path", "required": True, "schema": schema}

    return {
        "securitySchemes": {
            "ApiKeyAuth": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
            "BearerAuth": {"type": "http", "scheme": "bearer"},
        },
        "parameters": {
            "projectId": path_param("projectId", {"type": "string", "format": "uuid"}),
            "agentId": path_param("agentId", {"type": "string"}),
            "workflowId": path_param("workflowId", {"type": "string"}),
        },
        "schemas": component_schemas(),
        "responses": _responses(settings),
    }


def build_document(routes: Sequence[BaseRoute], settings: Settings) -> dict[str, Any]:
    """The OpenAPI document of an app with ``routes`` and ``settings`` (limits in descriptions)."""
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Mother Box API",
            "description": "RESTful API for Mother Box agent team creation and management",
            "version": "1.0.0",
            "license": {"name": "MIT", "url": "https://opensource.org/licenses/MIT"},
            "x-request-limits": {
                "maxBodyBytes": settings.max_body_bytes,
                "maxJsonDepth": settings.max_json_depth,
                "description": "Every request body: at most maxBodyBytes (413) and JSON nested at most "
                "maxJsonDepth levels (400); `{}` is one level.",
            },
        },
        "servers": [{"url": PREFIX, "description": "This runtime"}],
        "security": [{"ApiKeyAuth": []}, {"BearerAuth": []}],
        "tags": [{"name": name, "description": description} for name, description in TAGS],
        "paths": _paths(routes),
        "components": _components(settings),
    }


__all__ = ["PREFIX", "build_document", "spec_path"]
