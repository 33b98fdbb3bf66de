"""One request can never lock out an agent (issue 12): deep JSON is a 400 at parse time on every
endpoint, reservations are released on every failure path, a rejected update changes nothing,
and a mailbox stuck full shows in /v1/health."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from reference_runtime.agents.registry import AgentState
from reference_runtime.config import load_settings
from reference_runtime.errors import ApiError
from reference_runtime.jsonlimits import MAX_JSON_DEPTH_LIMIT, SERIALIZER_MAX_DEPTH, exceeds_depth
from reference_runtime.runtime import Runtime

from .helpers import Server, make_agent, make_project, start_runtime

DEFAULT_DEPTH = 64


PLACEHOLDER = "__value__"


def nested_raw(depth: int) -> bytes:
    """A JSON object ``depth`` containers deep (``{"a": 1}`` is 1), as text: orjson cannot
    write more than 254 levels, so the deep bodies are built by hand."""
    return b'{"x":' * (depth - 1) + b'{"leaf":1}' + b"}" * (depth - 1)


def nested(depth: int) -> dict[str, Any]:
    value: dict[str, Any] = orjson.loads(nested_raw(depth))
    return value


def raw_body(field: str, value: bytes, **rest: Any) -> bytes:
    """A JSON body with ``field`` set to the raw JSON ``value`` (``PLACEHOLDER`` marks where it
    goes when it is nested in another value)."""
    body = orjson.dumps({**rest, field: PLACEHOLDER})
    return body.replace(orjson.dumps(PLACEHOLDER), value)


def test_depth_check_matches_the_serializer() -> None:
    orjson.dumps(orjson.loads(nested_raw(SERIALIZER_MAX_DEPTH)))  # 254 with orjson 3.x
    with pytest.raises(orjson.JSONEncodeError):
        orjson.dumps(orjson.loads(nested_raw(SERIALIZER_MAX_DEPTH + 1)))
    assert MAX_JSON_DEPTH_LIMIT < SERIALIZER_MAX_DEPTH
    for depth in (1, 2, 63, 64, 65, 200, 254, 255, 600):
        raw = nested_raw(depth)
        assert exceeds_depth(raw, orjson.loads(raw), 64) is (depth > 64), depth
    wide: list[Any] = [[[]] * 3] * 40  # 121 brackets but only 3 deep: the count is not the answer
    assert exceeds_depth(orjson.dumps(wide), wide, 64) is False


@pytest.fixture(scope="module")
def ids(server: Server) -> dict[str, str]:
    with server.client() as api:
        pid = str(make_project(api, name="hostile input")["id"])
        aid = str(make_agent(api, pid, name="Deep")["id"])
        other = str(make_agent(api, pid, name="Other")["id"])
        wf = api.post(
            f"/v1/projects/{pid}/workflows",
            json={"name": "wf", "steps": [{"agent": aid, "action": "*status"}]},
        )
        assert wf.status_code == 201, wf.text
    return {"pid": pid, "aid": aid, "other": other, "wid": str(wf.json()["id"])}


def _deep_requests(ids: dict[str, str], deep: bytes) -> list[tuple[str, str, bytes]]:
    p, a, b, w = ids["pid"], ids["aid"], ids["other"], ids["wid"]
    project = {"name": "deep", "domain": "d", "requirements": {"description": "x"}}
    in_requirements = orjson.dumps({"description": "x", "deep": PLACEHOLDER})
    in_steps = orjson.dumps([{"agent": a, "parameters": PLACEHOLDER}])
    execute = f"/v1/projects/{p}/agents/{a}/execute"
    workflows = f"/v1/projects/{p}/workflows"
    return [
        ("POST", "/v1/projects", raw_body("metadata", deep, **project)),
        ("POST", "/v1/projects", raw_body("requirements", in_requirements, name="dp", domain="d")),
        ("PUT", f"/v1/projects/{p}", raw_body("metadata", deep)),
        ("POST", f"/v1/projects/{p}/agents", raw_body("personality", deep, name="n", role="r")),
        ("PUT", f"/v1/projects/{p}/agents/{a}", raw_body("personality", deep)),
        ("POST", execute, raw_body("parameters", deep, command="*research x", **{"async": True})),
        ("POST", execute, raw_body("context", deep, command="*research x")),
        ("POST", workflows, raw_body("steps", in_steps, name="w")),
        ("POST", f"{workflows}/{w}/execute", raw_body("input", deep)),
        (
            "POST",
            f"/v1/projects/{p}/handoffs",
            raw_body("context", deep, **{"from": a, "to": b, "itemId": "i"}),
        ),
        ("POST", "/v1/admin/faults", raw_body("cpu_hog", deep)),
    ]


@pytest.mark.parametrize("depth", [DEFAULT_DEPTH + 1, 255, 300, 1100])
def test_deep_json_is_a_400_on_every_endpoint(api: httpx.Client, ids: dict[str, str], depth: int) -> None:
    """254+ levels gave a 500 on 8 endpoints (orjson parses 1024 levels, writes 254)."""
    for method, path, body in _deep_requests(ids, nested_raw(depth)):
        body = body.replace(orjson.dumps(PLACEHOLDER), nested_raw(depth))
        resp = api.request(method, path, content=body)
        assert resp.status_code == 400, (method, path, resp.status_code, resp.text[:200])
        err = resp.json()
        assert err["error"] == "bad_request" and err["requestId"], (method, path)
        if depth <= 1024:  # beyond that orjson itself refuses to parse: "malformed JSON"
            assert err["details"]["maxDepth"] == DEFAULT_DEPTH, (method, path)


def test_body_at_the_depth_limit_round_trips(api: httpx.Client, ids: dict[str, str]) -> None:
    """Anything accepted can be written back, inside every envelope the runtime adds."""
    p, a = ids["pid"], ids["aid"]
    at_limit = nested(DEFAULT_DEPTH - 1)  # the body's own object is one level
    put = api.put(f"/v1/projects/{p}/agents/{a}", json={"personality": at_limit})
    assert put.status_code == 200, put.text
    assert api.get(f"/v1/projects/{p}/agents/{a}").json()["personality"] == at_limit
    listed = api.get(f"/v1/projects/{p}/agents")
    assert listed.status_code == 200 and at_limit in [x["personality"] for x in listed.json()["agents"]]
    done = api.post(
        f"/v1/projects/{p}/agents/{a}/execute", json={"command": "*status", "parameters": at_limit}
    )
    assert done.status_code == 200 and done.json()["status"] == "success", done.text
    execution = api.get(f"/v1/executions/{done.json()['executionId']}")
    assert execution.status_code == 200
    assert api.put(f"/v1/projects/{p}", json={"metadata": at_limit}).status_code == 200
    assert api.get(f"/v1/projects/{p}").status_code == 200
    assert api.put(f"/v1/projects/{p}/agents/{a}", json={"personality": {}}).status_code == 200


def test_rejected_update_leaves_the_agent_unchanged(api: httpx.Client, ids: dict[str, str]) -> None:
    """PUT with a deep personality mutated the live agent before failing; GET then gave 500."""
    p, a = ids["pid"], ids["aid"]
    url = f"/v1/projects/{p}/agents/{a}"
    assert api.put(url, json={"personality": {"traits": "calm"}, "commands": ["help"]}).status_code == 200
    before = api.get(url).json()
    deep = api.put(url, content=raw_body("personality", nested_raw(300)))
    assert deep.status_code == 400
    # A valid personality with an invalid second field: validation is complete before any swap.
    mixed = api.put(url, json={"personality": {"traits": "angry"}, "commands": "not a list"})
    assert mixed.status_code == 400
    assert api.get(url).status_code == 200 and api.get(url).json() == before
    assert api.get(f"/v1/projects/{p}/agents").status_code == 200


@pytest.fixture(scope="module")
def small_mailbox(tmp_path_factory: pytest.TempPathFactory, backend: Server) -> Iterator[Server]:
    srv = start_runtime(
        tmp_path_factory.mktemp("small-mailbox"),
        "--model-url",
        backend.base_url,
        "--set",
        "agents.mailbox_capacity=5",
    )
    yield srv
    srv.stop()


def test_deep_execute_requests_never_lock_out_the_agent(small_mailbox: Server) -> None:
    """Each deep execute leaked its reserved slot: after `capacity` of them every normal call got
    429 "mailbox is full" while /v1/health said healthy with queue depth 0."""
    with small_mailbox.client() as api:
        pid = str(make_project(api)["id"])
        aid = str(make_agent(api, pid)["id"])
        url = f"/v1/projects/{pid}/agents/{aid}/execute"
        body = raw_body("parameters", nested_raw(300), command="*research x", **{"async": True})
        codes = {api.post(url, content=body).status_code for _ in range(40)}  # 8x the capacity
        assert codes == {400}
        ok = api.post(url, json={"command": "*status", "async": True})
        assert ok.status_code == 202, ok.text
        bus = api.get("/v1/health").json()["components"]["bus"]
        assert bus["reserved"] == 0 and bus["status"] == "ok", bus


# -- in-process: failures between reserve and persist --------------------------------------------
def _settings(tmp: Path) -> Any:
    return load_settings(
        None,
        {"state_dir": str(tmp), "archive": {"enabled": False}, "agents": {"mailbox_capacity": 3}},
        environ={},
    )


async def _agent(rt: Runtime) -> AgentState:
    now = time.time()
    pid = str(uuid.uuid4())
    row = {
        "id": pid,
        "name": "reserve test",
        "domain": "d",
        "status": "completed",
        "phase": "ready",
        "requirements": "{}",
        "metadata": "{}",
        "created_at": now,
        "updated_at": now,
    }
    await rt.services.repo.insert_project(row)
    return await rt.agents.add(pid, {"name": "a", "role": "analyst"})


def test_every_failure_between_reserve_and_persist_releases_the_slot(
    tmp_path: Path, backend: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def main() -> list[tuple[str, int]]:
        rt = Runtime(_settings(tmp_path), backend.base_url)
        await rt.start()
        try:
            agent = await _agent(rt)
            seen: list[tuple[str, int]] = []
            # 1. the payload cannot be serialized (what deep JSON did before the parse-time limit)
            for _ in range(5):
                with pytest.raises(orjson.JSONEncodeError):
                    await rt.commands.submit(agent, "*research", nested(300), {}, 30.0, 3, False, 10)
            seen.append(("unserializable", agent.mailbox.free))

            # 2. the group commit fails
            async def broken(*_ops: Any) -> None:
                raise OSError("disk I/O error")

            monkeypatch.setattr(rt.services.store, "write", broken)
            for _ in range(5):
                with pytest.raises(ApiError) as err:
                    await rt.commands.submit(agent, "*status", {}, {}, 30.0, 3, False, 10)
                assert err.value.status == 503 and err.value.headers["Retry-After"]
            seen.append(("commit failed", agent.mailbox.free))
            monkeypatch.undo()
            # 3. and the agent still takes work
            exec_id, _ = await rt.commands.submit(agent, "*status", {}, {}, 30.0, 3, False, 10)
            seen.append(("accepted", len(exec_id)))
            return seen
        finally:
            monkeypatch.undo()
            await rt.stop()

    seen = asyncio.run(main())
    assert seen[:2] == [("unserializable", 3), ("commit failed", 3)]
    assert seen[2][0] == "accepted" and seen[2][1] > 0


def test_health_is_degraded_while_a_mailbox_is_stuck_full(
    tmp_path: Path, backend: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Slots held by acks whose commit never returns fill the mailbox with nothing queued: health
    must say so (it said healthy, queue depth 0)."""

    async def main() -> tuple[dict[str, Any], dict[str, Any]]:
        rt = Runtime(_settings(tmp_path), backend.base_url)
        await rt.start()
        try:
            agent = await _agent(rt)

            async def hang(*_ops: Any) -> None:
                await asyncio.Event().wait()

            monkeypatch.setattr(rt.services.store, "write", hang)
            acks = [
                asyncio.create_task(rt.commands.submit(agent, "*status", {}, {}, 30.0, 3, False, 10))
                for _ in range(3)
            ]
            await asyncio.sleep(0.05)
            stuck = (await rt.health())["components"]["bus"]
            for task in acks:
                task.cancel()
            await asyncio.gather(*acks, return_exceptions=True)
            monkeypatch.undo()
            return stuck, (await rt.health())["components"]["bus"]
        finally:
            monkeypatch.undo()
            await rt.stop()

    stuck, after = asyncio.run(main())
    assert stuck["status"] == "degraded" and stuck["queueDepth"] == 0 and stuck["reserved"] == 3
    assert stuck["fullMailboxes"][0]["reserved"] == 3 and "full" in stuck["message"]
    assert after["status"] == "ok" and after["reserved"] == 0 and after["fullMailboxes"] == []
