"""One test per optimization switch: flipping it changes what the runtime really does.

In-process ``Runtime`` (real SQLite, real model-backend process) so counters can be read
directly; the ``indexes`` switch is covered by the EXPLAIN QUERY PLAN test in test_store.py and
the profiles by test_profiles_start_and_report_switches below (real server processes).
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest

from reference_runtime.config import SWITCH_NAMES, load_settings
from reference_runtime.decisions import sample_commands
from reference_runtime.runtime import Runtime

from .helpers import Server, make_agent, make_project, start_runtime, wait_execution

T = TypeVar("T")


def _settings(tmp: Path, **switches: bool) -> Any:
    base = dict.fromkeys(SWITCH_NAMES, True)
    base.update(switches)
    return load_settings(
        None, {"state_dir": str(tmp), "switches": base, "archive": {"enabled": False}}, environ={}
    )


def _run(tmp: Path, backend: Server, body: Callable[[Runtime], Awaitable[T]], **switches: bool) -> T:
    async def main() -> T:
        rt = Runtime(_settings(tmp, **switches), backend.base_url)
        await rt.start()
        try:
            return await body(rt)
        finally:
            await rt.stop()

    return asyncio.run(main())


async def _bare_project(rt: Runtime, domain: str = "d") -> dict[str, Any]:
    """A project row without the background team creation (which would make model calls)."""
    now = time.time()
    project = {
        "id": str(uuid.uuid4()),
        "name": "switch test",
        "domain": domain,
        "status": "completed",
        "phase": "ready",
        "requirements": "{}",
        "metadata": "{}",
        "created_at": now,
        "updated_at": now,
    }
    await rt.services.repo.insert_project(project)
    return project


async def _create_team(rt: Runtime, domain: str, roles: list[str]) -> tuple[int, int, int]:
    project = await _bare_project(rt, domain)
    rt.services.model.peak_in_flight = 0
    report = await rt.creator.create(project, roles)
    return report.model_calls, rt.services.model.peak_in_flight, report.tokens_requested


def test_parallel_creation_runs_steps_concurrently(tmp_path: Path, backend: Server) -> None:
    roles = ["analyst", "researcher", "pm"]
    par = _run(
        tmp_path / "on", backend, lambda rt: _create_team(rt, "d-par", roles), caching=False, templates=False
    )
    seq = _run(
        tmp_path / "off",
        backend,
        lambda rt: _create_team(rt, "d-seq", roles),
        caching=False,
        templates=False,
        parallel_creation=False,
    )
    assert par[0] == seq[0] == 4 + 3 * 3  # same work...
    assert seq[1] == 1  # ...one call at a time
    assert par[1] >= 4  # ...or many at once


def test_templates_cut_model_calls_and_tokens(tmp_path: Path, backend: Server) -> None:
    roles = ["analyst", "researcher", "pm", "architect"]
    on = _run(tmp_path / "on", backend, lambda rt: _create_team(rt, "d-t1", roles), caching=False)
    off = _run(
        tmp_path / "off", backend, lambda rt: _create_team(rt, "d-t2", roles), caching=False, templates=False
    )
    assert on[0] == 4 + 1 * 4 and off[0] == 4 + 3 * 4
    assert on[2] < 0.6 * off[2]


async def _status_traffic(rt: Runtime) -> tuple[dict[str, Any], int, int]:
    row = await _bare_project(rt)
    agent = await rt.agents.add(row["id"], {"name": "a", "role": "analyst"})
    futures = []
    for i in range(40):
        _, fut = await rt.commands.submit(agent, f"*status {i}", {}, {}, 30.0, 3, True, 10)
        futures.append(fut)
    await asyncio.gather(*[f for f in futures if f is not None])
    await rt.services.status_batcher.flush()
    await asyncio.sleep(0.2)
    return (
        rt.services.status_batcher.stats.as_dict(),
        rt.services.store.stats.transactions,
        rt.services.store.stats.writes,
    )


def test_batching_groups_status_updates_and_db_writes(tmp_path: Path, backend: Server) -> None:
    on_stats, on_tx, on_writes = _run(tmp_path / "on", backend, _status_traffic)
    off_stats, off_tx, off_writes = _run(tmp_path / "off", backend, _status_traffic, batching=False)
    assert on_stats["mean_batch_size"] > 2  # status updates flushed in batches (<= 10)
    assert max(int(k) for k in on_stats["size_histogram"]) <= 10
    assert off_stats["mean_batch_size"] == 1 and off_stats["reasons"] == {"unbatched": off_stats["batches"]}
    assert off_tx == off_writes  # one transaction per write
    assert on_tx < on_writes / 2  # group commit


async def _repeat_command(rt: Runtime) -> tuple[int, dict[str, Any]]:
    row = await _bare_project(rt)
    a = await rt.agents.add(row["id"], {"name": "a", "role": "analyst"})
    b = await rt.agents.add(row["id"], {"name": "b", "role": "analyst"})
    before = rt.services.model.calls
    for agent in (a, a, a, b, b):
        _, fut = await rt.commands.submit(agent, "*research market size", {"q": 1}, {}, 30.0, 3, True, 10)
        assert fut is not None
        out = await fut
        assert out["status"] == "completed"
    layers = {k: v.hits for k, v in rt.services.cache.stats().layers.items()}
    return rt.services.model.calls - before, layers


def test_caching_serves_repeated_commands_without_model_calls(tmp_path: Path, backend: Server) -> None:
    calls_on, layers = _run(tmp_path / "on", backend, _repeat_command)
    calls_off, _ = _run(tmp_path / "off", backend, _repeat_command, caching=False)
    assert calls_off == 5
    assert calls_on == 1
    assert layers["l1"] >= 3  # agent a's own repeats (and b's second)
    assert layers["l2"] >= 1  # agent b found agent a's answer in the shared layer


async def _pool_traffic(rt: Runtime) -> dict[str, int]:
    row = await _bare_project(rt)
    a = await rt.agents.add(row["id"], {"name": "a", "role": "analyst"})
    b = await rt.agents.add(row["id"], {"name": "b", "role": "pm"})
    for i in range(10):
        await rt.handoffs.initiate(row["id"], a, b, f"item-{i}", {"n": i})
        _, fut = await rt.commands.submit(a, f"*research topic {i}", {}, {}, 30.0, 3, True, 10)
        assert fut is not None
        await fut
    return {
        "channels": rt.services.channels.opened,
        "model_clients": rt.services.model.clients_opened,
        "db_connections": rt.services.store.stats.connections_opened,
    }


def test_pooling_reuses_connections(tmp_path: Path, backend: Server) -> None:
    on = _run(tmp_path / "on", backend, _pool_traffic)
    off = _run(tmp_path / "off", backend, _pool_traffic, pooling=False)
    assert on["channels"] <= 2 and off["channels"] >= 10  # inter-agent channels
    assert on["model_clients"] == 1 and off["model_clients"] >= 10  # model-backend HTTP
    assert off["db_connections"] > 3 * on["db_connections"]  # database


async def _decide(rt: Runtime) -> dict[str, Any]:
    for request in sample_commands(200):
        rt.services.decisions.decide(request)
    return rt.services.decisions.counters.as_dict()


def test_precomputed_decisions_use_the_lookup_table(tmp_path: Path, backend: Server) -> None:
    on = _run(tmp_path / "on", backend, _decide)
    off = _run(tmp_path / "off", backend, _decide, precomputed_decisions=False)
    assert on["precomputed_hits"] > 150 and on["rules_examined"] < off["rules_examined"] / 4
    assert off["precomputed_hits"] == 0 and off["evaluations"] == 200


def test_early_termination_examines_fewer_rules(tmp_path: Path, backend: Server) -> None:
    on = _run(tmp_path / "on", backend, _decide, precomputed_decisions=False)
    off = _run(tmp_path / "off", backend, _decide, precomputed_decisions=False, early_termination=False)
    assert on["evaluations"] == off["evaluations"] == 200
    assert on["rules_examined"] < 0.8 * off["rules_examined"]
    assert set(off["exits"]) == {"full"}


@pytest.mark.parametrize("profile", ["baseline", "optimized"])
def test_profiles_start_and_report_switches(tmp_path: Path, backend: Server, profile: str) -> None:
    srv = start_runtime(tmp_path, "--config", profile, "--model-url", backend.base_url)
    try:
        health = httpx.get(srv.base_url + "/v1/health").json()
        expected = profile == "optimized"
        assert health["profile"] == profile
        assert set(health["switches"].values()) == {expected}
        with srv.client() as api:
            text = api.get("/v1/metrics/prometheus").text
            assert f'motherbox_switch_enabled{{switch="caching"}} {1.0 if expected else 0.0}' in text
            pid = str(make_project(api)["id"])
            aid = str(make_agent(api, pid)["id"])
            resp = api.post(
                f"/v1/projects/{pid}/agents/{aid}/execute", json={"command": "*research", "async": True}
            )
            assert wait_execution(api, resp.json()["executionId"])["status"] == "completed"
    finally:
        srv.stop()
