"""The runtime's own OpenAPI document: valid OpenAPI 3.1, built from the app's routes, served at
``/v1/openapi.json`` without a key, and different from the upstream spec
(../shared/mother-box/api/openapi-spec.yaml) only where docs/runtime.md lists the difference."""

from __future__ import annotations

import copy
from typing import Any

import httpx
import pytest
import yaml
from openapi_spec_validator import validate
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from reference_runtime import fields
from reference_runtime.app import route_table, routes
from reference_runtime.config import Settings
from reference_runtime.openapi import build_document, spec_path

from .helpers import REPO, SHARED_MB, Server
from .specdiff import Documented, diff, documented

SPEC = SHARED_MB / "api" / "openapi-spec.yaml"
DOC = REPO / "docs" / "runtime.md"
needs_spec = pytest.mark.skipif(not SPEC.exists(), reason=f"Mother Box spec not found at {SPEC}")


def _document(settings: Settings | None = None) -> dict[str, Any]:
    return build_document(routes(), settings or Settings())


def _upstream() -> dict[str, Any]:
    spec: dict[str, Any] = yaml.safe_load(SPEC.read_text(encoding="utf-8"))
    return spec


def _uncovered(found: list[tuple[str, str]], rows: list[Documented]) -> list[str]:
    return [f"{kind} {where}" for kind, where in found if not any(r.covers(kind, where) for r in rows)]


def test_document_is_valid_openapi_31() -> None:
    doc = _document()
    validate(doc)  # raises on an invalid document
    assert doc["openapi"] == "3.1.0" and doc["servers"] == [{"url": "/v1", "description": "This runtime"}]


def test_every_route_has_exactly_one_operation() -> None:
    served = {(spec_path(path), method.lower()) for path, method, _ in route_table()}
    documented_ops = {(path, method) for path, ops in _document()["paths"].items() for method in ops}
    assert served == documented_ops
    assert ("/projects/{projectId}/agents/{agentId}/execute", "post") in served


def test_a_route_without_an_operation_or_the_reverse_fails_the_build() -> None:
    async def endpoint(_request: Request) -> Response:
        return Response()

    extra = [*routes(), Route("/v1/extra/{item_id}", endpoint, methods=["GET"])]
    with pytest.raises(LookupError, match=r"GET /v1/extra/\{item_id\} has no operation"):
        build_document(extra, Settings())
    with pytest.raises(LookupError, match="without a route"):
        build_document(routes()[1:], Settings())


def test_limits_are_the_ones_the_runtime_enforces() -> None:
    doc = _document(Settings(max_body_bytes=1234, max_json_depth=10))
    assert doc["info"]["x-request-limits"]["maxBodyBytes"] == 1234
    assert doc["info"]["x-request-limits"]["maxJsonDepth"] == 10
    assert "1234 bytes" in doc["components"]["responses"]["PayloadTooLarge"]["description"]
    schemas = doc["components"]["schemas"]
    name = schemas["ProjectRequest"]["properties"]["name"]
    assert (name["minLength"], name["maxLength"]) == (fields.PROJECT_NAME.min, fields.PROJECT_NAME.max)
    execute = doc["paths"]["/projects/{projectId}/agents/{agentId}/execute"]["post"]
    timeout = execute["requestBody"]["content"]["application/json"]["schema"]["properties"]["timeout"]
    assert (timeout["minimum"], timeout["maximum"]) == (fields.TIMEOUT_S.min, fields.TIMEOUT_S.max)
    assert set(execute["responses"]) == {"200", "202", "400", "401", "404", "413", "429", "503"}
    retry = doc["components"]["responses"]["TooManyRequests"]["headers"]["Retry-After"]
    assert retry["required"] is True


def test_served_without_a_key(server: Server) -> None:
    resp = httpx.get(server.base_url + "/v1/openapi.json", timeout=30)
    assert resp.status_code == 200 and resp.headers["content-type"] == "application/json"
    assert resp.json() == _document()


def test_diff_names_each_difference() -> None:
    ours = {"a": {"b": 1, "c": [1, 2]}, "new": 1}
    theirs = {"a": {"b": 2, "c": [1, 2], "gone": {}}}
    assert diff(ours, theirs) == [("changed", "a.b"), ("removed", "a.gone"), ("added", "new")]
    row = Documented(("paths.*.responses.401",), "added", "why")
    assert row.covers("added", "paths./x.get.responses.401")
    assert not row.covers("removed", "paths./x.get.responses.401")


@needs_spec
def test_differences_from_the_upstream_spec_are_documented() -> None:
    found = diff(_document(), _upstream())
    rows = documented(DOC)
    undocumented = _uncovered(found, rows)
    assert not undocumented, (
        "differences from the upstream spec not listed in docs/runtime.md "
        "('Differences from the upstream spec'):\n" + "\n".join(undocumented)
    )
    stale = [row.patterns for row in rows if not any(row.covers(kind, where) for kind, where in found)]
    assert not stale, f"rows in docs/runtime.md that match no difference any more: {stale}"


@needs_spec
def test_the_comparison_catches_an_undocumented_difference() -> None:
    """Guard: the test above would fail on a drift (a renamed operation, a dropped path)."""
    ours = copy.deepcopy(_document())
    ours["paths"]["/projects"]["get"]["operationId"] = "listAllProjects"
    del ours["paths"]["/health"]
    uncovered = _uncovered(diff(ours, _upstream()), documented(DOC))
    assert sorted(uncovered) == ["changed paths./projects.get.operationId", "removed paths./health"]
