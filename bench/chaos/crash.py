"""kill -9 of the runtime mid-load, three rounds on one state folder (the pattern of
``tests/reference_runtime/test_durability.py``, with its helpers): commands stream in, the
runtime is SIGKILLed while they do, restarted on the same state, and every execution it had
acknowledged (202 with an ``executionId``) is looked up. Afterwards every acknowledged execution
must finish (completed, or failed with a reason) within a bounded wait.
"""

from __future__ import annotations

import asyncio
import signal
import time
from pathlib import Path

import httpx

from bench.chaos.common import Row, settle
from tests.reference_runtime.helpers import Server, make_agent, make_project, start_backend, start_runtime

PROBE = "kill -9"
WHAT = "runtime SIGKILLed mid-load x3: acknowledged -> found after restart"
EXPECT = "0 lost"
ROUNDS = 3
FIRE_S = 4.0  # commands streaming in for this long; the kill lands in the middle
RATE = 60.0  # commands per second


async def _stream(srv: Server, urls: list[str], kill_at: float) -> list[str]:
    """POST commands at ``RATE`` for ``FIRE_S``; SIGKILL the runtime ``kill_at`` seconds in. The
    ids of the 202 answers (what the runtime acknowledged before it died)."""
    acked: list[str] = []
    limits = httpx.Limits(max_connections=64)

    async def one(client: httpx.AsyncClient, i: int) -> None:
        body = {"command": f"*research item {i}", "async": True}
        try:
            resp = await client.post(urls[i % len(urls)], json=body)
        except httpx.HTTPError:
            return  # in flight when the runtime died: not acknowledged
        if resp.status_code == 202:
            acked.append(str(resp.json()["executionId"]))

    async with httpx.AsyncClient(
        base_url=srv.base_url, headers={"X-API-Key": srv.key}, timeout=10, limits=limits
    ) as client:
        tasks, t0, i = [], time.monotonic(), 0
        while (elapsed := time.monotonic() - t0) < FIRE_S:
            if elapsed >= kill_at and srv.proc.poll() is None:
                srv.proc.send_signal(signal.SIGKILL)  # no shutdown hooks, no flush
            tasks.append(asyncio.create_task(one(client, i)))
            i += 1
            await asyncio.sleep(1.0 / RATE)
        await asyncio.gather(*tasks)
    return acked


def _found(api: httpx.Client, ids: list[str]) -> dict[str, str]:
    """Each acknowledged id the restarted runtime knows: its status."""
    found = {}
    for e in ids:
        resp = api.get(f"/v1/executions/{e}")
        if resp.status_code == 200 and "status" in resp.json():
            found[e] = str(resp.json()["status"])
    return found


def probe(tmp: Path) -> Row:
    started = time.monotonic()
    backend = start_backend(tmp / "crash-be", "--latency-median-ms", "100", "--latency-p99-ms", "300")
    state = tmp / "crash-state"
    srv = start_runtime(state, "--model-url", backend.base_url)
    acked: list[str] = []
    lost: list[str] = []
    try:
        with srv.client() as api:
            pid = str(make_project(api)["id"])
            agents = [str(make_agent(api, pid, name=f"k{i}")["id"]) for i in range(4)]
        urls = [f"/v1/projects/{pid}/agents/{a}/execute" for a in agents]
        for _ in range(ROUNDS):
            round_acked = asyncio.run(_stream(srv, urls, kill_at=FIRE_S / 2))
            srv.proc.wait(timeout=10)
            srv = start_runtime(state, "--model-url", backend.base_url)
            with srv.client() as api:
                found = _found(api, round_acked)
            acked += round_acked
            lost += [e for e in round_acked if e not in found]
        with srv.client() as api:
            completed, failed, other, reason = settle(api, acked, timeout_s=60)
    finally:
        srv.stop()
        backend.stop()
    count = f"{len(acked)} acknowledged, {len(acked) - len(lost)} found, {len(lost)} lost"
    detail = (
        f"after restart: {completed} completed, {failed} failed with a reason, {other} unfinished in 60 s"
    )
    if reason:
        detail += f" (e.g. {reason!r})"
    ok = bool(acked) and not lost and other == 0
    return Row(PROBE, WHAT, count, EXPECT + ", all finish", ok, detail, time.monotonic() - started)
