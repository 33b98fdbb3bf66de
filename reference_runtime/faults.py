"""Fault injection for the reference runtime.

The harness breaks the runtime on purpose to prove that profiling, verdicts and regression
detection notice. Every fault is off by default; a :class:`FaultInjector` holds the active set,
validated with pydantic, settable from config or ``POST /v1/admin/faults`` and reported in
``/v1/health``.

Where each hook goes (the runtime wires these):

* DB path: time the call, then ``await injector.add_db_latency(elapsed_s)``.
* Model path: ``await injector.around_model(call)`` – may raise :class:`InjectedModelError`
  (model error rate) and adds model latency.
* Request path: ``injector.on_request()`` once per handled request (memory leak, CPU hog, and
  the CPU-per-request regression with its always-on calibration, see :class:`CpuPerRequestMeter`).
* A named code path: ``async with injector.slowdown("name"):`` / ``with injector.slowdown_sync``
  or the ``@injector.slowed("name")`` decorator.
* Startup/shutdown: ``injector.start()`` inside the running loop, ``await injector.stop()``.

The functions that do the damage are module-level with unambiguous names
(:func:`leak_retain`, :func:`cpu_hog_burn`, :func:`slow_path_burn`, :func:`cpu_per_request_burn`,
:func:`stall_event_loop`) so
they appear as the top frames in py-spy / memray output. Each contains its own loop rather than
delegating to a shared helper, otherwise the helper would be the top frame.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import inspect
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping
from typing import Any, ParamSpec, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

T = TypeVar("T")
P = ParamSpec("P")

# Memory retained by the leak fault. Module level on purpose: memray attributes it to
# leak_retain, and clear() can drop it in one place.
_LEAKED: list[bytearray] = []


def leak_retain(nbytes: int) -> int:
    """Allocate ``nbytes`` and keep them forever (until :func:`release_leaked`).

    bytearray(n) memsets its buffer, so the pages are touched and RSS really grows.
    Returns the total bytes retained so far.
    """
    if nbytes > 0:
        _LEAKED.append(bytearray(nbytes))
    return leaked_bytes()


def leaked_bytes() -> int:
    """Bytes currently retained by :func:`leak_retain`."""
    return sum(len(block) for block in _LEAKED)


def release_leaked() -> int:
    """Drop everything :func:`leak_retain` kept; returns the bytes released."""
    released = leaked_bytes()
    _LEAKED.clear()
    return released


def cpu_hog_burn(ms: float = 0.0, iterations: int = 0) -> int:
    """Pure-Python CPU work on the calling thread: ``ms`` milliseconds of CPU and/or ``iterations`` steps."""
    acc = 0
    for i in range(iterations):
        acc = (acc * 31 + i) % 1_000_003
    if ms > 0:
        # CPU-time deadline: the hog costs ms of CPU even when the machine is busy.
        deadline = time.thread_time() + ms / 1000.0
        while time.thread_time() < deadline:
            for i in range(200):
                acc = (acc * 31 + i) % 1_000_003
    return acc


def slow_path_burn(seconds: float) -> int:
    """CPU burn used by the slow-down fault (separate name so profiles show which fault it is)."""
    acc = 0
    deadline = time.thread_time() + seconds  # CPU seconds, like cpu_hog_burn
    while time.thread_time() < deadline:
        for i in range(200):
            acc = (acc * 17 + i) % 1_000_003
    return acc


def cpu_per_request_burn(seconds: float) -> float:
    """CPU burn of the cpu_per_request fault: ``seconds`` of CPU on the calling thread.

    Returns the thread CPU actually used (the loop overshoots by one short inner step), so the
    caller can carry the difference forward and the long-run total is exact.
    """
    start = now = time.thread_time()
    deadline = start + seconds
    acc = 0
    while now < deadline:
        for i in range(25):
            acc = (acc * 13 + i) % 1_000_003
        now = time.thread_time()
    return now - start


def stall_event_loop(ms: float) -> None:
    """Block the whole event loop synchronously for ``ms`` milliseconds (time.sleep, not await).

    py-spy shows this frame only with ``--idle`` because the thread sleeps rather than computes.
    """
    time.sleep(ms / 1000.0)


class InjectedModelError(RuntimeError):
    """Raised by :meth:`FaultInjector.around_model` when the model error-rate fault fires."""


class FaultConfigError(ValueError):
    """Invalid fault settings; the message is meant for a 400 response body, ``field`` names the
    offending setting (dotted path, e.g. ``cpu_per_request.percent``) when known."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class CpuPerRequestMeter:
    """Calibrates the runtime's own CPU per API request: the base the cpu_per_request fault burns
    a percent of.

    Under asyncio many requests interleave on one thread and their work continues in other tasks
    (agent workers, batchers) and threads (DB), so no clock read around one handler measures one
    request. Instead: process CPU (``time.process_time``, every thread of this process) over a
    window of requests, minus the CPU this fault burned in it, divided by the window's requests,
    smoothed by an EWMA over windows. That is the same quantity as "runtime CPU / requests" seen
    from outside, so burning ``percent``% of it per request raises that by ``percent``%.
    Calibration runs whether or not the fault is on. While it is off a request costs one int
    increment (``requests += 1``) and :meth:`poll`, called by the injector's timer, reads the
    clocks once per tick; while it is on, :meth:`count_request` also polls per request.
    """

    WINDOW_S = 0.5
    WINDOW_MIN_REQUESTS = 10
    ALPHA = 0.3

    def __init__(
        self, cpu_clock: Callable[[], float] = time.process_time, wall: Callable[[], float] = time.monotonic
    ) -> None:
        self._cpu_clock = cpu_clock
        self._wall = wall
        self.base_s: float | None = None
        self.windows = 0
        self._started = False
        self.requests = 0
        self._burned_s = 0.0
        self._cpu0 = self._wall0 = 0.0

    def _open_window(self) -> None:
        self._started = True
        self.requests = 0
        self._burned_s = 0.0
        self._cpu0 = self._cpu_clock()
        self._wall0 = self._wall()

    def count_request(self) -> None:
        """Count one request and :meth:`poll`."""
        self.requests += 1
        self.poll()

    def poll(self) -> None:
        """Close the window when it is long enough. The first counted request only opens the
        first window, so start-up CPU is not charged to requests."""
        if not self._started:
            if self.requests:
                self._open_window()
            return
        if self.requests < self.WINDOW_MIN_REQUESTS or self._wall() - self._wall0 < self.WINDOW_S:
            return
        own = max(self._cpu_clock() - self._cpu0 - self._burned_s, 0.0) / self.requests
        self.base_s = own if self.base_s is None else self.base_s + self.ALPHA * (own - self.base_s)
        self.windows += 1
        self._open_window()

    def add_burned(self, seconds: float) -> None:
        self._burned_s += seconds


class LatencyFault(BaseModel):
    """Extra latency: a fixed amount plus a percentage of the call's own measured time."""

    model_config = ConfigDict(extra="forbid")
    fixed_ms: float = Field(default=0.0, ge=0.0, le=600_000.0)
    percent: float = Field(default=0.0, ge=0.0, le=10_000.0)

    @property
    def active(self) -> bool:
        return self.fixed_ms > 0 or self.percent > 0

    def delay_s(self, elapsed_s: float) -> float:
        return self.fixed_ms / 1000.0 + max(elapsed_s, 0.0) * self.percent / 100.0


class CpuHogFault(BaseModel):
    model_config = ConfigDict(extra="forbid")
    ms: float = Field(default=0.0, ge=0.0, le=60_000.0)
    iterations: int = Field(default=0, ge=0, le=1_000_000_000)

    @property
    def active(self) -> bool:
        return self.ms > 0 or self.iterations > 0


class CpuPerRequestFault(BaseModel):
    """Seeded CPU regression: every API request burns ``percent``% of the calibrated CPU per request."""

    model_config = ConfigDict(extra="forbid")
    percent: float = Field(gt=0.0, le=1000.0, strict=True)


class StallFault(BaseModel):
    model_config = ConfigDict(extra="forbid")
    ms: float = Field(default=0.0, ge=0.0, le=600_000.0)
    every_s: float = Field(default=1.0, gt=0.0, le=86_400.0)

    @property
    def active(self) -> bool:
        return self.ms > 0


class FaultSettings(BaseModel):
    """All faults; every default means "off"."""

    model_config = ConfigDict(extra="forbid")
    db_latency: LatencyFault = Field(default_factory=LatencyFault)
    model_latency: LatencyFault = Field(default_factory=LatencyFault)
    model_error_rate: float = Field(default=0.0, ge=0.0, le=1.0)
    slowdown: dict[str, float] = Field(default_factory=dict, description="code path -> extra percent")
    leak_bytes_per_request: int = Field(default=0, ge=0, le=1 << 30)
    cpu_hog: CpuHogFault = Field(default_factory=CpuHogFault)
    cpu_per_request: CpuPerRequestFault | None = None
    stall: StallFault = Field(default_factory=StallFault)

    def active_names(self) -> list[str]:
        names: list[str] = []
        if self.db_latency.active:
            names.append("db_latency")
        if self.model_latency.active:
            names.append("model_latency")
        if self.model_error_rate > 0:
            names.append("model_error_rate")
        names.extend(f"slowdown:{path}" for path, pct in sorted(self.slowdown.items()) if pct > 0)
        if self.leak_bytes_per_request > 0:
            names.append("memory_leak")
        if self.cpu_hog.active:
            names.append("cpu_hog")
        if self.cpu_per_request is not None:
            names.append("cpu_per_request")
        if self.stall.active:
            names.append("stall")
        return names


def parse_settings(data: Mapping[str, Any]) -> FaultSettings:
    """Validate a dict into settings; raise :class:`FaultConfigError` with a readable message."""
    try:
        settings = FaultSettings.model_validate(dict(data))
    except ValidationError as exc:
        errors = exc.errors()
        field = ".".join(str(p) for p in errors[0]["loc"]) if errors else None
        raise FaultConfigError(_describe(exc), field or None) from None
    for path, pct in settings.slowdown.items():
        if not path or pct < 0 or pct > 10_000:
            raise FaultConfigError(
                f"invalid faults: slowdown[{path!r}] must be a percent in [0, 10000]", "slowdown"
            )
    return settings


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000.0, 6)


def _describe(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err["loc"]) or "(root)"
        parts.append(f"{loc}: {err['msg']}")
    return "invalid faults: " + "; ".join(parts)


class FaultInjector:
    """Holds the active faults and applies them at the hooks described in the module docstring."""

    def __init__(
        self,
        settings: Mapping[str, Any] | FaultSettings | None = None,
        *,
        rng: random.Random | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._settings = FaultSettings()
        self._rng = rng or random.Random()
        self._sleep = sleep
        self._changed = asyncio.Event()
        self._stall_task: asyncio.Task[None] | None = None
        self.cpu_meter = CpuPerRequestMeter()
        self._calibration: asyncio.TimerHandle | None = None
        self._cpu_debt_s = 0.0
        self.counters: dict[str, float] = {}
        self._reset_counters()
        if settings is not None:
            self.configure(settings)

    # -- configuration -------------------------------------------------------------------------

    @property
    def settings(self) -> FaultSettings:
        return self._settings

    def configure(self, data: Mapping[str, Any] | FaultSettings) -> FaultSettings:
        """Replace the whole fault set (missing keys mean off)."""
        new = data if isinstance(data, FaultSettings) else parse_settings(data)
        self._settings = new
        self._changed.set()
        return new

    def update(self, data: Mapping[str, Any]) -> FaultSettings:
        """Merge ``data`` into the current settings (top-level keys replaced) and validate."""
        merged = self._settings.model_dump()
        merged.update(dict(data))
        return self.configure(merged)

    def clear(self) -> int:
        """Turn every fault off and free the leaked memory; returns bytes released."""
        self.configure(FaultSettings())
        self._cpu_debt_s = 0.0
        return release_leaked()

    def snapshot(self) -> dict[str, Any]:
        """State for ``/v1/health``: which faults are active, their settings and what they did."""
        active = self._settings.active_names()
        return {
            "enabled": bool(active),
            "active": active,
            "settings": self._settings.model_dump(),
            "counters": dict(self.counters),
            "leaked_bytes": leaked_bytes(),
            "cpu_per_request_base_ms": _ms(self.cpu_meter.base_s),
            "stall_task_running": self._stall_task is not None and not self._stall_task.done(),
        }

    def _reset_counters(self) -> None:
        self.counters = {
            "db_latency_added_s": 0.0,
            "model_latency_added_s": 0.0,
            "model_errors_injected": 0,
            "slowdown_burned_s": 0.0,
            "cpu_hog_calls": 0,
            "cpu_per_request_burns": 0,
            "cpu_per_request_burned_ms": 0.0,
            "leak_calls": 0,
            "stalls": 0,
        }

    # -- latency and errors --------------------------------------------------------------------

    async def add_db_latency(self, elapsed_s: float = 0.0) -> float:
        """Sleep the DB latency fault for a call that took ``elapsed_s``; returns the delay added."""
        return await self._add_latency(self._settings.db_latency, elapsed_s, "db_latency_added_s")

    async def add_model_latency(self, elapsed_s: float = 0.0) -> float:
        return await self._add_latency(self._settings.model_latency, elapsed_s, "model_latency_added_s")

    async def _add_latency(self, fault: LatencyFault, elapsed_s: float, counter: str) -> float:
        if not fault.active:
            return 0.0
        delay = fault.delay_s(elapsed_s)
        if delay > 0:
            self.counters[counter] += delay
            await self._sleep(delay)
        return delay

    def maybe_fail_model(self) -> None:
        """Raise :class:`InjectedModelError` with probability ``model_error_rate``."""
        rate = self._settings.model_error_rate
        if rate > 0 and self._rng.random() < rate:
            self.counters["model_errors_injected"] += 1
            raise InjectedModelError(f"injected model error (rate {rate:.2f})")

    async def around_model(self, call: Callable[[], Awaitable[T]]) -> T:
        """Maybe fail (error-rate fault), run the model call, then add the model latency fault."""
        self.maybe_fail_model()
        start = time.perf_counter()
        result = await call()
        await self.add_model_latency(time.perf_counter() - start)
        return result

    # -- request path: leak + CPU hog + CPU per request -----------------------------------------

    def on_request(self) -> None:
        """Per-request hook: retain the leak bytes, burn the CPU hog and the CPU-per-request
        regression, if active; always counts the request for the CPU-per-request calibration."""
        s = self._settings
        if s.leak_bytes_per_request > 0:
            leak_retain(s.leak_bytes_per_request)
            self.counters["leak_calls"] += 1
        if s.cpu_hog.active:
            cpu_hog_burn(s.cpu_hog.ms, s.cpu_hog.iterations)
            self.counters["cpu_hog_calls"] += 1
        if s.cpu_per_request is None:
            self.cpu_meter.requests += 1  # hot path while off: the calibration timer polls
        else:
            self.cpu_meter.count_request()
            self._burn_cpu_per_request(s.cpu_per_request.percent)

    def _burn_cpu_per_request(self, percent: float) -> None:
        """Burn ``percent``% of the calibrated CPU per request; the burn's own overshoot is
        carried as negative debt so the total burned is exactly percent% of the base."""
        base = self.cpu_meter.base_s
        if base is None:  # not calibrated yet (first window after start-up)
            return
        self._cpu_debt_s += base * percent / 100.0
        if self._cpu_debt_s <= 0:
            return
        used = cpu_per_request_burn(self._cpu_debt_s)
        self._cpu_debt_s -= used
        self.cpu_meter.add_burned(used)
        self.counters["cpu_per_request_burns"] += 1
        self.counters["cpu_per_request_burned_ms"] += used * 1000.0

    # -- slow-down of a named code path --------------------------------------------------------

    def slowdown_percent(self, path: str) -> float:
        return self._settings.slowdown.get(path, 0.0)

    def _burn_for(self, path: str, elapsed_s: float) -> None:
        pct = self.slowdown_percent(path)
        if pct > 0 and elapsed_s > 0:
            extra = elapsed_s * pct / 100.0
            slow_path_burn(extra)
            self.counters["slowdown_burned_s"] += extra

    @contextlib.asynccontextmanager
    async def slowdown(self, path: str) -> AsyncIterator[None]:
        """Burn N% extra CPU after the block, N% of the block's wall time (awaits included)."""
        start = time.perf_counter()
        try:
            yield
        finally:
            self._burn_for(path, time.perf_counter() - start)

    @contextlib.contextmanager
    def slowdown_sync(self, path: str) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            self._burn_for(path, time.perf_counter() - start)

    def slowed(self, path: str) -> Callable[[Callable[P, T]], Callable[P, T]]:
        """Decorator form of :meth:`slowdown` for sync or async functions."""

        def decorate(fn: Callable[P, T]) -> Callable[P, T]:
            if inspect.iscoroutinefunction(fn):

                @functools.wraps(fn)
                async def async_wrapper(*args: P.args, **kwargs: P.kwargs) -> Any:
                    async with self.slowdown(path):
                        return await fn(*args, **kwargs)  # type: ignore[misc]

                return async_wrapper  # type: ignore[return-value]

            @functools.wraps(fn)
            def sync_wrapper(*args: P.args, **kwargs: P.kwargs) -> T:
                with self.slowdown_sync(path):
                    return fn(*args, **kwargs)

            return sync_wrapper

        return decorate

    # -- stall background task -----------------------------------------------------------------

    def start(self) -> None:
        """Start the stall task (idle while the stall is off) and the CPU-per-request calibration
        timer (call inside the running loop)."""
        if self._stall_task is None or self._stall_task.done():
            self._changed = asyncio.Event()
            self._stall_task = asyncio.get_running_loop().create_task(self._stall_loop(), name="fault-stall")
        if self._calibration is None:
            self._calibrate()

    def _calibrate(self) -> None:
        self.cpu_meter.poll()
        loop = asyncio.get_running_loop()
        self._calibration = loop.call_later(self.cpu_meter.WINDOW_S, self._calibrate)

    async def stop(self) -> None:
        if self._calibration is not None:
            self._calibration.cancel()
            self._calibration = None
        task, self._stall_task = self._stall_task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _stall_loop(self) -> None:
        while True:
            stall = self._settings.stall
            self._changed.clear()
            if not stall.active:
                await self._changed.wait()
                continue
            try:
                # Wake early when the settings change so a new period applies at once.
                await asyncio.wait_for(self._changed.wait(), timeout=stall.every_s)
                continue
            except TimeoutError:
                pass
            if self._settings.stall.active:
                stall_event_loop(self._settings.stall.ms)
                self.counters["stalls"] += 1
