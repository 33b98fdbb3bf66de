"""Request rules the runtime changed to conform to its OpenAPI document (issue 12: schemathesis
found spec-valid input rejected, invalid input accepted and wrong ``Allow`` headers)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from .helpers import make_agent, make_project


def _project_body(**extra: Any) -> dict[str, Any]:
    return {"name": "rules", "domain": "qa", "requirements": {"description": "d"}, **extra}


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("OPTIONS", "/v1/projects", {"GET", "HEAD", "POST"}),
        ("DELETE", "/v1/projects", {"GET", "HEAD", "POST"}),
        ("PATCH", "/v1/admin/faults", {"GET", "HEAD", "POST", "DELETE"}),
        ("GET", "/v1/admin/mother-box/activate", {"POST"}),
    ],
)
def test_wrong_method_allow_names_every_method_of_the_path(
    api: httpx.Client, method: str, path: str, allowed: set[str]
) -> None:
    resp = api.request(method, path, headers={"Authorization": f"Bearer {api.headers['X-API-Key']}"})
    assert resp.status_code == 405
    assert {m.strip() for m in resp.headers["allow"].split(",")} == allowed
    assert resp.json()["error"] == "method_not_allowed"


def test_wrong_method_on_a_resource_path(api: httpx.Client) -> None:
    pid = str(make_project(api)["id"])
    aid = str(make_agent(api, pid)["id"])
    resp = api.patch(f"/v1/projects/{pid}/agents/{aid}")
    assert resp.status_code == 405
    assert {m.strip() for m in resp.headers["allow"].split(",")} == {"GET", "HEAD", "PUT", "DELETE"}


def test_an_explicit_null_is_a_wrong_type(api: httpx.Client) -> None:
    """No field of the spec is nullable: ``null`` is a 400 naming the field, not 'absent'."""
    pid = str(make_project(api)["id"])
    aid = str(make_agent(api, pid)["id"])
    cases = [
        ("/v1/projects", _project_body(metadata=None), "metadata"),
        ("/v1/projects", _project_body(requirements={"goals": None}), "requirements.goals"),
        (f"/v1/projects/{pid}/agents", {"name": "n", "role": "r", "commands": None}, "commands"),
        (f"/v1/projects/{pid}/agents/{aid}/execute", {"command": "*help", "priority": None}, "priority"),
        (f"/v1/projects/{pid}/agents/{aid}/execute", {"command": "*help", "parameters": None}, "parameters"),
        (
            f"/v1/projects/{pid}/workflows",
            {"name": "w", "steps": [{"agent": "a", "action": "b", "conditions": None}]},
            "steps",
        ),
        (
            f"/v1/projects/{pid}/workflows",
            {"name": "w", "steps": [{"agent": "a", "action": "b", "input": 0}]},
            "steps",
        ),
    ]
    for path, body, field in cases:
        resp = api.post(path, json=body)
        assert resp.status_code == 400, (path, body, resp.text)
        assert resp.json()["details"]["field"] == field, resp.text
    wf = api.post(
        f"/v1/projects/{pid}/workflows", json={"name": "w", "steps": [{"agent": "x", "action": "y"}]}
    )
    assert wf.status_code == 201, wf.text
    run = api.post(f"/v1/projects/{pid}/workflows/{wf.json()['id']}/execute", json={"input": None})
    assert run.status_code == 400 and run.json()["details"]["field"] == "input"


def test_integral_numbers_are_integers(api: httpx.Client) -> None:
    """JSON Schema counts 30.0 as an integer; a fraction is still a 400."""
    pid = str(make_project(api)["id"])
    url = f"/v1/projects/{pid}/agents/{make_agent(api, pid)['id']}/execute"
    accepted = api.post(url, json={"command": "*help", "timeout": 30.0, "priority": 2.0, "async": True})
    assert accepted.status_code == 202, accepted.text
    assert api.post(url, json={"command": "*help", "timeout": 30.5, "async": True}).status_code == 400
    assert api.post(url, json={"command": "*help", "priority": 2.5, "async": True}).status_code == 400


@pytest.mark.parametrize("value", ["٣", "1_0", " 7", "+5", "1.0", "", "9" * 40])
def test_query_integers_are_ascii_digits(api: httpx.Client, value: str) -> None:
    resp = api.get("/v1/projects", params={"limit": value})
    assert resp.status_code == 400, resp.text
    assert resp.json()["details"] == {"parameter": "limit"}


def test_limits_the_spec_does_not_set_are_not_enforced(api: httpx.Client) -> None:
    """``domain`` has no minimum in the spec; a step's agent may be any non-empty string."""
    created = api.post("/v1/projects", json=_project_body(domain=""))
    assert created.status_code == 201, created.text
    pid = created.json()["id"]
    steps = [{"agent": " ", "action": "*help"}]
    assert api.post(f"/v1/projects/{pid}/workflows", json={"name": "w", "steps": steps}).status_code == 201
    empty = [{"agent": "", "action": "*help"}]
    assert api.post(f"/v1/projects/{pid}/workflows", json={"name": "w", "steps": empty}).status_code == 400
    assert api.get("/v1/projects", params={"limit": "7", "offset": "0"}).status_code == 200
