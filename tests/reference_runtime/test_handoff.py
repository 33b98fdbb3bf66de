"""Handoff protocol against the real runtime: ack, validation, loop detection, audit log."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from reference_runtime.agents.registry import Registry, new_agent_row
from reference_runtime.config import HandoffSettings
from reference_runtime.handoff import HandoffDeps, HandoffLoop, HandoffManager

from .helpers import make_agent, make_project


def _setup(api: httpx.Client) -> tuple[str, list[str]]:
    pid = str(make_project(api)["id"])
    ids = [
        str(make_agent(api, pid, name=f"h{i}", role=r)["id"]) for i, r in enumerate(("analyst", "pm", "po"))
    ]
    return pid, ids


def test_handoff_accepted_with_audit_trail(api: httpx.Client) -> None:
    pid, (a, b, _) = _setup(api)
    resp = api.post(
        f"/v1/projects/{pid}/handoffs",
        json={
            "from": a,
            "to": b,
            "itemId": "item-1",
            "context": {"ticket": "T-1"},
            "priority": "P1",
            "requiredFields": ["ticket"],
        },
    )
    assert resp.status_code == 200, resp.text
    ack = resp.json()
    assert ack["status"] == "accepted" and ack["receiver"] == b
    record = api.get(f"/v1/projects/{pid}/handoffs/{ack['handoff_id']}").json()
    assert record["status"] == "completed" and record["priority"] == "P1"
    events = [e["event"] for e in record["audit"]]
    assert events == ["handoff.initiated", "handoff.acknowledged", "handoff.completed"]


def test_incomplete_context_is_rejected(api: httpx.Client) -> None:
    pid, (a, b, _) = _setup(api)
    ack = api.post(
        f"/v1/projects/{pid}/handoffs",
        json={
            "from": a,
            "to": b,
            "itemId": "item-2",
            "context": {},
            "requiredFields": ["ticket"],
        },
    ).json()
    assert ack["status"] == "rejected" and "ticket" in ack["message"]


def test_loop_detected_on_third_handoff_of_same_item(api: httpx.Client) -> None:
    pid, (a, b, c) = _setup(api)
    url = f"/v1/projects/{pid}/handoffs"
    assert api.post(url, json={"from": a, "to": b, "itemId": "loop"}).json()["status"] == "accepted"
    assert api.post(url, json={"from": b, "to": c, "itemId": "loop"}).json()["status"] == "accepted"
    third = api.post(url, json={"from": c, "to": a, "itemId": "loop"})
    assert third.status_code == 409
    body = third.json()
    assert body["error"] == "handoff_loop" and body["details"]["previousHandoffs"] == 2


def test_handoff_command_between_agents(api: httpx.Client) -> None:
    pid, (a, b, _) = _setup(api)
    resp = api.post(
        f"/v1/projects/{pid}/agents/{a}/execute",
        json={"command": "*handoff pm", "parameters": {"to": "pm", "itemId": "cmd-item"}},
    )
    body = resp.json()
    assert body["status"] == "success", body
    assert body["output"]["status"] == "accepted" and body["output"]["receiver"] == b


def test_handoff_validation_errors(api: httpx.Client) -> None:
    pid, (a, b, _) = _setup(api)
    url = f"/v1/projects/{pid}/handoffs"
    # Well-formed requests that do not fit the project's agents: 409 (the project exists, so
    # not 404), with the field named.
    to_self = api.post(url, json={"from": a, "to": a, "itemId": "x"})
    assert to_self.status_code == 409 and to_self.json()["details"]["field"] == "to"
    ghost = api.post(url, json={"from": a, "to": "ghost", "itemId": "x"})
    assert ghost.status_code == 409 and ghost.json()["details"] == {"field": "to", "agent": "ghost"}
    backup = api.post(url, json={"from": a, "to": b, "backup": "ghost", "itemId": "x"})
    assert backup.status_code == 409 and backup.json()["details"]["field"] == "backup"
    # Malformed fields are a 400 even when an agent is unknown too: checked first.
    assert api.post(url, json={"from": a, "to": b, "itemId": "x", "priority": "P9"}).status_code == 400
    assert api.post(url, json={"from": a, "to": "ghost", "itemId": 5}).status_code == 400
    assert api.post(url, json={"from": a, "to": b, "itemId": "x", "context": None}).status_code == 400


class _FakeRepo:
    """Handoff persistence in memory; ``previous`` handoffs already recorded for every item."""

    def __init__(self, previous: int) -> None:
        self.previous = previous
        self.rows: list[dict[str, Any]] = []
        self.audit: list[str] = []

    async def count_item_handoffs(self, _project_id: str, _item_id: str) -> int:
        return self.previous

    async def insert_handoff(self, row: dict[str, Any]) -> None:
        self.rows.append(dict(row))

    def audit_op(self, event: str, *_args: Any) -> str:
        self.audit.append(event)
        return event


class _FakeStore:
    def write_nowait(self, *_ops: Any) -> None:
        pass


class _NoBus:
    def send(self, *_args: Any, **_kwargs: Any) -> None:
        raise AssertionError("a refused handoff must not be delivered")


def test_repeated_item_is_refused_before_delivery() -> None:
    repo, registry, events = _FakeRepo(previous=2), Registry(5), []
    deps = HandoffDeps(HandoffSettings(), _FakeStore(), repo, _NoBus(), registry, events.append)  # type: ignore[arg-type]
    a = registry.add_from_row(new_agent_row("p", {"name": "a", "role": "r"}, 1.0))
    b = registry.add_from_row(new_agent_row("p", {"name": "b", "role": "r"}, 1.0))
    manager = HandoffManager(deps)
    with pytest.raises(HandoffLoop) as err:
        asyncio.run(manager.initiate("p", a, b, "item", {}))
    assert err.value.status == 409 and err.value.details == {
        "itemId": "item",
        "previousHandoffs": 2,
        "handoffId": repo.rows[0]["id"],
    }
    assert [r["status"] for r in repo.rows] == ["loop_broken"] and repo.audit == ["handoff.failed"]
    assert events == ["loops_broken"] and manager.counts["initiated"] == 0
