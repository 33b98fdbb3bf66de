"""The named Mother Box operations and the default setup that creates what they need.

Pure data + string templating: imported both by the CLI (validation, setup) and inside the Locust
process (request building), so nothing here may import gevent, asyncio or heavy libraries.
Paths use ``{placeholders}`` filled from the setup context (``project_id``, ``agent_id``,
``agent_id_2``, ``workflow_id``) and, per request, ``{seq}`` and ``{uuid}``.

Most operations are one request. A :class:`ReadyPoll` operation is a create request followed by
polling the created resource until it reads ready (team creation: ``POST /v1/projects``, then
``GET /v1/projects/{id}`` until ``status`` is ``completed``); the Locust process times it from the
create request (its intended send time, as every open-model operation) to the first poll that
reads ready, and records it as one sample (:mod:`harness.load.ready`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")
#: Placeholders filled per request rather than from the setup context.
DYNAMIC = frozenset({"seq", "uuid", "worker"})


@dataclass(frozen=True)
class ReadyPoll:
    """How a created resource is polled until ready: ``path`` with ``{id}`` (the create reply's
    ``id_field``) is read until ``status_field`` is one of ``ready`` (success) or ``failed``
    (an error); when ``count`` is set, the list ``count_field`` must then hold that many items.

    Polls go out every ``interval_fraction`` of the time elapsed so far, clamped to
    [``min_interval_s``, ``max_interval_s``]: the ready time is observed at most that late (10 %,
    and never less than 20 ms); a 2 s creation costs about 35 polls, a 30-minute one about 400.
    """

    path: str
    ready: tuple[str, ...]
    failed: tuple[str, ...] = ()
    id_field: str = "id"
    status_field: str = "status"
    count_field: str | None = None
    count: int | None = None
    interval_fraction: float = 0.1
    min_interval_s: float = 0.02
    max_interval_s: float = 5.0


@dataclass(frozen=True)
class OperationDef:
    method: str
    path: str
    json: Any = None
    expect_status: tuple[int, ...] = (200,)
    target_ms: float | None = None
    needs: tuple[str, ...] = ()
    doc: str = ""
    until: ReadyPoll | None = None  # a create-then-poll operation, timed until ready


def _execute(command: str, asynchronous: bool, parameters: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "command": command,
        "parameters": parameters or {},
        "context": {"source": "motherbox-perf"},
        "timeout": 30,
        "async": asynchronous,
    }


_EXECUTE = "/v1/projects/{project_id}/agents/{agent_id}/execute"
#: The spec's Project.status values: team creation ends in ``completed`` or ``failed``.
PROJECT_READY = ("completed",)
PROJECT_FAILED = ("failed",)
MINUTE_MS = 60_000.0


def _team_creation(size: int, target_ms: float) -> OperationDef:
    """Create a project whose team has ``size`` agents (the runtime reads ``metadata.teamSize``),
    timed until the project is ``completed`` with that many agents. The domain is unique per
    request, so every creation does its research instead of reading an earlier one's from cache."""
    agents = "one agent" if size == 1 else f"{size} agents"
    return OperationDef(
        "POST",
        "/v1/projects",
        {
            "name": f"perf-team-{size}-{{seq}}",
            "domain": "performance testing {uuid}",
            "requirements": {
                "description": f"a team of {agents}, created by motherbox-perf",
                "goals": ["measure team creation"],
            },
            "metadata": {"teamSize": size},
        },
        (201,),
        target_ms,
        (),
        f"create a project with a team of {agents}; timed until the project is completed",
        ReadyPoll(
            "/v1/projects/{id}",
            PROJECT_READY,
            PROJECT_FAILED,
            count_field="agents",
            count=size,
        ),
    )


#: The guide's response-time targets: command ack < 100 ms, simple query < 1 s, complex analysis
#: < 30 s, handoff < 2 s, single agent creation < 5 min (team creation).
NAMED_OPERATIONS: dict[str, OperationDef] = {
    "command_ack": OperationDef(
        "POST",
        _EXECUTE,
        _execute("*status", True),
        (202,),
        100.0,
        ("project_id", "agent_id"),
        "async execute; latency until the 202 acknowledgement",
    ),
    "simple_query": OperationDef(
        "GET",
        "/v1/projects/{project_id}/agents/{agent_id}",
        None,
        (200,),
        1000.0,
        ("project_id", "agent_id"),
        "read an agent",
    ),
    "complex_analysis": OperationDef(
        "POST",
        _EXECUTE,
        _execute("*analyze requirements", False, {"depth": "full"}),
        (200,),
        30_000.0,
        ("project_id", "agent_id"),
        "synchronous analysis command",
    ),
    "handoff": OperationDef(
        "POST",
        "/v1/projects/{project_id}/handoffs",
        {
            "from": "{agent_id}",
            "to": "{agent_id_2}",
            "itemId": "perf-item-{seq}",
            "context": {"summary": "load-test hand-off"},
            "reason": "review",
        },
        (200, 201),
        2000.0,
        ("project_id", "agent_id", "agent_id_2"),
        "hand-off from one agent to another (the runtime's handoff protocol)",
    ),
    "workflow": OperationDef(
        "POST",
        "/v1/projects/{project_id}/workflows/{workflow_id}/execute",
        {"input": {"topic": "load test"}, "async": False},
        (200,),
        None,
        ("project_id", "workflow_id"),
        "synchronous workflow execution",
    ),
    # The guide's agent-creation targets: one agent < 5 min, teams of 5 / 10 < 30 / 90 min.
    "team_creation": _team_creation(1, 5 * MINUTE_MS),
    "team_creation_5": _team_creation(5, 30 * MINUTE_MS),
    "team_creation_10": _team_creation(10, 90 * MINUTE_MS),
}


@dataclass(frozen=True)
class SetupStepDef:
    name: str
    method: str
    path: str
    json: Any = None
    expect_status: tuple[int, ...] = (200, 201)
    save: dict[str, str] = field(default_factory=dict)


def default_setup(needed: set[str]) -> list[SetupStepDef]:
    """The Mother Box setup creating the context variables ``needed`` by the named operations."""
    if not needed:
        return []
    steps = [
        SetupStepDef(
            "create project",
            "POST",
            "/v1/projects",
            {
                "name": "motherbox-perf",
                "domain": "performance testing",
                "requirements": {"description": "load-test fixture", "goals": ["measure"]},
            },
            save={"project_id": "id"},
        ),
        SetupStepDef(
            "create agent",
            "POST",
            "/v1/projects/{project_id}/agents",
            {"name": "analyst", "role": "analyst"},
            save={"agent_id": "id"},
        ),
    ]
    if needed & {"agent_id_2", "workflow_id"}:
        steps.append(
            SetupStepDef(
                "create second agent",
                "POST",
                "/v1/projects/{project_id}/agents",
                {"name": "architect", "role": "architect"},
                save={"agent_id_2": "id"},
            )
        )
    if "workflow_id" in needed:
        steps.append(
            SetupStepDef(
                "create workflow",
                "POST",
                "/v1/projects/{project_id}/workflows",
                {
                    "name": "perf-workflow",
                    "steps": [
                        {"agent": "{agent_id}", "action": "*analyze requirements"},
                        {"agent": "{agent_id_2}", "action": "*review"},
                    ],
                },
                save={"workflow_id": "id"},
            )
        )
    return steps


def placeholders(value: Any) -> set[str]:
    """Every ``{name}`` used anywhere in a string / JSON value."""
    if isinstance(value, str):
        return set(PLACEHOLDER.findall(value))
    if isinstance(value, dict):
        return set().union(*(placeholders(v) for v in value.values())) if value else set()
    if isinstance(value, list):
        return set().union(*(placeholders(v) for v in value)) if value else set()
    return set()


def render(value: Any, context: dict[str, Any]) -> Any:
    """Fill placeholders known in ``context``; unknown ones are left as they are."""
    if isinstance(value, str):
        return PLACEHOLDER.sub(lambda m: str(context.get(m.group(1), m.group(0))), value)
    if isinstance(value, dict):
        return {k: render(v, context) for k, v in value.items()}
    if isinstance(value, list):
        return [render(v, context) for v in value]
    return value


def dig(data: Any, dotted: str) -> Any:
    """``a.b.0.c`` into nested JSON; KeyError when absent."""
    current = data
    for part in dotted.split("."):
        if isinstance(current, list) and part.isdigit():
            current = current[int(part)]
        elif isinstance(current, dict) and part in current:
            current = current[part]
        else:
            raise KeyError(dotted)
    return current


def request_template(item: Any) -> tuple[str, Any]:
    """(path, JSON body) of a mix item before its placeholders are filled: a named operation's
    defaults unless the item overrides the body."""
    if item.operation is not None:
        named = NAMED_OPERATIONS[item.operation]
        return named.path, item.json_body if item.json_body is not None else named.json
    return item.path, item.json_body
