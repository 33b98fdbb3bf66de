"""Simulated model backend (law, errors, size) and the pooled client (retries, breaker, pooling)."""

from __future__ import annotations

import asyncio
import math
import time

import httpx
import pytest

from reference_runtime.config import ModelBackendSettings, ModelClientSettings
from reference_runtime.model_backend import burn_cpu, create_backend_app, lognormal_params
from reference_runtime.model_client import BreakerOpen, CircuitBreaker, ModelClient, ModelError

from .helpers import Server


def test_lognormal_parameters_hit_median_and_p99() -> None:
    mu, sigma = lognormal_params(40, 250)
    assert math.exp(mu) == pytest.approx(40)
    assert math.exp(mu + 2.3263478740408408 * sigma) == pytest.approx(250)


def test_burn_cpu_uses_cpu_not_sleep() -> None:
    t0, c0 = time.perf_counter(), time.process_time()
    burn_cpu(30)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    # Loose on purpose (shared, noisy machine): a sleep would use ~0 CPU.
    assert wall >= 0.03 and cpu >= 0.25 * 0.03


async def _call(app: object, body: dict[str, object]) -> httpx.Response:
    transport = httpx.ASGITransport(app=app)  # type: ignore[arg-type]
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        return await client.post("/v1/chat/completions", json=body)


def test_backend_error_rate_and_response_size() -> None:
    ok_app = create_backend_app(
        ModelBackendSettings(latency_median_ms=1, latency_p99_ms=2, response_bytes=1000, seed=1)
    )
    resp = asyncio.run(_call(ok_app, {"max_tokens": 256}))
    assert resp.status_code == 200
    assert len(resp.json()["choices"][0]["message"]["content"]) == 1000
    small = asyncio.run(_call(ok_app, {"max_tokens": 64})).json()["choices"][0]["message"]["content"]
    assert len(small) == 250  # fewer tokens, smaller answer
    bad_app = create_backend_app(ModelBackendSettings(latency_median_ms=1, latency_p99_ms=2, error_rate=1.0))
    assert asyncio.run(_call(bad_app, {})).status_code == 503


def test_latency_law_sampled() -> None:
    from reference_runtime.model_backend import BackendState

    state = BackendState(ModelBackendSettings(latency_median_ms=50, latency_p99_ms=200, seed=3))
    state.rng.seed(3)
    samples = sorted(state.latency_ms(256) for _ in range(4000))
    assert samples[2000] == pytest.approx(50, rel=0.15)
    assert samples[3960] == pytest.approx(200, rel=0.3)


class FakeClock:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


def test_breaker_opens_half_opens_and_closes() -> None:
    clock = FakeClock()
    br = CircuitBreaker(failure_threshold=3, reset_s=5, clock=clock)
    for _ in range(3):
        assert br.allow()
        br.record(False)
    assert br.state == "open" and not br.allow()
    clock.t = 5.1
    assert br.allow() and br.state == "half_open"
    assert not br.allow()  # only one trial in flight
    br.record(False)
    assert br.state == "open"
    clock.t = 10.5
    assert br.allow()
    br.record(True)
    assert br.state == "closed" and br.times_opened == 2


def test_breaker_opens_on_failure_ratio() -> None:
    br = CircuitBreaker(failure_threshold=100, window=20, min_samples=10, failure_ratio=0.5)
    for i in range(10):
        br.record(i % 2 == 0)  # 50% failures, never 5 in a row
    assert br.state == "open"


def _client(url: str, pooling: bool = True, **kw: object) -> ModelClient:
    settings = ModelClientSettings(backoff_initial_s=0.001, backoff_max_s=0.01, **kw)  # type: ignore[arg-type]
    return ModelClient(url, settings, pooling=pooling)


def _stats(backend: Server) -> dict[str, int]:
    data: dict[str, int] = httpx.get(backend.base_url + "/stats").json()
    return data


def test_client_retries_three_times_then_fails(backend: Server) -> None:
    httpx.post(backend.base_url + "/admin/config", json={"error_rate": 1.0})
    try:
        before = _stats(backend)["calls"]

        async def run() -> None:
            client = _client(backend.base_url, breaker_failure_threshold=100)
            await client.start()
            try:
                with pytest.raises(ModelError):
                    await client.complete("hi")
                assert client.retries == 2
            finally:
                await client.close()

        asyncio.run(run())
        assert _stats(backend)["calls"] - before == 3
    finally:
        httpx.post(backend.base_url + "/admin/config", json={"error_rate": 0.0})


def test_breaker_fails_fast_without_calling_backend(backend: Server) -> None:
    async def run() -> int:
        client = _client(
            "http://127.0.0.1:9", max_attempts=1, breaker_failure_threshold=2, breaker_reset_s=60
        )
        await client.start()
        try:
            for _ in range(2):
                with pytest.raises(ModelError):
                    await client.complete("x")
            with pytest.raises(BreakerOpen):
                await client.complete("x")
            return client.calls
        finally:
            await client.close()

    assert asyncio.run(run()) == 2  # the third call never left the process


@pytest.mark.parametrize("pooling", [True, False])
def test_pooling_switch_changes_connection_count(backend: Server, pooling: bool) -> None:
    httpx.post(backend.base_url + "/admin/reset")

    async def run() -> None:
        client = _client(backend.base_url, pooling=pooling)
        await client.start()
        try:
            for _ in range(20):
                await client.complete("x", max_tokens=16)
        finally:
            await client.close()

    asyncio.run(run())
    conns = _stats(backend)["connections"]
    if pooling:
        assert conns <= 2  # one kept-alive connection reused
    else:
        assert conns == 20  # a new connection per call
