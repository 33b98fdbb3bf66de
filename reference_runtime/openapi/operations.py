"""``paths`` of the runtime's OpenAPI document, one operation per (spec path, method).

The upstream operations keep their tags, summaries, operation ids, parameters and success
responses; added are the error responses the runtime really sends (see ``_errors``), the
limits of ``reference_runtime.fields`` and the runtime's extensions (handoffs, operator
endpoints, this document itself).
"""

from __future__ import annotations

from typing import Any

from .. import fields
from ..webhooks.policy import EVENTS, SECRET_MAX, SECRET_MIN, URL_MAX
from .schemas import INTEGER, OBJECT, PRIORITY, STRING, Schema, obj, ref, text

Operation = dict[str, Any]
Operations = dict[tuple[str, str], Operation]
#: Which error responses an operation may answer, by status.
_ERROR_RESPONSES = {
    400: "BadRequest",
    401: "Unauthorized",
    404: "NotFound",
    409: "Conflict",
    413: "PayloadTooLarge",
    429: "TooManyRequests",
    503: "ServiceUnavailable",
}
PROJECT_ID = ref("projectId", "parameters")
AGENT_ID = ref("agentId", "parameters")
WORKFLOW_ID = ref("workflowId", "parameters")
PREFER: Schema = {
    "name": "Prefer",
    "in": "header",
    "description": "Extension: `respond-async` asks for 202 like `async: true`",
    "schema": STRING,
}


def _json(schema: Schema) -> dict[str, Any]:
    return {"application/json": {"schema": schema}}


def _ok(description: str, schema: Schema | None = None) -> dict[str, Any]:
    return (
        {"description": description}
        if schema is None
        else {"description": description, "content": _json(schema)}
    )


def _errors(*statuses: int) -> dict[str, Any]:
    return {str(s): ref(_ERROR_RESPONSES[s], "responses") for s in statuses}


def _op(
    tags: str,
    summary: str,
    operation_id: str,
    responses: dict[str, Any],
    *,
    parameters: list[Schema] | None = None,
    body: Schema | None = None,
    body_required: bool = True,
    security: list[dict[str, list[str]]] | None = None,
) -> Operation:
    """An operation; a secured one (``security`` not ``[]``) may also answer 401, any 503
    (connection cap: ``server.max_connections``), one with a body 400 and 413."""
    op: Operation = {"tags": [tags], "summary": summary, "operationId": operation_id}
    if security is not None:
        op["security"] = security
    if parameters:
        op["parameters"] = parameters
    extra = [503]
    if body is not None:
        op["requestBody"] = {"required": True} if body_required else {}
        op["requestBody"]["content"] = _json(body)
        extra += [400, 413]
    if security != []:
        extra.append(401)
    op["responses"] = {**responses, **{k: v for k, v in _errors(*extra).items() if k not in responses}}
    op["responses"] = dict(sorted(op["responses"].items()))
    return op


def _bounds(bounds: fields.Length) -> dict[str, int]:
    return {"minimum": bounds.min, "maximum": bounds.max}


def _project_ops() -> Operations:
    limit = {"type": "integer", "default": fields.DEFAULT_PAGE_LIMIT, **_bounds(fields.PAGE_LIMIT)}
    offset = {"type": "integer", "default": 0, **_bounds(fields.PAGE_OFFSET)}
    status = {"type": "string", "enum": ["active", "completed", "failed", "archived"]}
    page = obj(
        {
            "projects": {"type": "array", "items": ref("ProjectSummary")},
            "total": INTEGER,
            "offset": INTEGER,
            "limit": INTEGER,
        }
    )
    one = "/projects/{projectId}"
    return {
        ("/projects", "get"): _op(
            "Projects",
            "List all projects",
            "listProjects",
            {"200": _ok("List of projects", page), **_errors(400)},
            parameters=[
                {"name": "status", "in": "query", "schema": status},
                {"name": "limit", "in": "query", "schema": limit},
                {"name": "offset", "in": "query", "schema": offset},
            ],
        ),
        ("/projects", "post"): _op(
            "Projects",
            "Create new agent team project",
            "createProject",
            {"201": _ok("Project created successfully", ref("Project"))},
            body=ref("ProjectRequest"),
        ),
        (one, "get"): _op(
            "Projects",
            "Get project details",
            "getProject",
            {"200": _ok("Project details", ref("Project")), **_errors(404)},
            parameters=[PROJECT_ID],
        ),
        (one, "put"): _op(
            "Projects",
            "Update project",
            "updateProject",
            {"200": _ok("Project updated", ref("Project")), **_errors(404)},
            parameters=[PROJECT_ID],
            body=ref("ProjectUpdate"),
        ),
        (one, "delete"): _op(
            "Projects",
            "Delete project",
            "deleteProject",
            {"204": _ok("Project deleted"), **_errors(404)},
            parameters=[PROJECT_ID],
        ),
    }


def _agent_ops() -> Operations:
    many, one = "/projects/{projectId}/agents", "/projects/{projectId}/agents/{agentId}"
    both = [PROJECT_ID, AGENT_ID]
    not_found = _errors(404)
    agents = obj({"agents": {"type": "array", "items": ref("Agent")}})
    return {
        (many, "get"): _op(
            "Agents",
            "List project agents",
            "listProjectAgents",
            {"200": _ok("List of agents", agents), **not_found},
            parameters=[PROJECT_ID],
        ),
        (many, "post"): _op(
            "Agents",
            "Create new agent",
            "createAgent",
            {"201": _ok("Agent created", ref("Agent")), **not_found},
            parameters=[PROJECT_ID],
            body=ref("AgentRequest"),
        ),
        (one, "get"): _op(
            "Agents",
            "Get agent details",
            "getAgent",
            {"200": _ok("Agent details", ref("Agent")), **not_found},
            parameters=both,
        ),
        (one, "put"): _op(
            "Agents",
            "Update agent",
            "updateAgent",
            {"200": _ok("Agent updated", ref("Agent")), **not_found},
            parameters=both,
            body=ref("AgentUpdate"),
        ),
        (one, "delete"): _op(
            "Agents",
            "Delete agent",
            "deleteAgent",
            {"204": _ok("Agent deleted"), **not_found},
            parameters=both,
        ),
        (one + "/execute", "post"): _execute_op(),
    }


def _execute_op() -> Operation:
    command = {**text(fields.COMMAND), "example": "*analyze requirements"}
    timeout = {"type": "integer", "description": "Timeout in seconds", "default": fields.DEFAULT_TIMEOUT_S}
    timeout |= _bounds(fields.TIMEOUT_S)
    body = obj(
        {
            "command": command,
            "parameters": OBJECT,
            "context": OBJECT,
            "timeout": timeout,
            "async": {"type": "boolean", "default": False, "description": "Extension: answer 202 at once"},
            "priority": PRIORITY,
        },
        ["command"],
    )
    accepted = obj({"executionId": STRING, "status": {"type": "string", "enum": ["queued", "processing"]}})
    return _op(
        "Execution",
        "Execute agent command",
        "executeCommand",
        {
            "200": _ok("Command executed", ref("CommandResponse")),
            "202": _ok("Command accepted for async execution", accepted),
            **_errors(404, 429),
        },
        parameters=[PROJECT_ID, AGENT_ID, PREFER],
        body=body,
    )


def _workflow_ops() -> Operations:
    many = "/projects/{projectId}/workflows"
    workflows = obj({"workflows": {"type": "array", "items": ref("Workflow")}})
    run = obj({"input": OBJECT, "async": {"type": "boolean", "default": False}})
    started = obj({"executionId": STRING, "status": {**STRING, "description": "Extension: queued"}})
    return {
        (many, "get"): _op(
            "Workflows",
            "List project workflows",
            "listWorkflows",
            {"200": _ok("List of workflows", workflows), **_errors(404)},
            parameters=[PROJECT_ID],
        ),
        (many, "post"): _op(
            "Workflows",
            "Create workflow",
            "createWorkflow",
            {"201": _ok("Workflow created", ref("Workflow")), **_errors(404)},
            parameters=[PROJECT_ID],
            body=ref("WorkflowRequest"),
        ),
        (many + "/{workflowId}/execute", "post"): _op(
            "Workflows",
            "Execute workflow",
            "executeWorkflow",
            {
                "200": _ok("Workflow executed synchronously", ref("WorkflowExecution")),
                "202": _ok("Workflow started asynchronously", started),
                **_errors(404, 409),
            },
            parameters=[PROJECT_ID, WORKFLOW_ID, PREFER],
            body=run,
            body_required=False,
        ),
    }


def _handoff_ops() -> Operations:
    handoff_id = {"name": "handoffId", "in": "path", "required": True, "schema": STRING}
    return {
        ("/projects/{projectId}/handoffs", "post"): _op(
            "Workflows",
            "Extension: hand an item over from one agent to another (the receiver's ack)",
            "createHandoff",
            {"200": _ok("The receiver's (or backup's) answer", ref("HandoffAck")), **_errors(404, 409)},
            parameters=[PROJECT_ID],
            body=ref("HandoffRequest"),
        ),
        ("/projects/{projectId}/handoffs/{handoffId}", "get"): _op(
            "Workflows",
            "Extension: a handoff and its audit trail",
            "getHandoff",
            {"200": _ok("Handoff record", ref("Handoff")), **_errors(404)},
            parameters=[PROJECT_ID, handoff_id],
        ),
    }


def _monitoring_ops() -> Operations:
    period = {"type": "string", "enum": ["1h", "6h", "24h", "7d", "30d"], "default": "24h"}
    return {
        ("/executions/{executionId}", "get"): _op(
            "Execution",
            "Get execution status",
            "getExecution",
            {"200": _ok("Execution details", ref("Execution")), **_errors(404)},
            parameters=[{"name": "executionId", "in": "path", "required": True, "schema": STRING}],
        ),
        ("/metrics", "get"): _op(
            "Monitoring",
            "Get system metrics",
            "getMetrics",
            {"200": _ok("System metrics", ref("Metrics")), **_errors(400)},
            parameters=[{"name": "period", "in": "query", "schema": period}],
        ),
        ("/health", "get"): _health_op(),
        ("/openapi.json", "get"): _op(
            "Monitoring",
            "Extension: this OpenAPI document",
            "getOpenApiDocument",
            {"200": _ok("OpenAPI 3.1 document", OBJECT)},
            security=[],
        ),
    }


def _health_op() -> Operation:
    component = obj({"status": STRING, "message": STRING})
    health = obj(
        {
            "status": {"type": "string", "enum": ["healthy", "degraded", "unhealthy"]},
            "version": STRING,
            "uptime": INTEGER,
            "components": {"type": "object", "additionalProperties": component},
        }
    )
    unhealthy = {
        "description": "Unhealthy (database unreachable), or over the connection cap (Error, Retry-After)",
        "headers": {"Retry-After": {"description": "Seconds to wait (connection cap)", "schema": INTEGER}},
        "content": _json({"anyOf": [health, ref("Error")]}),
    }
    return _op(
        "Monitoring",
        "Health check",
        "healthCheck",
        {"200": _ok("System healthy", health), "503": unhealthy},
        security=[],
    )


def _admin_ops() -> Operations:
    member = obj({"name": STRING, "status": STRING})
    activated = obj(
        {
            "status": STRING,
            "agents": {"type": "array", "items": member},
            "projectId": {**STRING, "description": "Extension: the team's project"},
            "team": {**STRING, "description": "Extension: the team's name"},
        }
    )
    faults = {"type": "object", "description": "Active faults (see docs/runtime.md, Fault injection)"}
    return {
        ("/admin/mother-box/activate", "post"): _op(
            "Admin",
            "Activate Mother Box team",
            "activateMotherBox",
            {"200": _ok("Mother Box activated", activated)},
            security=[{"BearerAuth": []}],
        ),
        ("/metrics/prometheus", "get"): _op(
            "Operator",
            "Extension: Prometheus metrics",
            "getPrometheusMetrics",
            {"200": {"description": "Prometheus text format", "content": {"text/plain": {"schema": STRING}}}},
        ),
        ("/admin/faults", "get"): _op(
            "Operator", "Extension: active faults", "getFaults", {"200": _ok("Faults", faults)}
        ),
        ("/admin/faults", "post"): _op(
            "Operator",
            "Extension: inject faults (merged into the active set)",
            "setFaults",
            {"200": _ok("Faults", faults)},
            body={"type": "object", "properties": {"clear": {"type": "boolean"}}},
        ),
        ("/admin/faults", "delete"): _op(
            "Operator", "Extension: clear every fault", "clearFaults", {"200": _ok("Faults", faults)}
        ),
        ("/admin/stats", "get"): _op(
            "Operator", "Extension: internal counters", "getStats", {"200": _ok("Counters", OBJECT)}
        ),
    }


#: Loopback receivers (the default ``webhooks.allow_remote: false``); others are a 400 naming ``url``.
LOOPBACK_URL = r"^https?://(127\.0\.0\.1|localhost|\[::1\])(:[1-9][0-9]{0,3})?(/[A-Za-z0-9._~-]*)*$"


def _webhook_ops() -> Operations:
    events = {"type": "array", "items": {"type": "string", "enum": list(EVENTS)}, "minItems": 1}
    public = obj({"id": STRING, "url": STRING, "events": events, "source": STRING})
    body = obj(
        {
            "url": {"type": "string", "maxLength": URL_MAX, "pattern": LOOPBACK_URL},
            "secret": text(fields.Length(SECRET_MIN, SECRET_MAX)),
            "events": {**events, "maxItems": len(EVENTS)},
        },
        ["url", "secret"],
        additionalProperties=False,
    )
    listing = obj({"subscriptions": {"type": "array", "items": OBJECT}, "outbox": OBJECT})
    sub_id = {"name": "subscriptionId", "in": "path", "required": True, "schema": STRING}
    return {
        ("/admin/webhooks", "get"): _op(
            "Operator",
            "Extension: webhook subscriptions and their delivery state (secrets never shown)",
            "listWebhooks",
            {"200": _ok("Subscriptions", listing)},
        ),
        ("/admin/webhooks", "post"): _op(
            "Operator",
            "Extension: subscribe a receiver to the spec's webhooks (loopback unless allow_remote)",
            "addWebhook",
            {"201": _ok("Subscribed", public), **_errors(409)},
            body=body,
        ),
        ("/admin/webhooks/{subscriptionId}", "delete"): _op(
            "Operator",
            "Extension: remove a subscription made here, with its undelivered events",
            "deleteWebhook",
            {"204": _ok("Removed"), **_errors(404, 409)},
            parameters=[sub_id],
        ),
    }


def operations() -> Operations:
    return {
        **_project_ops(),
        **_agent_ops(),
        **_workflow_ops(),
        **_handoff_ops(),
        **_monitoring_ops(),
        **_admin_ops(),
        **_webhook_ops(),
    }
