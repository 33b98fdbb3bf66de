"""Fault phases: commands at a steady rate while the model backend fails (``POST /v1/admin/faults``
``model_error_rate`` 1.0) and recovers. Per phase: what ``/v1/health`` said (polled every 0.5 s),
the p99 of the command acknowledgement (client-side, 202 answers; under 250 ms: an ack never
waits for the model, so a fault that reached the ack path would show as seconds, while this
Python client on a shared 2-core machine adds tens of ms), 429s (each must carry ``Retry-After``)
and 5xx. Afterwards every command acknowledged during the phases must finish:
completed, or failed with a reason (docs/runtime.md, "What happens to a command acknowledged
during a model fault").
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from bench.chaos.common import Row, runtime, settle
from tests.reference_runtime.helpers import Server, make_agent, make_project

PROBE = "model faults"
WHAT = "phases off / model errors 100% / off: health, ack p99, 429s"
EXPECT = "health degraded only in the fault; ack p99 < 250 ms; 429s with Retry-After; 0 5xx; all finish"
PHASES: tuple[tuple[str, float], ...] = (("off", 12.0), ("errors", 15.0), ("off", 12.0))
RATE = 20.0
ACK_P99_MS = 250.0  # acks never wait for the model: a stalled ack path would be seconds


@dataclass
class Phase:
    name: str
    acks_ms: list[float] = field(default_factory=list)
    health: set[str] = field(default_factory=set)
    too_many: int = 0
    without_retry_after: int = 0
    server_errors: int = 0
    acked: list[str] = field(default_factory=list)

    def p99(self) -> float:
        if not self.acks_ms:
            return float("nan")
        ordered = sorted(self.acks_ms)
        return ordered[max(0, int(0.99 * len(ordered) + 0.5) - 1)]

    def summary(self) -> str:
        health = "/".join(sorted(self.health)) or "?"
        return (
            f"{self.name}: {health}, p99 {self.p99():.0f} ms, {self.too_many}x429, {self.server_errors}x5xx"
        )


async def _command(client: httpx.AsyncClient, url: str, phase: Phase, i: int) -> None:
    t0 = time.perf_counter()
    try:
        resp = await client.post(url, json={"command": f"*analyse item {i}", "async": True})
    except httpx.HTTPError:
        phase.server_errors += 1  # no answer at all counts against the runtime too
        return
    if resp.status_code == 202:
        phase.acks_ms.append((time.perf_counter() - t0) * 1000)
        phase.acked.append(str(resp.json()["executionId"]))
    elif resp.status_code == 429:
        phase.too_many += 1
        phase.without_retry_after += "retry-after" not in resp.headers
    elif resp.status_code >= 500:
        phase.server_errors += 1


async def _health(client: httpx.AsyncClient, phase: Phase, until: float) -> None:
    while time.monotonic() < until:
        try:
            phase.health.add(str((await client.get("/v1/health")).json().get("status")))
        except (httpx.HTTPError, ValueError):
            phase.health.add("no answer")
        await asyncio.sleep(0.5)


async def _phases(srv: Server, urls: list[str]) -> list[Phase]:
    done: list[Phase] = []
    headers = {"X-API-Key": srv.key}
    limits = httpx.Limits(max_connections=64)
    async with httpx.AsyncClient(base_url=srv.base_url, headers=headers, timeout=10, limits=limits) as client:
        i = 0
        for name, seconds in PHASES:
            rate = 1.0 if name == "errors" else 0.0
            await client.post("/v1/admin/faults", json={"clear": True, "model_error_rate": rate})
            phase, until = Phase(name), time.monotonic() + seconds
            tasks = [asyncio.create_task(_health(client, phase, until))]
            while time.monotonic() < until:
                tasks.append(asyncio.create_task(_command(client, urls[i % len(urls)], phase, i)))
                i += 1
                await asyncio.sleep(1.0 / RATE)
            await asyncio.gather(*tasks)
            done.append(phase)
    return done


def _ok(phases: list[Phase], unfinished: int) -> bool:
    first, fault, last = phases
    return (
        first.health == {"healthy"}
        and "degraded" in fault.health
        and last.health <= {"healthy", "degraded"}
        and all(p.p99() < ACK_P99_MS for p in phases)
        and all(p.server_errors == 0 and p.without_retry_after == 0 for p in phases)
        and unfinished == 0
    )


def probe(tmp: Path) -> Row:
    started = time.monotonic()
    backend_args = ("--latency-median-ms", "20", "--latency-p99-ms", "60")
    with runtime(tmp / "faults", backend_args=backend_args) as srv:
        with srv.client() as api:
            pid = str(make_project(api)["id"])
            agents = [str(make_agent(api, pid, name=f"f{i}")["id"]) for i in range(4)]
        urls = [f"/v1/projects/{pid}/agents/{a}/execute" for a in agents]
        phases = asyncio.run(_phases(srv, urls))
        final = httpx.get(srv.base_url + "/v1/health", timeout=10).json().get("status")
        acked = [e for p in phases for e in p.acked]
        with srv.client() as api:
            completed, failed, unfinished, _ = settle(api, acked, timeout_s=60)
    phases[-1].health.add(str(final))
    count = " | ".join(p.summary() for p in phases)
    detail = f"health after: {final}; {len(acked)} acknowledged: {completed} completed, "
    detail += f"{failed} failed with a reason, {unfinished} unfinished in 60 s"
    ok = _ok(phases, unfinished) and final == "healthy"
    return Row(PROBE, WHAT, count, EXPECT, ok, detail, time.monotonic() - started)
