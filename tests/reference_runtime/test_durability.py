"""kill -9 durability: every acknowledged execution survives a crash and a restart, on SQLite and
on PostgreSQL (``db_url``: a fresh database)."""

from __future__ import annotations

import asyncio
import signal
import time
from pathlib import Path

import httpx
import pytest

from .helpers import make_agent, make_project, start_backend, start_runtime

pytestmark = pytest.mark.slow


async def _fire(base_url: str, key: str, urls: list[str]) -> list[str]:
    limits = httpx.Limits(max_connections=32)
    async with httpx.AsyncClient(
        base_url=base_url, headers={"X-API-Key": key}, timeout=30, limits=limits
    ) as c:
        resps = await asyncio.gather(
            *(c.post(u, json={"command": f"*research item {i}", "async": True}) for i, u in enumerate(urls))
        )
    return [r.json()["executionId"] for r in resps if r.status_code == 202]


def test_acknowledged_executions_survive_kill_9(tmp_path: Path, db_url: str) -> None:
    backend = start_backend(tmp_path / "be", "--latency-median-ms", "400", "--latency-p99-ms", "800")
    state = tmp_path / "state"
    database = ("--database-url", db_url)
    srv = start_runtime(state, "--model-url", backend.base_url, *database, "--set", "agents.concurrency=1")
    try:
        with srv.client() as api:
            pid = str(make_project(api)["id"])
            agents = [str(make_agent(api, pid, name=f"d{i}")["id"]) for i in range(3)]
        urls = [f"/v1/projects/{pid}/agents/{agents[i % 3]}/execute" for i in range(120)]
        acked = asyncio.run(_fire(srv.base_url, srv.key, urls))
        assert len(acked) == 120
        srv.stop(signal.SIGKILL)  # no shutdown hooks, no flush
        httpx.post(backend.base_url + "/admin/config", json={"latency_median_ms": 2, "latency_p99_ms": 5})
        srv = start_runtime(state, "--model-url", backend.base_url, *database)
        with srv.client() as api:
            seen = {e: api.get(f"/v1/executions/{e}").json() for e in acked}
            assert all("status" in body for body in seen.values()), "an acknowledged execution vanished"
            deadline = time.monotonic() + 60
            pending = set(acked)
            while pending and time.monotonic() < deadline:
                for e in list(pending):
                    body = api.get(f"/v1/executions/{e}").json()
                    if body["status"] in ("completed", "failed"):
                        seen[e] = body
                        pending.discard(e)
                time.sleep(0.2)
        assert not pending, f"{len(pending)} executions never finished after restart"
        failed = [b for b in seen.values() if b["status"] == "failed"]
        assert all(b.get("error") for b in failed), "failed without a reason"
        completed = [b for b in seen.values() if b["status"] == "completed"]
        assert len(completed) >= 60  # queued work resumed rather than being dropped
    finally:
        srv.stop()
        backend.stop()
