"""Metrics factory, rendering and measured per-agent accounting."""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass

import pytest
from prometheus_client import CollectorRegistry

from reference_runtime.observability import AgentAccounting, create_metrics, payload_bytes, render


@dataclass
class Layer:
    hits: int
    misses: int
    evictions: int
    bytes: int


def _text(registry: CollectorRegistry) -> str:
    body, ctype = render(registry)
    assert ctype.startswith("text/plain")
    return body.decode()


def _busy(seconds: float) -> None:
    end = time.thread_time() + seconds
    while time.thread_time() < end:
        pass


def test_required_metric_names_present_from_first_scrape():
    text = _text(create_metrics(CollectorRegistry()).registry)
    for name in [
        "motherbox_request_duration_seconds",
        'motherbox_queue_depth{agent="__total__"} 0.0',
        'motherbox_cache_hits_total{layer="l1"} 0.0',
        'motherbox_cache_misses_total{layer="l3"} 0.0',
        'motherbox_cache_bytes{layer="l2"} 0.0',
        "motherbox_db_query_seconds",
        "motherbox_db_slow_queries_total 0.0",
        'motherbox_pool_in_use{pool="db"}',
        'motherbox_pool_idle{pool="model"}',
        'motherbox_pool_waits_total{pool="inter_agent"} 0.0',
        "motherbox_batches_flushed_total",
        "motherbox_batch_size",
        "motherbox_model_calls_total",
        "motherbox_model_errors_total",
        "motherbox_model_retries_total",
        "motherbox_model_breaker_state",
        "motherbox_handoffs_initiated_total",
        "motherbox_handoffs_acked_total",
        "motherbox_handoffs_failed_total",
        "motherbox_handoffs_loops_broken_total",
        "motherbox_agent_cpu_seconds",
        "motherbox_agent_memory_bytes",
    ]:
        assert name in text, name


def test_two_apps_in_one_process_do_not_collide():
    a = create_metrics(CollectorRegistry())
    b = create_metrics(CollectorRegistry())
    a.model_calls.inc(3)
    assert "motherbox_model_calls_total 3.0" in _text(a.registry)
    assert "motherbox_model_calls_total 0.0" in _text(b.registry)


def test_hot_path_methods_update_series():
    m = create_metrics(CollectorRegistry())
    m.observe_request("GET", "/v1/agents/{id}", 200, 0.012)
    m.set_queue_depths({"a1": 3, "a2": 4})
    m.set_pool("db", in_use=2, idle=3)
    m.pool_wait("db")
    m.record_batch("status", 10)
    m.record_batch("status", 4)
    m.record_model_call(0.2, error=True, retries=2)
    m.set_breaker_state("open")
    m.handoffs_initiated.inc()
    m.handoff_loops_broken.inc()
    text = _text(m.registry)
    assert (
        'motherbox_request_duration_seconds_count{method="GET",route="/v1/agents/{id}",status="200"} 1.0'
        in text
    )
    assert 'motherbox_queue_depth{agent="__total__"} 7.0' in text
    assert 'motherbox_queue_depth{agent="a2"} 4.0' in text
    assert 'motherbox_pool_in_use{pool="db"} 2.0' in text
    assert 'motherbox_pool_waits_total{pool="db"} 1.0' in text
    assert 'motherbox_batches_flushed_total{kind="status"} 2.0' in text
    assert 'motherbox_batch_size_sum{kind="status"} 14.0' in text
    assert "motherbox_model_errors_total 1.0" in text
    assert "motherbox_model_retries_total 2.0" in text
    assert "motherbox_model_breaker_state 2.0" in text
    assert "motherbox_handoffs_loops_broken_total 1.0" in text


def test_slow_query_counted_and_logged(caplog):
    m = create_metrics(CollectorRegistry())
    with caplog.at_level(logging.WARNING, logger="reference_runtime.observability"):
        m.observe_db_query("SELECT id FROM agents WHERE x = 1", 0.02)
        m.observe_db_query("UPDATE   agents\n SET name = 'n'", 0.25)
    text = _text(m.registry)
    assert "motherbox_db_slow_queries_total 1.0" in text
    assert 'motherbox_db_query_seconds_count{kind="select"} 1.0' in text
    assert 'motherbox_db_query_seconds_count{kind="update"} 1.0' in text
    assert len(caplog.records) == 1
    assert "UPDATE agents SET name = 'n'" in caplog.records[0].getMessage()


def test_cache_stats_read_at_scrape_time():
    m = create_metrics(CollectorRegistry())
    layers = {"l1": Layer(8, 2, 1, 100), "l2": Layer(1, 1, 0, 50), "l3": Layer(0, 1, 0, 10)}
    m.bind_cache_stats(lambda: layers)
    text = _text(m.registry)
    assert 'motherbox_cache_hits_total{layer="l1"} 8.0' in text
    assert 'motherbox_cache_bytes{layer="l2"} 50.0' in text
    assert 'motherbox_cache_evictions_total{layer="l1"} 1.0' in text
    layers["l1"] = Layer(9, 2, 1, 120)
    assert 'motherbox_cache_hits_total{layer="l1"} 9.0' in _text(m.registry)


def test_agent_cpu_attributes_only_own_synchronous_stretches():
    acc = AgentAccounting()

    async def heavy() -> str:
        for _ in range(3):
            _busy(0.01)
            await asyncio.sleep(0)
        return "heavy"

    async def light() -> str:
        for _ in range(3):
            await asyncio.sleep(0)  # while suspended, heavy burns CPU: must not be charged here
        await asyncio.sleep(0.02)
        return "light"

    async def main() -> list[str]:
        return list(await asyncio.gather(acc.run("heavy", heavy()), acc.run("light", light())))

    assert asyncio.run(main()) == ["heavy", "light"]
    assert acc.cpu_seconds["heavy"] >= 0.025
    assert acc.cpu_seconds["light"] < acc.cpu_seconds["heavy"] / 5


def test_nested_accounting_is_exclusive_and_exceptions_propagate():
    acc = AgentAccounting()

    async def inner() -> None:
        _busy(0.02)
        await asyncio.sleep(0)
        raise KeyError("boom")

    async def outer() -> None:
        _busy(0.005)
        with pytest.raises(KeyError):
            await acc.run("inner", inner())
        with acc.cpu("sync"):
            _busy(0.005)

    asyncio.run(acc.run("outer", outer()))
    assert acc.cpu_seconds["inner"] >= 0.018
    assert acc.cpu_seconds["outer"] < acc.cpu_seconds["inner"] / 2
    assert acc.cpu_seconds["sync"] >= 0.004


def test_cancellation_reaches_the_handler():
    acc = AgentAccounting()
    seen: list[str] = []

    async def handler() -> None:
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            seen.append("cancelled")
            raise

    async def main() -> None:
        task = asyncio.ensure_future(acc.run("a", handler()))
        await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())
    assert seen == ["cancelled"]


def test_agent_memory_from_sources_in_metrics():
    m = create_metrics(CollectorRegistry())
    m.accounting.add_memory_source("cache", lambda: {"a1": 1000, "a2": 10})
    m.accounting.add_memory_source("mailbox", lambda: {"a1": 24})
    with m.accounting.cpu("a1"):
        _busy(0.002)
    text = _text(m.registry)
    assert 'motherbox_agent_memory_bytes{agent="a1"} 1024.0' in text
    assert 'motherbox_agent_memory_component_bytes{agent="a1",component="mailbox"} 24.0' in text
    assert 'motherbox_agent_cpu_seconds_total{agent="a1"}' in text


def test_payload_bytes():
    assert payload_bytes({"a": 1}) == len(b'{"a":1}')
    assert payload_bytes("é") == 2
    assert payload_bytes(b"xyz") == 3
