"""Integration: the issue's "done when" flow against the real runtime + model backend processes."""

from __future__ import annotations

import stat
import time

import httpx

from .helpers import Server, make_agent, make_project, wait_execution


def _assert_error(resp: httpx.Response, status: int) -> dict[str, object]:
    assert resp.status_code == status, resp.text
    assert resp.headers["content-type"].startswith("application/json")
    body: dict[str, object] = resp.json()
    for key in ("error", "message", "requestId", "timestamp"):
        assert key in body, body
    return body


def test_health_needs_no_key_and_reports_components(server: Server) -> None:
    body = httpx.get(server.base_url + "/v1/health").json()
    assert body["status"] == "healthy"
    assert {"db", "model_backend", "bus"} <= set(body["components"])
    assert isinstance(body["uptime"], int)


def test_key_file_written_with_mode_0600(server: Server) -> None:
    path = server.state_dir / "api_key"
    assert path.read_text().strip() == server.key
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_auth_required_and_bearer_accepted(server: Server) -> None:
    _assert_error(httpx.get(server.base_url + "/v1/projects"), 401)
    _assert_error(httpx.get(server.base_url + "/v1/projects", headers={"X-API-Key": "wrong"}), 401)
    ok = httpx.get(server.base_url + "/v1/projects", headers={"Authorization": f"Bearer {server.key}"})
    assert ok.status_code == 200


def test_project_crud_and_pagination(api: httpx.Client) -> None:
    created = [make_project(api, name=f"crud project {i}") for i in range(3)]
    pid = str(created[0]["id"])
    got = api.get(f"/v1/projects/{pid}").json()
    assert got["name"] == "crud project 0" and got["domain"] == "testing"
    page = api.get("/v1/projects", params={"limit": 2, "offset": 0}).json()
    assert page["limit"] == 2 and len(page["projects"]) == 2 and page["total"] >= 3
    second = api.get("/v1/projects", params={"limit": 1, "offset": 1}).json()
    assert [p["id"] for p in second["projects"]] == [page["projects"][1]["id"]]
    assert api.get("/v1/projects", params={"offset": 10_000_000}).json()["projects"] == []
    _assert_error(api.get("/v1/projects", params={"limit": 101}), 400)
    _assert_error(api.get("/v1/projects", params={"status": "bogus"}), 400)
    upd = api.put(f"/v1/projects/{pid}", json={"name": "renamed project"})
    assert upd.status_code == 200 and upd.json()["name"] == "renamed project"
    assert api.delete(f"/v1/projects/{pid}").status_code == 204
    _assert_error(api.get(f"/v1/projects/{pid}"), 404)


def test_team_creation_runs_research_and_creation_phases(api: httpx.Client) -> None:
    project = make_project(api, team_size=2, name="team creation")
    assert project["status"] == "initializing"
    deadline = time.monotonic() + 30
    body: dict[str, object] = {}
    while time.monotonic() < deadline:
        body = api.get(f"/v1/projects/{project['id']}").json()
        if body["status"] in ("completed", "failed"):
            break
        time.sleep(0.1)
    assert body["status"] == "completed", body
    assert len(body["agents"]) == 2  # type: ignore[arg-type]


def test_agent_crud(api: httpx.Client) -> None:
    pid = str(make_project(api)["id"])
    agent = make_agent(api, pid, name="crud agent")
    aid = agent["id"]
    assert agent["status"] == "created"
    assert api.get(f"/v1/projects/{pid}/agents").json()["agents"][0]["id"] == aid
    upd = api.put(f"/v1/projects/{pid}/agents/{aid}", json={"commands": ["*research"]})
    assert upd.json()["commands"] == ["*research"]
    assert api.delete(f"/v1/projects/{pid}/agents/{aid}").status_code == 204
    _assert_error(api.get(f"/v1/projects/{pid}/agents/{aid}"), 404)


def test_async_execute_then_completes(api: httpx.Client) -> None:
    pid = str(make_project(api)["id"])
    aid = make_agent(api, pid)["id"]
    resp = api.post(
        f"/v1/projects/{pid}/agents/{aid}/execute", json={"command": "*research retail", "async": True}
    )
    assert resp.status_code == 202
    assert resp.json()["status"] == "queued"
    done = wait_execution(api, resp.json()["executionId"])
    assert done["status"] == "completed" and done["progress"] == 100
    assert done["result"]["output"]["response"]  # type: ignore[index]


def test_prefer_respond_async_header(api: httpx.Client) -> None:
    pid = str(make_project(api)["id"])
    aid = make_agent(api, pid)["id"]
    resp = api.post(
        f"/v1/projects/{pid}/agents/{aid}/execute",
        json={"command": "*help"},
        headers={"Prefer": "respond-async"},
    )
    assert resp.status_code == 202


def test_sync_execute_returns_command_response(api: httpx.Client) -> None:
    pid = str(make_project(api)["id"])
    aid = make_agent(api, pid)["id"]
    resp = api.post(f"/v1/projects/{pid}/agents/{aid}/execute", json={"command": "*analyze history"})
    assert resp.status_code == 200
    body = resp.json()
    assert body["status"] == "success" and body["command"] == "*analyze history"
    assert "history" in body["output"] and isinstance(body["duration"], int)


def test_bad_input_gets_json_4xx(api: httpx.Client, server: Server) -> None:
    pid = str(make_project(api)["id"])
    aid = make_agent(api, pid)["id"]
    url = f"/v1/projects/{pid}/agents/{aid}/execute"
    _assert_error(api.post(url, content=b'{"command":'), 400)
    _assert_error(api.post(url, json={"command": 5}), 400)
    _assert_error(api.post(url, json={}), 400)
    _assert_error(api.post(url, json=[1, 2]), 400)
    _assert_error(api.post(url, json={"command": "*x", "timeout": "soon"}), 400)
    _assert_error(api.post(url, content=b"x" * (1024 * 1024 + 10)), 413)
    _assert_error(api.post(f"/v1/projects/{pid}/agents/nope/execute", json={"command": "*x"}), 404)
    # the ack fast path only takes /v1/projects/.../execute: other 7-segment paths are unrouted
    wrong = _assert_error(api.post(f"/v2/projects/{pid}/agents/{aid}/execute", json={"command": "*x"}), 404)
    assert wrong["message"] == "no such endpoint"
    _assert_error(api.post(f"/v1/workflows/{pid}/agents/{aid}/execute", json={"command": "*x"}), 404)
    _assert_error(api.get("/v1/executions/exe-missing"), 404)
    _assert_error(api.get("/v1/nothing-here"), 404)
    _assert_error(api.delete("/v1/metrics"), 405)
    _assert_error(api.post("/v1/projects", json={"name": "ab", "domain": "x", "requirements": {}}), 400)


def test_metrics_json_shape(api: httpx.Client) -> None:
    body = api.get("/v1/metrics", params={"period": "1h"}).json()
    assert body["period"] == "1h"
    assert {"projects", "agents", "executions", "system"} <= set(body)
    _assert_error(api.get("/v1/metrics", params={"period": "2y"}), 400)


def test_activate_mother_box_team(server: Server) -> None:
    # The spec's one admin operation takes only ``Authorization: Bearer`` (security: BearerAuth).
    with httpx.Client(base_url=server.base_url, timeout=30) as plain:
        bearer = {"Authorization": f"Bearer {server.key}"}
        rejected = plain.post("/v1/admin/mother-box/activate", headers={"X-API-Key": server.key})
        assert rejected.status_code == 401 and "Bearer" in rejected.json()["message"]
        body = plain.post("/v1/admin/mother-box/activate", headers=bearer).json()
        again = plain.post("/v1/admin/mother-box/activate", headers=bearer).json()  # idempotent
    assert body["status"] == "activated"
    assert len(body["agents"]) == 10
    assert all(a["status"] == "active" for a in body["agents"])
    assert {a["id"] for a in again["agents"]} == {a["id"] for a in body["agents"]}


def test_workflow_parallel_steps_bounded_by_five(api: httpx.Client) -> None:
    pid = str(make_project(api)["id"])
    names = [str(make_agent(api, pid, name=f"wf agent {i}")["name"]) for i in range(7)]
    steps = [{"agent": n, "action": "*research topic"} for n in names]
    steps.append({"id": "final", "agent": names[0], "action": "*status", "dependsOn": ["step-1", "step-7"]})
    wf = api.post(f"/v1/projects/{pid}/workflows", json={"name": "fan out", "parallel": True, "steps": steps})
    assert wf.status_code == 201, wf.text
    run = api.post(f"/v1/projects/{pid}/workflows/{wf.json()['id']}/execute", json={})
    body = run.json()
    assert run.status_code == 200 and body["status"] == "completed", body
    assert 1 < body["maxConcurrency"] <= 5
    assert [s["stepId"] for s in body["steps"]][-1] == "final"
    listed = api.get(f"/v1/projects/{pid}/workflows").json()["workflows"]
    assert listed[0]["executionCount"] == 1


def test_workflow_async_and_failed_step_skips_dependents(api: httpx.Client) -> None:
    pid = str(make_project(api)["id"])
    make_agent(api, pid, name="solo")
    steps = [{"agent": "ghost", "action": "*research"}, {"agent": "solo", "action": "*help"}]
    wf = api.post(f"/v1/projects/{pid}/workflows", json={"name": "broken", "steps": steps}).json()
    resp = api.post(f"/v1/projects/{pid}/workflows/{wf['id']}/execute", json={"async": True})
    assert resp.status_code == 202
    done = wait_execution(api, resp.json()["executionId"])
    assert done["status"] == "failed"
    statuses = [s["status"] for s in done["result"]["steps"]]  # type: ignore[index]
    assert statuses == ["failed", "skipped"]


def test_workflow_definition_errors(api: httpx.Client) -> None:
    pid = str(make_project(api)["id"])
    bad = [
        {"name": "x", "steps": []},
        {"name": "x", "steps": [{"agent": "a"}]},
        {"name": "x", "steps": [{"agent": "a", "action": "b", "dependsOn": ["nope"]}]},
        {
            "name": "x",
            "steps": [
                {"id": "a", "agent": "a", "action": "b", "dependsOn": ["b"]},
                {"id": "b", "agent": "a", "action": "b", "dependsOn": ["a"]},
            ],
        },
    ]
    for body in bad:
        _assert_error(api.post(f"/v1/projects/{pid}/workflows", json=body), 400)


def test_agent_status_lifecycle(api: httpx.Client) -> None:
    pid = str(make_project(api)["id"])
    aid = make_agent(api, pid, name="lifecycle")["id"]
    url = f"/v1/projects/{pid}/agents/{aid}/execute"
    assert api.get(f"/v1/projects/{pid}/agents/{aid}").json()["status"] == "created"
    failed = api.post(url, json={"command": "*handoff"}).json()  # no parameters.to: the command fails
    assert failed["status"] == "error" and "parameters.to" in failed["error"]
    time.sleep(0.05)
    assert api.get(f"/v1/projects/{pid}/agents/{aid}").json()["status"] == "error"
    assert api.post(url, json={"command": "*status"}).json()["status"] == "success"
    time.sleep(0.05)
    agent = api.get(f"/v1/projects/{pid}/agents/{aid}").json()
    assert agent["status"] == "idle" and "lastActive" in agent
