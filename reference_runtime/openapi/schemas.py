"""``components`` of the runtime's OpenAPI document: the upstream Mother Box schemas, with the
limits the runtime enforces (``reference_runtime.fields``) and its extensions added.

Every difference from the upstream spec is listed, with its reason, in docs/runtime.md
("Differences from the upstream spec"); ``tests/reference_runtime/test_openapi.py`` compares
the two documents and fails on any difference not listed there.
"""

from __future__ import annotations

from typing import Any

from .. import fields
from ..bus import PRIORITY_NAMES

Schema = dict[str, Any]

STRING: Schema = {"type": "string"}
OBJECT: Schema = {"type": "object"}
INTEGER: Schema = {"type": "integer"}
DATE_TIME: Schema = {"type": "string", "format": "date-time"}
UUID: Schema = {"type": "string", "format": "uuid"}
STRINGS: Schema = {"type": "array", "items": STRING}
NOT_EMPTY: Schema = {"type": "string", "minLength": 1}


def ref(name: str, kind: str = "schemas") -> Schema:
    return {"$ref": f"#/components/{kind}/{name}"}


def text(length: fields.Length) -> Schema:
    """A string within ``length`` (no ``minLength`` when 0)."""
    schema: Schema = {"type": "string"}
    if length.min:
        schema["minLength"] = length.min
    schema["maxLength"] = length.max
    return schema


def string_list(max_items: int = fields.LIST_MAX_ITEMS) -> Schema:
    return {"type": "array", "items": STRING, "maxItems": max_items}


def obj(properties: dict[str, Schema], required: list[str] | None = None, **extra: Any) -> Schema:
    schema: Schema = {"type": "object"}
    if required:
        schema["required"] = required
    schema["properties"] = properties
    schema.update(extra)
    return schema


REQUIREMENTS = obj({"description": STRING, "goals": STRINGS, "constraints": STRINGS})
PERSONALITY = obj({"traits": STRING, "background": STRING, "communication": STRING})
PRIORITY: Schema = {
    "description": "Extension: message priority, P1 (highest) to P4; default P3",
    "anyOf": [
        {"type": "string", "enum": [*PRIORITY_NAMES, *(p.lower() for p in PRIORITY_NAMES)]},
        {"type": "integer", "minimum": 1, "maximum": len(PRIORITY_NAMES)},
    ],
}
STEPS_DESCRIPTION = (
    "Each step names an agent (id, name or role) and an action (a command). Extensions: a step "
    "may carry an `id` (unique, default step-N) and `dependsOn: [stepId]`; `conditions` entries "
    "`after:<stepId>` are dependencies too. Without them a step follows the previous one, "
    "unless the workflow sets `parallel: true`. Unknown or cyclic dependencies are a 400."
)


def _project_schemas() -> dict[str, Schema]:
    statuses = ["initializing", "discovery", "building", "validating", "completed", "failed"]
    return {
        "ProjectRequest": obj(
            {
                "name": text(fields.PROJECT_NAME),
                "domain": text(fields.DOMAIN),
                "requirements": REQUIREMENTS,
                "metadata": {"type": "object", "additionalProperties": True},
            },
            ["name", "domain", "requirements"],
        ),
        "Project": {
            "allOf": [
                ref("ProjectRequest"),
                obj(
                    {
                        "id": UUID,
                        "status": {"type": "string", "enum": statuses},
                        "phase": STRING,
                        "createdAt": DATE_TIME,
                        "updatedAt": DATE_TIME,
                        "agents": {"type": "array", "items": ref("AgentSummary")},
                        "workflows": STRINGS,
                    }
                ),
            ]
        },
        "ProjectSummary": obj(
            {"id": UUID, "name": STRING, "status": STRING, "agentCount": INTEGER, "createdAt": DATE_TIME}
        ),
        "ProjectUpdate": obj(
            {"name": text(fields.PROJECT_NAME), "requirements": REQUIREMENTS, "metadata": OBJECT}
        ),
    }


def _agent_schemas() -> dict[str, Schema]:
    statuses = ["created", "training", "active", "idle", "error", "offline"]
    return {
        "AgentRequest": obj(
            {
                "name": text(fields.NAME),
                "role": text(fields.NAME),
                "personality": PERSONALITY,
                "capabilities": string_list(),
                "commands": string_list(),
            },
            ["name", "role"],
        ),
        "Agent": {
            "allOf": [
                ref("AgentRequest"),
                obj(
                    {
                        "id": STRING,
                        "status": {"type": "string", "enum": statuses},
                        "qualityScore": {"type": "number", "minimum": 0, "maximum": 100},
                        "createdAt": DATE_TIME,
                        "lastActive": DATE_TIME,
                    }
                ),
            ]
        },
        "AgentSummary": obj({"id": STRING, "name": STRING, "role": STRING, "status": STRING}),
        "AgentUpdate": obj(
            {"personality": PERSONALITY, "capabilities": string_list(), "commands": string_list()}
        ),
    }


def _workflow_schemas() -> dict[str, Schema]:
    step = obj(
        {"agent": NOT_EMPTY, "action": NOT_EMPTY, "input": OBJECT, "conditions": STRINGS},
        ["agent", "action"],
    )
    steps = {
        "type": "array",
        "description": STEPS_DESCRIPTION,
        "minItems": fields.WORKFLOW_STEPS.min,
        "maxItems": fields.WORKFLOW_STEPS.max,
        "items": step,
    }
    parallel = {"type": "boolean", "default": False, "description": "Extension: steps run concurrently"}
    return {
        "WorkflowRequest": obj(
            {
                "name": text(fields.NAME),
                "description": text(fields.TEXT),
                "trigger": text(fields.TRIGGER),
                "steps": steps,
                "parallel": parallel,
            },
            ["name", "steps"],
        ),
        "Workflow": {
            "allOf": [
                ref("WorkflowRequest"),
                obj(
                    {
                        "id": STRING,
                        "status": {"type": "string", "enum": ["draft", "active", "disabled"]},
                        "version": INTEGER,
                        "createdAt": DATE_TIME,
                        "lastExecuted": DATE_TIME,
                        "executionCount": INTEGER,
                    }
                ),
            ]
        },
        "WorkflowExecution": _workflow_execution(),
    }


def _workflow_execution() -> Schema:
    step = obj({"stepId": STRING, "agent": STRING, "status": STRING, "output": OBJECT, "error": STRING})
    return obj(
        {
            "id": STRING,
            "workflowId": STRING,
            "status": {"type": "string", "enum": ["running", "completed", "failed", "cancelled"]},
            "startTime": DATE_TIME,
            "endTime": DATE_TIME,
            "duration": INTEGER,
            "steps": {"type": "array", "items": step},
            "output": OBJECT,
            "error": STRING,
            "maxConcurrency": {**INTEGER, "description": "Extension: most steps that ran at once"},
        }
    )


def _execution_schemas() -> dict[str, Schema]:
    return {
        "CommandResponse": obj(
            {
                "executionId": STRING,
                "command": STRING,
                "status": {"type": "string", "enum": ["success", "error", "timeout"]},
                "output": OBJECT,
                "error": STRING,
                "duration": {"type": "integer", "description": "Duration in milliseconds"},
            }
        ),
        "Execution": obj(
            {
                "id": STRING,
                "type": {"type": "string", "enum": ["command", "workflow"]},
                "status": {
                    "type": "string",
                    "enum": ["queued", "processing", "completed", "failed", "cancelled"],
                },
                "progress": {"type": "integer", "minimum": 0, "maximum": 100},
                "startTime": DATE_TIME,
                "endTime": DATE_TIME,
                "result": OBJECT,
                "error": STRING,
                "agentId": {**STRING, "description": "Extension: the agent of a command"},
                "workflowId": {**STRING, "description": "Extension: the workflow of a workflow run"},
            }
        ),
    }


def _metrics_schema() -> Schema:
    number: Schema = {"type": "number"}
    return obj(
        {
            "period": STRING,
            "projects": obj(
                {"total": INTEGER, "active": INTEGER, "completed": INTEGER, "successRate": number}
            ),
            "agents": obj({"total": INTEGER, "active": INTEGER, "averageQualityScore": number}),
            "executions": obj(
                {"total": INTEGER, "successful": INTEGER, "failed": INTEGER, "averageDuration": INTEGER}
            ),
            "system": obj(
                {
                    "cpuUsage": number,
                    "memoryUsage": number,
                    "activeConnections": INTEGER,
                    "queueDepth": INTEGER,
                }
            ),
        }
    )


def _handoff_schemas() -> dict[str, Schema]:
    agent_ref = {**text(fields.NAME), "description": "an agent of the project: id, name or role"}
    request = obj(
        {
            "from": agent_ref,
            "to": agent_ref,
            "itemId": text(fields.ITEM_ID),
            "context": OBJECT,
            "priority": PRIORITY,
            "reason": text(fields.TEXT),
            "urgency": text(fields.URGENCY),
            "backup": {**text(fields.BACKUP), "description": "an agent to try when `to` does not ack"},
            "requiredFields": string_list(),
            "instructions": text(fields.TEXT),
        },
        ["from", "to", "itemId"],
    )
    ack = obj(
        {"handoff_id": STRING, "status": STRING, "receiver": STRING, "message": STRING, "attempts": INTEGER},
        ["handoff_id", "status"],
    )
    audit = obj({"event": STRING, "ts": DATE_TIME, "data": {}})
    handoff = obj(
        {
            "id": STRING,
            "itemId": STRING,
            "from": STRING,
            "to": STRING,
            "priority": {"type": "string", "enum": list(PRIORITY_NAMES)},
            "status": STRING,
            "attempts": INTEGER,
            "context": {},
            "reason": STRING,
            "createdAt": DATE_TIME,
            "updatedAt": DATE_TIME,
            "audit": {"type": "array", "items": audit},
        }
    )
    return {"HandoffRequest": request, "HandoffAck": ack, "Handoff": handoff}


ERROR = obj(
    {
        "error": STRING,
        "message": STRING,
        "details": OBJECT,
        "requestId": STRING,
        "timestamp": DATE_TIME,
    },
    ["error", "message"],
)


def component_schemas() -> dict[str, Schema]:
    return {
        **_project_schemas(),
        **_agent_schemas(),
        **_workflow_schemas(),
        **_execution_schemas(),
        "Metrics": _metrics_schema(),
        **_handoff_schemas(),
        "Error": ERROR,
    }
