"""Property test: generated bad requests never produce a 5xx, and every 4xx is a JSON error body."""

from __future__ import annotations

from typing import Any

import httpx
import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from .helpers import Server, make_agent, make_project

JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**63 - 1)
    | st.floats(allow_nan=False)
    | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=12,
)
FIELDS = (
    "command",
    "parameters",
    "context",
    "timeout",
    "async",
    "priority",
    "name",
    "domain",
    "requirements",
    "metadata",
    "role",
    "personality",
    "capabilities",
    "commands",
    "steps",
    "input",
    "from",
    "to",
    "itemId",
)
BODIES = st.one_of(
    JSON.map(lambda v: orjson.dumps(v)),
    st.dictionaries(st.sampled_from(FIELDS), JSON, max_size=6).map(lambda v: orjson.dumps(v)),
    st.binary(max_size=200),
    st.text(max_size=100).map(str.encode),
)
# Printable ASCII only: control characters are rejected by the HTTP client before sending.
SEGMENTS = st.text(
    alphabet=st.characters(min_codepoint=33, max_codepoint=126, exclude_characters="/?#%"),
    min_size=1,
    max_size=20,
)


@pytest.fixture(scope="module")
def fuzz_client(server: Server) -> Any:
    with httpx.Client(base_url=server.base_url, timeout=30) as client:
        yield client


@pytest.fixture(scope="module")
def target(server: Server) -> dict[str, str]:
    with server.client() as api:
        pid = str(make_project(api, name="fuzz project")["id"])
        aid = str(make_agent(api, pid, name="fuzz agent")["id"])
    return {"pid": pid, "aid": aid}


def _templates(t: dict[str, str]) -> list[tuple[str, str]]:
    p, a = t["pid"], t["aid"]
    return [
        ("POST", "/v1/projects"),
        ("PUT", f"/v1/projects/{p}"),
        ("POST", f"/v1/projects/{p}/agents"),
        ("PUT", f"/v1/projects/{p}/agents/{a}"),
        ("POST", f"/v1/projects/{p}/agents/{a}/execute"),
        ("POST", f"/v1/projects/{p}/workflows"),
        ("POST", f"/v1/projects/{p}/handoffs"),
        ("POST", f"/v1/projects/{p}/agents/{{x}}/execute"),
        ("GET", "/v1/projects/{x}"),
        ("GET", "/v1/executions/{x}"),
        ("DELETE", f"/v1/projects/{p}/agents/{{x}}"),
        ("GET", "/v1/projects?limit={x}&offset={x}"),
        ("GET", "/v1/metrics?period={x}"),
    ]


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_bad_requests_never_5xx(
    server: Server, fuzz_client: httpx.Client, target: dict[str, str], data: Any
) -> None:
    method, template = data.draw(st.sampled_from(_templates(target)))
    path = template.replace("{x}", data.draw(SEGMENTS)) if "{x}" in template else template
    body = data.draw(BODIES) if method in ("POST", "PUT") else None
    headers = {
        "X-API-Key": server.key,
        "Content-Type": data.draw(st.sampled_from(["application/json", "text/plain"])),
    }
    resp = fuzz_client.request(method, path, content=body, headers=headers)
    assert resp.status_code < 500, (method, path, body, resp.text)
    if resp.status_code >= 400:
        err = resp.json()
        assert {"error", "message", "requestId", "timestamp"} <= set(err), err
