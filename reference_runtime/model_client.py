"""Client for the model service: one pooled ``httpx.AsyncClient``, timeouts, retries with
exponential backoff (max 3 attempts, tenacity) and a circuit breaker.

With ``pooling`` off every call opens (and closes) its own client, i.e. a new connection.
"""

from __future__ import annotations

import asyncio
import functools
import importlib.util
import ssl
import sys
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import httpx
import orjson
from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_attempt, wait_exponential

from .config import ModelClientSettings

T = TypeVar("T")

if importlib.util.find_spec("sniffio") is None:
    # httpcore runs ``import sniffio`` on every request; when it is absent each failed import
    # rescans sys.path (~15% of the runtime's CPU under load). A None entry makes the import
    # fail instantly, and httpcore then assumes asyncio, which is what we run.
    sys.modules.setdefault("sniffio", None)  # type: ignore[arg-type]
AroundHook = Callable[[Callable[[], Awaitable[Any]]], Awaitable[Any]]


class ModelError(Exception):
    """The model call failed after retries (or the breaker is open)."""


class ModelUnavailable(ModelError):
    """A transient failure (transport error, 5xx/429, injected fault, open breaker) that outlived
    the call's own retries: worth trying again later, unlike a 4xx rejection."""


class ModelServerError(ModelError):
    """5xx / 429 from the model service: worth a retry."""


class BreakerOpen(ModelUnavailable):
    pass


@dataclass(slots=True)
class ModelReply:
    text: str
    attempts: int
    seconds: float
    nbytes: int


class CircuitBreaker:
    """Opens on 5 consecutive failures or >= 40% failures over the last 20 attempts (min 10);
    after ``reset_s`` lets one trial call through (half-open)."""

    def __init__(
        self,
        failure_threshold: int = 5,
        reset_s: float = 5.0,
        window: int = 20,
        min_samples: int = 10,
        failure_ratio: float = 0.5,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.failure_threshold = failure_threshold
        self.reset_s = reset_s
        self.failure_ratio = failure_ratio
        self.min_samples = min_samples
        self._clock = clock
        self._outcomes: deque[bool] = deque(maxlen=window)
        self._consecutive = 0
        self.state = "closed"
        self.opened_at = 0.0
        self.times_opened = 0
        self._trial_in_flight = False
        self.on_change: Callable[[str], None] | None = None

    def _set(self, state: str) -> None:
        if state != self.state:
            self.state = state
            if self.on_change is not None:
                self.on_change(state)

    def allow(self) -> bool:
        if self.state == "closed":
            return True
        if self.state == "open" and self._clock() - self.opened_at >= self.reset_s:
            self._set("half_open")
            self._trial_in_flight = False
        if self.state == "half_open" and not self._trial_in_flight:
            self._trial_in_flight = True
            return True
        return False

    def record(self, ok: bool) -> None:
        if self.state == "half_open":
            self._trial_in_flight = False
            if ok:
                self._outcomes.clear()
                self._consecutive = 0
                self._set("closed")
            else:
                self._open()
            return
        self._outcomes.append(ok)
        self._consecutive = 0 if ok else self._consecutive + 1
        if self.state == "closed" and self._should_open():
            self._open()

    def _should_open(self) -> bool:
        if self._consecutive >= self.failure_threshold:
            return True
        n = len(self._outcomes)
        return n >= self.min_samples and self._outcomes.count(False) / n >= self.failure_ratio

    def _open(self) -> None:
        self.opened_at = self._clock()
        self.times_opened += 1
        self._outcomes.clear()
        self._consecutive = 0
        self._set("open")

    def retry_after_s(self) -> float:
        return max(0.0, self.reset_s - (self._clock() - self.opened_at)) if self.state == "open" else 0.0


@functools.cache
def _tls_context() -> ssl.SSLContext:
    return ssl.create_default_context()


class ModelClient:
    def __init__(self, base_url: str, settings: ModelClientSettings, pooling: bool = True) -> None:
        self.base_url = base_url.rstrip("/")
        self.settings = settings
        self.pooling = pooling
        self.breaker = CircuitBreaker(
            settings.breaker_failure_threshold,
            settings.breaker_reset_s,
            window=settings.breaker_window,
            min_samples=max(1, settings.breaker_window // 2),
            failure_ratio=settings.breaker_failure_ratio,
        )
        self.timeout = httpx.Timeout(settings.timeout_s, connect=settings.connect_timeout_s)
        self._client: httpx.AsyncClient | None = None
        # Callers wait here (cheap) rather than in httpcore's pool queue, whose bookkeeping is
        # O(waiters) per request and ate most of the CPU under load.
        self._slots = asyncio.Semaphore(settings.connections_per_service)
        self.around_attempt: AroundHook | None = None  # fault injection hook
        self.on_call: Callable[[float, bool, int], None] | None = None  # metrics hook
        self.calls = 0
        self.failures = 0
        self.retries = 0
        self.clients_opened = 0
        self.pool_waits = 0
        self.in_flight = 0
        self.peak_in_flight = 0  # tests: proves steps really ran concurrently
        self.last_error: str | None = None

    def _limits(self) -> httpx.Limits:
        n = self.settings.connections_per_service
        return httpx.Limits(max_connections=n, max_keepalive_connections=n, keepalive_expiry=300.0)

    def _new_client(self) -> httpx.AsyncClient:
        self.clients_opened += 1
        # One TLS context for every client: building it costs ~20-40 ms and is not part of the
        # per-connection overhead that the pooling switch is about.
        return httpx.AsyncClient(
            base_url=self.base_url, timeout=self.timeout, limits=self._limits(), verify=_tls_context()
        )

    async def start(self) -> None:
        if self.pooling and self._client is None:
            self._client = self._new_client()

    async def close(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    def pool_in_use(self) -> int:
        """Connections currently checked out of the pool (httpcore internals, best effort)."""
        pool = getattr(getattr(self._client, "_transport", None), "_pool", None)
        conns = getattr(pool, "connections", None) or []
        return sum(1 for c in conns if not c.is_idle()) if conns else 0

    def pool_idle(self) -> int:
        pool = getattr(getattr(self._client, "_transport", None), "_pool", None)
        conns = getattr(pool, "connections", None) or []
        return sum(1 for c in conns if c.is_idle()) if conns else 0

    async def complete(self, prompt: str, max_tokens: int = 256, kind: str = "think") -> ModelReply:
        if not self.breaker.allow():
            raise BreakerOpen(f"model backend circuit open (retry in {self.breaker.retry_after_s():.1f}s)")
        self.calls += 1
        start = time.perf_counter()
        payload = orjson.dumps(
            {
                "model": "simulated",
                "messages": [{"role": "user", "content": prompt}],
                "max_tokens": max_tokens,
                "metadata": {"kind": kind},
            }
        )
        attempts = 0
        try:
            async for attempt in AsyncRetrying(
                stop=stop_after_attempt(self.settings.max_attempts),
                wait=wait_exponential(
                    multiplier=self.settings.backoff_initial_s, max=self.settings.backoff_max_s
                ),
                retry=retry_if_exception_type((httpx.TransportError, ModelServerError, _InjectedRetryable)),
                reraise=True,
            ):
                with attempt:
                    attempts += 1
                    text, nbytes = await self._attempt(payload)
        except (httpx.HTTPError, ModelServerError, _InjectedRetryable, ModelError) as exc:
            self._finish(start, attempts, ok=False)
            self.last_error = f"{type(exc).__name__}: {exc}"[:300]
            transient = isinstance(exc, httpx.TransportError | ModelServerError | _InjectedRetryable)
            raise (ModelUnavailable if transient else ModelError)(self.last_error) from exc
        self._finish(start, attempts, ok=True)
        return ModelReply(text, attempts, time.perf_counter() - start, nbytes)

    async def complete_patiently(
        self, prompt: str, max_tokens: int, kind: str, wait_s: float = 30.0
    ) -> ModelReply:
        """``complete`` that keeps trying through transient failures (errors after retries, an
        open breaker) for up to ``wait_s`` instead of failing at once, so work acknowledged
        during a model fault completes once the backend recovers. A 4xx rejection is final."""
        deadline = time.monotonic() + wait_s
        while True:
            try:
                return await self.complete(prompt, max_tokens=max_tokens, kind=kind)
            except ModelUnavailable:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise
                pause = self.breaker.retry_after_s() or self.settings.backoff_max_s
                await asyncio.sleep(min(left, max(0.05, pause)))

    def _finish(self, start: float, attempts: int, ok: bool) -> None:
        retries = max(0, attempts - 1)
        self.retries += retries
        if not ok:
            self.failures += 1
        if self.on_call is not None:
            self.on_call(time.perf_counter() - start, not ok, retries)

    async def _attempt(self, payload: bytes) -> tuple[str, int]:
        try:
            if self.around_attempt is not None:
                result: tuple[str, int] = await self.around_attempt(lambda: self._post(payload))
            else:
                result = await self._post(payload)
        except (httpx.TransportError, ModelServerError) as exc:
            self.breaker.record(False)
            raise exc
        except ModelError:
            self.breaker.record(True)  # a 4xx means the service itself is up
            raise
        except Exception as exc:  # injected faults and anything unexpected count as failures
            self.breaker.record(False)
            raise _InjectedRetryable(str(exc)) from exc
        self.breaker.record(True)
        return result

    async def _post(self, payload: bytes) -> tuple[str, int]:
        headers = {"content-type": "application/json"}
        if self._slots.locked():
            self.pool_waits += 1  # all connections for this service busy
        self.in_flight += 1
        self.peak_in_flight = max(self.peak_in_flight, self.in_flight)
        try:
            return await self._post_slot(payload, headers)
        finally:
            self.in_flight -= 1

    async def _post_slot(self, payload: bytes, headers: dict[str, str]) -> tuple[str, int]:
        async with self._slots:
            if self._client is not None:
                resp = await self._client.post("/v1/chat/completions", content=payload, headers=headers)
            else:
                async with self._new_client() as client:
                    resp = await client.post("/v1/chat/completions", content=payload, headers=headers)
        if resp.status_code >= 500 or resp.status_code == 429:
            raise ModelServerError(f"model service answered {resp.status_code}")
        if resp.status_code >= 400:
            raise ModelError(f"model service rejected the request ({resp.status_code})")
        body = orjson.loads(resp.content)
        return str(body["choices"][0]["message"]["content"]), len(resp.content)


class _InjectedRetryable(ModelError):
    pass
