"""Fault injection through the real runtime, and reliability under model-backend faults."""

from __future__ import annotations

import asyncio
import statistics
import time
from pathlib import Path

import httpx
import pytest

from .helpers import Server, make_agent, make_project, start_runtime, wait_execution

pytestmark = pytest.mark.slow


def _p50_ms(api: httpx.Client, path: str, n: int = 15) -> float:
    samples = []
    for _ in range(n):
        t0 = time.perf_counter()
        assert api.get(path).status_code < 500
        samples.append((time.perf_counter() - t0) * 1000)
    return statistics.median(samples)


def test_faults_set_via_api_visible_in_health_and_metrics(faulty: httpx.Client, server: Server) -> None:
    body = {
        "cpu_hog": {"enabled": True, "ms": 1},
        "memory_leak": {"bytes_per_request": 4096},
        "model_latency_ms": 5,
        "db_latency_ms": 1,
        "model_error_rate": 0.01,
        "slowdown": {"path": "think", "percent": 10},
        "stall": {"ms": 5, "every_s": 30},
    }
    resp = faulty.post("/v1/admin/faults", json=body)
    assert resp.status_code == 200, resp.text
    expected = {
        "cpu_hog",
        "memory_leak",
        "model_latency",
        "db_latency",
        "model_error_rate",
        "slowdown:think",
        "stall",
    }
    assert set(resp.json()["active"]) == expected
    assert set(faulty.get("/v1/admin/faults").json()["active"]) == expected
    health = httpx.get(server.base_url + "/v1/health").json()
    assert set(health["faults"]["active"]) == expected
    assert health["components"]["faults"]["status"] == "degraded" and health["status"] == "degraded"
    text = faulty.get("/v1/metrics/prometheus").text
    assert 'motherbox_fault_active{fault="cpu_hog"} 1.0' in text
    faulty.get("/v1/projects?limit=1")  # a request on the faulty path: leaks 4 KiB
    cleared = faulty.delete("/v1/admin/faults").json()
    assert cleared["active"] == [] and cleared["released_bytes"] > 0
    assert httpx.get(server.base_url + "/v1/health").json()["components"]["faults"]["status"] == "ok"


def test_bad_fault_requests_are_400(faulty: httpx.Client) -> None:
    for body in ({"meteor": 1}, {"model_error_rate": 2}, {"cpu_hog": {"ms": -1}}, {"clear": "yes"}):
        resp = faulty.post("/v1/admin/faults", json=body)
        assert resp.status_code == 400, (body, resp.text)
        assert "invalid" in resp.json()["message"] or "clear" in resp.json()["message"]


def test_cpu_hog_and_leak_act_on_the_request_path(faulty: httpx.Client) -> None:
    base = _p50_ms(faulty, "/v1/projects?limit=1")
    faulty.post(
        "/v1/admin/faults", json={"cpu_hog": {"ms": 40}, "memory_leak": {"bytes_per_request": 100_000}}
    )
    slow = _p50_ms(faulty, "/v1/projects?limit=1")
    snap = faulty.get("/v1/admin/faults").json()
    assert slow > base + 25  # 40 ms of CPU burned per request
    assert snap["counters"]["cpu_hog_calls"] >= 15
    assert snap["leaked_bytes"] >= 15 * 100_000


def test_db_latency_shows_as_slow_queries(faulty: httpx.Client) -> None:
    def slow_queries() -> float:
        for line in faulty.get("/v1/metrics/prometheus").text.splitlines():
            if line.startswith("motherbox_db_slow_queries_total"):
                return float(line.split()[-1])
        raise AssertionError("metric missing")

    before = slow_queries()
    faulty.post("/v1/admin/faults", json={"db_latency_ms": 120})
    base = time.perf_counter()
    faulty.get("/v1/projects?limit=2")
    assert time.perf_counter() - base > 0.2  # list = two queries, each delayed
    assert slow_queries() >= before + 2


def test_slowdown_burns_cpu_in_the_named_path(faulty: httpx.Client) -> None:
    pid = str(make_project(faulty)["id"])
    aid = str(make_agent(faulty, pid)["id"])
    faulty.post("/v1/admin/faults", json={"slowdown": {"path": "think", "percent": 300}})
    resp = faulty.post(f"/v1/projects/{pid}/agents/{aid}/execute", json={"command": "*research slowdown x"})
    assert resp.json()["status"] == "success"
    assert faulty.get("/v1/admin/faults").json()["counters"]["slowdown_burned_s"] > 0


def test_stall_pauses_the_event_loop(faulty: httpx.Client) -> None:
    faulty.post("/v1/admin/faults", json={"stall": {"ms": 300, "every_s": 0.5}})
    worst = 0.0
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline:
        t0 = time.perf_counter()
        faulty.get("/v1/health")
        worst = max(worst, time.perf_counter() - t0)
    assert worst >= 0.15
    assert faulty.get("/v1/admin/faults").json()["counters"]["stalls"] >= 2


async def _flood(base_url: str, key: str, url: str, n: int) -> list[httpx.Response]:
    limits = httpx.Limits(max_connections=20)
    async with httpx.AsyncClient(
        base_url=base_url, headers={"X-API-Key": key}, timeout=30, limits=limits
    ) as c:
        return await asyncio.gather(
            *(c.post(url, json={"command": f"*research flood {i}", "async": True}) for i in range(n))
        )


def test_reliability_under_model_faults(tmp_path: Path, backend: Server) -> None:
    """Model failing 50% then stalling: breaker opens, acks/health stay fast, mailboxes stay
    bounded (429 + Retry-After), nothing acknowledged is lost, recovery is automatic."""
    srv = start_runtime(
        tmp_path,
        "--model-url",
        backend.base_url,
        "--no-caching",
        "--set",
        "agents.mailbox_capacity=40",
        "--set",
        "agents.concurrency=2",
        "--set",
        "model_client.breaker_reset_s=1",
    )
    try:
        with srv.client() as api:
            pid = str(make_project(api)["id"])
            aid = str(make_agent(api, pid)["id"])
            url = f"/v1/projects/{pid}/agents/{aid}/execute"
            api.post("/v1/admin/faults", json={"model_error_rate": 0.5})
            # 50% random failures open the breaker (>= 40% of 20 attempts, or 5 in a row); with a
            # fixed 20 calls chance sometimes left it closed, so call until it opens, bounded.
            opened = 0
            for i in range(80):
                api.post(url, json={"command": f"*research warmup {i}", "timeout": 5})
                if i % 10 == 9:
                    opened = api.get("/v1/admin/stats").json()["model"]["breaker_opened"]
                    if opened >= 1:
                        break
            assert opened >= 1
            api.post("/v1/admin/faults", json={"model_error_rate": 0, "model_latency_ms": 5000})  # stall
            t0 = time.perf_counter()
            sync = api.post(url, json={"command": "*research slow path", "timeout": 30})
            slow_s = time.perf_counter() - t0
            assert sync.status_code == 200 and slow_s >= 4.5
            resps = asyncio.run(_flood(srv.base_url, srv.key, url, 120))
            accepted = [r.json()["executionId"] for r in resps if r.status_code == 202]
            rejected = [r for r in resps if r.status_code in (429, 503)]
            assert accepted and rejected, [r.status_code for r in resps]
            assert all(r.headers.get("Retry-After") for r in rejected)
            assert len(accepted) <= 40 + 2  # mailbox capacity + the two being processed
            ack_ms = []
            health_ms = []
            for _ in range(10):
                t1 = time.perf_counter()
                httpx.get(srv.base_url + "/v1/health")
                health_ms.append((time.perf_counter() - t1) * 1000)
            for r in resps:
                assert r.status_code in (202, 429, 503)
            t2 = time.perf_counter()
            api.post(url, json={"command": "*status", "async": True})
            ack_ms.append((time.perf_counter() - t2) * 1000)
            assert max(health_ms) < 0.1 * slow_s * 1000 and max(ack_ms) < 0.1 * slow_s * 1000
            api.delete("/v1/admin/faults")  # the fault clears...
            for exec_id in accepted:  # ...and every acknowledged command completes on its own
                assert wait_execution(api, exec_id, timeout_s=90)["status"] == "completed"
            health = httpx.get(srv.base_url + "/v1/health").json()
            assert health["components"]["model_backend"]["breaker"] == "closed"
    finally:
        srv.stop()
