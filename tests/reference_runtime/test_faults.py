"""Fault injector: each fault turns on/off, is reported, and really does its damage."""

from __future__ import annotations

import asyncio
import random
import time

import pytest

from reference_runtime import faults
from reference_runtime.faults import (
    FaultConfigError,
    FaultInjector,
    InjectedModelError,
    cpu_hog_burn,
    leak_retain,
    leaked_bytes,
)


class FakeSleep:
    def __init__(self) -> None:
        self.calls: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)


@pytest.fixture(autouse=True)
def _no_leak_between_tests():
    faults.release_leaked()
    yield
    faults.release_leaked()


def test_all_off_by_default():
    inj = FaultInjector()
    snap = inj.snapshot()
    assert snap["enabled"] is False
    assert snap["active"] == []
    assert snap["leaked_bytes"] == 0


def test_configure_reports_and_clear_turns_off():
    inj = FaultInjector()
    inj.configure({"model_error_rate": 0.5, "db_latency": {"fixed_ms": 20}, "stall": {"ms": 5, "every_s": 2}})
    snap = inj.snapshot()
    assert snap["enabled"] is True
    assert set(snap["active"]) == {"model_error_rate", "db_latency", "stall"}
    assert snap["settings"]["db_latency"]["fixed_ms"] == 20
    inj.clear()
    assert inj.snapshot()["active"] == []


def test_update_merges_configure_replaces():
    inj = FaultInjector({"model_error_rate": 0.2})
    inj.update({"leak_bytes_per_request": 10})
    assert set(inj.snapshot()["active"]) == {"model_error_rate", "memory_leak"}
    inj.configure({"leak_bytes_per_request": 10})
    assert inj.snapshot()["active"] == ["memory_leak"]


@pytest.mark.parametrize(
    ("data", "needle"),
    [
        ({"model_error_rate": 1.5}, "model_error_rate"),
        ({"no_such_fault": 1}, "no_such_fault"),
        ({"db_latency": {"fixed_ms": -1}}, "db_latency.fixed_ms"),
        ({"stall": {"ms": 10, "every_s": 0}}, "stall.every_s"),
        ({"cpu_hog": "lots"}, "cpu_hog"),
    ],
)
def test_bad_input_is_a_clear_value_error(data, needle):
    inj = FaultInjector()
    with pytest.raises(ValueError) as info:
        inj.configure(data)
    assert isinstance(info.value, FaultConfigError)
    assert needle in str(info.value)
    assert str(info.value).startswith("invalid faults:")
    assert inj.snapshot()["active"] == []  # a bad request changes nothing


def test_db_latency_fixed_and_percent():
    sleep = FakeSleep()
    inj = FaultInjector({"db_latency": {"fixed_ms": 10, "percent": 50}}, sleep=sleep)
    added = asyncio.run(inj.add_db_latency(0.2))
    assert added == pytest.approx(0.01 + 0.1)
    assert sleep.calls == [pytest.approx(0.11)]
    inj.clear()
    assert asyncio.run(inj.add_db_latency(0.2)) == 0.0
    assert len(sleep.calls) == 1


def test_around_model_errors_at_configured_rate_and_adds_latency():
    sleep = FakeSleep()
    inj = FaultInjector(
        {"model_error_rate": 0.5, "model_latency": {"fixed_ms": 5}}, rng=random.Random(7), sleep=sleep
    )

    async def call() -> str:
        return "ok"

    async def many() -> tuple[int, int]:
        ok = err = 0
        for _ in range(400):
            try:
                await inj.around_model(call)
                ok += 1
            except InjectedModelError:
                err += 1
        return ok, err

    ok, err = asyncio.run(many())
    assert 120 < err < 280
    assert len(sleep.calls) == ok
    assert inj.counters["model_errors_injected"] == err
    inj.clear()
    assert asyncio.run(inj.around_model(call)) == "ok"


def test_leak_grows_and_clear_frees():
    inj = FaultInjector({"leak_bytes_per_request": 4096})
    for _ in range(10):
        inj.on_request()
    assert leaked_bytes() == 40960
    assert inj.snapshot()["leaked_bytes"] == 40960
    assert inj.clear() == 40960
    assert leaked_bytes() == 0
    inj.on_request()  # off after clear
    assert leaked_bytes() == 0


def test_leak_retain_is_module_level():
    assert leak_retain(100) == 100
    assert faults.release_leaked() == 100


def test_cpu_hog_burns_cpu_on_request_path():
    inj = FaultInjector()
    t0 = time.thread_time()
    inj.on_request()
    idle = time.thread_time() - t0
    inj.configure({"cpu_hog": {"ms": 30}})
    t0 = time.thread_time()
    inj.on_request()
    hog = time.thread_time() - t0
    assert hog >= 0.029  # 30 ms of CPU, whatever else the machine is doing
    assert hog > idle * 5
    assert inj.counters["cpu_hog_calls"] == 1
    assert cpu_hog_burn(iterations=1000) == cpu_hog_burn(iterations=1000)


def _busy(seconds: float) -> None:
    """Burn ``seconds`` of CPU (CPU clock, so a busy machine does not change the amount)."""
    end = time.thread_time() + seconds
    while time.thread_time() < end:
        pass


def test_slowdown_adds_percent_of_block_time():
    inj = FaultInjector({"slowdown": {"decide": 100}})

    @inj.slowed("decide")
    def work() -> int:
        _busy(0.02)
        return 3

    @inj.slowed("other")
    def other() -> int:
        _busy(0.02)
        return 4

    t0 = time.thread_time()
    assert work() == 3
    slowed = time.thread_time() - t0
    t0 = time.thread_time()
    assert other() == 4
    plain = time.thread_time() - t0
    assert slowed >= 0.039  # the block's 20 ms + 100% of its (>= 20 ms) wall time
    assert slowed > plain * 1.5
    assert inj.counters["slowdown_burned_s"] >= 0.02


def test_async_slowdown_context_and_decorator():
    inj = FaultInjector({"slowdown": {"p": 50}})

    @inj.slowed("p")
    async def handler() -> str:
        _busy(0.01)
        return "done"

    async def main() -> str:
        async with inj.slowdown("p"):
            _busy(0.01)
        return await handler()

    assert asyncio.run(main()) == "done"
    assert inj.counters["slowdown_burned_s"] >= 0.009
    assert "slowdown:p" in inj.snapshot()["active"]


def test_stall_task_pauses_loop_and_stops_when_cleared():
    inj = FaultInjector()

    async def main() -> tuple[int, float, int]:
        inj.start()
        await asyncio.sleep(0.05)
        assert inj.counters["stalls"] == 0  # idle while off
        inj.configure({"stall": {"ms": 30, "every_s": 0.02}})
        # A ticker measures the biggest gap between its own wake-ups: a stall shows as a gap.
        worst = 0.0
        last = time.perf_counter()
        for _ in range(20):
            await asyncio.sleep(0.005)
            now = time.perf_counter()
            worst = max(worst, now - last)
            last = now
        stalls = int(inj.counters["stalls"])
        inj.clear()
        await asyncio.sleep(0.1)
        after = int(inj.counters["stalls"])
        assert inj.snapshot()["stall_task_running"]
        await inj.stop()
        return stalls, worst, after

    stalls, worst, after = asyncio.run(main())
    assert stalls >= 1
    assert worst >= 0.025
    assert after - stalls <= 1
    assert not inj.snapshot()["stall_task_running"]


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_cpu_per_request_meter_is_process_cpu_per_request_minus_its_own_burn():
    cpu, wall = FakeClock(), FakeClock()
    meter = faults.CpuPerRequestMeter(cpu, wall)
    cpu.now = 50.0  # start-up CPU before the first request is not charged to requests
    meter.count_request()
    assert meter.base_s is None
    for _ in range(20):
        cpu.now += 0.004 + 0.002  # 4 ms of request work + 2 ms this fault burned
        meter.add_burned(0.002)
        wall.now += 0.06
        meter.count_request()
    assert meter.windows == 2
    assert meter.base_s == pytest.approx(0.004)


def test_cpu_per_request_burns_percent_of_the_calibrated_base():
    inj = FaultInjector({"cpu_per_request": {"percent": 50}})
    assert inj.snapshot()["active"] == ["cpu_per_request"]
    inj.cpu_meter.base_s = 0.004
    inj.cpu_meter.count_request = lambda: None  # type: ignore[method-assign]  # freeze calibration
    t0 = time.thread_time()
    for _ in range(100):
        inj.on_request()
    spent = time.thread_time() - t0
    counters = inj.snapshot()["counters"]
    assert counters["cpu_per_request_burns"] >= 90  # a burn's overshoot can pay for the next one
    # Overshoot is carried forward, so the total is exact to one short inner step.
    assert counters["cpu_per_request_burned_ms"] == pytest.approx(100 * 2.0, abs=0.5)
    assert spent >= 0.199
    inj.clear()
    assert inj.snapshot()["active"] == []


@pytest.mark.parametrize(
    "value",
    [{"percent": 0}, {"percent": -5}, {"percent": 1001}, {"percent": "5"}, {"percent": True}, {}, 5],
)
def test_cpu_per_request_rejects_bad_percent(value):
    with pytest.raises(FaultConfigError) as info:
        FaultInjector().configure({"cpu_per_request": value})
    assert info.value.field is not None and info.value.field.startswith("cpu_per_request")


def test_cpu_per_request_calibrates_while_off_by_counting_only():
    cpu, wall = FakeClock(), FakeClock()
    inj = FaultInjector()
    inj.cpu_meter = faults.CpuPerRequestMeter(cpu, wall)
    inj.on_request()
    inj.cpu_meter.poll()  # what the calibration timer does: the first poll opens the window
    for _ in range(10):
        cpu.now += 0.003
        wall.now += 0.06
        inj.on_request()  # fault off: counted, no clock read
    assert inj.cpu_meter.base_s is None
    inj.cpu_meter.poll()
    assert inj.cpu_meter.base_s == pytest.approx(0.003)


def test_calibration_timer_runs_between_start_and_stop():
    async def main() -> int:
        inj = FaultInjector()
        polls = 0

        def poll() -> None:
            nonlocal polls
            polls += 1

        inj.cpu_meter.poll = poll  # type: ignore[method-assign]
        inj.cpu_meter.WINDOW_S = 0.01
        inj.start()
        await asyncio.sleep(0.05)
        await inj.stop()
        seen = polls
        await asyncio.sleep(0.03)
        assert polls == seen
        return seen

    assert asyncio.run(main()) >= 2
