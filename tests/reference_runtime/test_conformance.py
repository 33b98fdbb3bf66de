"""Responses of the real runtime validated against ../shared/mother-box/api/openapi-spec.yaml."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from .helpers import SHARED_MB, Server, make_agent, wait_execution

SPEC = SHARED_MB / "api" / "openapi-spec.yaml"
pytestmark = pytest.mark.skipif(not SPEC.exists(), reason=f"Mother Box spec not found at {SPEC}")
# The spec's servers end in /v1; the local one is http://localhost:8080/v1.
SPEC_HOST = "http://localhost:8080"


@pytest.fixture(scope="module")
def openapi() -> Any:
    from openapi_core import OpenAPI

    return OpenAPI.from_file_path(str(SPEC))


def _check(openapi: Any, resp: httpx.Response, pattern: str) -> None:
    from openapi_core.testing import MockRequest, MockResponse

    req = resp.request
    mock_req = MockRequest(
        SPEC_HOST,
        req.method.lower(),
        req.url.path,
        path_pattern=pattern,
        args=dict(req.url.params),
        headers=dict(req.headers),
        data=req.content or None,
    )
    ctype = resp.headers.get("content-type", "application/json").split(";")[0]
    mock_resp = MockResponse(
        resp.content, status_code=resp.status_code, content_type=ctype, headers=dict(resp.headers)
    )
    openapi.validate_response(mock_req, mock_resp)


def test_responses_conform_to_spec(server: Server, openapi: Any) -> None:
    checked = 0
    with server.client() as api:

        def call(method: str, url: str, pattern: str, status: int, **kw: Any) -> httpx.Response:
            nonlocal checked
            resp = api.request(method, url, **kw)
            assert resp.status_code == status, (url, resp.text)
            _check(openapi, resp, pattern)
            checked += 1
            return resp

        call("GET", "/v1/health", "/v1/health", 200)
        call("GET", "/v1/metrics", "/v1/metrics", 200, params={"period": "7d"})
        body = {
            "name": "conformance",
            "domain": "qa",
            "requirements": {"description": "x", "goals": ["g"]},
            "metadata": {"teamSize": 1},
        }
        project = call("POST", "/v1/projects", "/v1/projects", 201, json=body).json()
        pid = project["id"]
        call("POST", "/v1/projects", "/v1/projects", 400, json={"name": "x"})
        call("GET", "/v1/projects", "/v1/projects", 200, params={"limit": 5})
        call("GET", f"/v1/projects/{pid}", "/v1/projects/{projectId}", 200)
        call("PUT", f"/v1/projects/{pid}", "/v1/projects/{projectId}", 200, json={"metadata": {"k": 1}})
        call("GET", "/v1/projects/00000000-0000-4000-8000-000000000000", "/v1/projects/{projectId}", 404)
        agent = call(
            "POST",
            f"/v1/projects/{pid}/agents",
            "/v1/projects/{projectId}/agents",
            201,
            json={
                "name": "spec agent",
                "role": "analyst",
                "personality": {"traits": "calm"},
                "capabilities": ["c"],
                "commands": ["*research"],
            },
        ).json()
        aid = agent["id"]
        agent_path = "/v1/projects/{projectId}/agents/{agentId}"
        call("GET", f"/v1/projects/{pid}/agents", "/v1/projects/{projectId}/agents", 200)
        call("GET", f"/v1/projects/{pid}/agents/{aid}", agent_path, 200)
        call("PUT", f"/v1/projects/{pid}/agents/{aid}", agent_path, 200, json={"capabilities": ["x"]})
        exec_path = agent_path + "/execute"
        sync = call(
            "POST",
            f"/v1/projects/{pid}/agents/{aid}/execute",
            exec_path,
            200,
            json={"command": "*research spec", "parameters": {"a": 1}, "timeout": 20},
        )
        assert sync.json()["status"] == "success"
        queued = call(
            "POST",
            f"/v1/projects/{pid}/agents/{aid}/execute",
            exec_path,
            202,
            json={"command": "*analyze spec", "async": True},
        ).json()
        wait_execution(api, queued["executionId"])
        call("GET", f"/v1/executions/{queued['executionId']}", "/v1/executions/{executionId}", 200)
        make_agent(api, pid, name="second", role="pm")
        wf = call(
            "POST",
            f"/v1/projects/{pid}/workflows",
            "/v1/projects/{projectId}/workflows",
            201,
            json={
                "name": "spec wf",
                "description": "d",
                "trigger": "manual",
                "steps": [
                    {"agent": "spec agent", "action": "*research"},
                    {"agent": "second", "action": "*help", "input": {"x": 1}},
                ],
            },
        ).json()
        call("GET", f"/v1/projects/{pid}/workflows", "/v1/projects/{projectId}/workflows", 200)
        wf_exec = "/v1/projects/{projectId}/workflows/{workflowId}/execute"
        call(
            "POST", f"/v1/projects/{pid}/workflows/{wf['id']}/execute", wf_exec, 200, json={"input": {"q": 1}}
        )
        started = call(
            "POST", f"/v1/projects/{pid}/workflows/{wf['id']}/execute", wf_exec, 202, json={"async": True}
        ).json()
        wait_execution(api, started["executionId"])
        call("GET", f"/v1/executions/{started['executionId']}", "/v1/executions/{executionId}", 200)
        bearer = {"Authorization": f"Bearer {server.key}"}  # the spec's security for activate
        call("POST", "/v1/admin/mother-box/activate", "/v1/admin/mother-box/activate", 200, headers=bearer)
        call("DELETE", f"/v1/projects/{pid}/agents/{aid}", agent_path, 204)
        call("DELETE", f"/v1/projects/{pid}", "/v1/projects/{projectId}", 204)
        call("DELETE", f"/v1/projects/{pid}", "/v1/projects/{projectId}", 404)
    assert checked == 24


def test_unauthorized_matches_error_schema(server: Server, openapi: Any) -> None:
    # POST /projects is the operation that documents 401 (Error schema).
    resp = httpx.post(
        server.base_url + "/v1/projects", json={"name": "abc", "domain": "d", "requirements": {}}
    )
    assert resp.status_code == 401
    _check(openapi, resp, "/v1/projects")


def test_validator_rejects_a_non_conforming_body(server: Server, openapi: Any) -> None:
    """Guard: the check above would catch a wrong response (status outside the enum)."""
    resp = httpx.get(server.base_url + "/v1/health")
    bad = httpx.Response(200, json={**resp.json(), "status": "fine"}, request=resp.request)
    with pytest.raises(Exception, match=r"(?i)valid"):
        _check(openapi, bad, "/v1/health")
