"""Generic async batcher: the guide's message batching (status 10/100 ms, metrics 100/1000 ms).

Items are appended to a list; the batch is handed to an async ``sink(list)`` when ``batch_size``
items are queued or ``max_wait`` has passed since the *first* item of the batch, whichever comes
first. ``close()`` flushes the rest.

Cost per item is kept minimal because the bus benchmark needs >= 100k messages/s in process:
``put_nowait`` is a list append plus a length check; there is no task and no future per item.
One ``loop.call_later`` timer is armed per *batch* (when its first item arrives) and cancelled
when the batch fills up first. ``await put()`` flushes inline when the batch is full, which
gives natural backpressure; ``put_nowait()`` hands full batches to a single background flusher
task (a deque of ready batches), so a burst of producers never piles up tasks or lock waiters.

Sink calls are serialized by a lock and an inline flush queues behind background flushes, so
batches reach the sink in the order they were formed.
A sink error is logged, counted and passed to ``on_error``; it never propagates into ``put``
(the producer is usually acknowledging a request and must stay fast).

``enabled=False`` is the "unbatched" baseline: every item goes to the sink on its own
(``sink([item])``), awaited in ``put``.

For deterministic tests, pass ``clock=`` and ``auto_timer=False`` and drive time flushes with
``await batcher.flush_if_due()``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import Counter, deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

log = logging.getLogger(__name__)
T = TypeVar("T")

Sink = Callable[[list[T]], Awaitable[None]]


@dataclass(frozen=True)
class BatchPolicy:
    batch_size: int
    max_wait_s: float

    def __post_init__(self) -> None:
        if self.batch_size < 1:
            raise ValueError("batch_size must be >= 1")
        if self.max_wait_s <= 0:
            raise ValueError("max_wait_s must be > 0")


# The guide's batching rules.
STATUS_UPDATES = BatchPolicy(batch_size=10, max_wait_s=0.1)
METRICS = BatchPolicy(batch_size=100, max_wait_s=1.0)


@dataclass
class BatchStats:
    batches: int = 0
    items: int = 0
    errors: int = 0
    size_histogram: Counter[int] = field(default_factory=Counter)  # batch size -> batches
    reasons: Counter[str] = field(default_factory=Counter)  # size | time | close | manual | unbatched

    @property
    def mean_batch_size(self) -> float:
        return self.items / self.batches if self.batches else 0.0

    def as_dict(self) -> dict[str, object]:
        return {
            "batches": self.batches,
            "items": self.items,
            "errors": self.errors,
            "mean_batch_size": round(self.mean_batch_size, 3),
            "size_histogram": {str(k): v for k, v in sorted(self.size_histogram.items())},
            "reasons": dict(self.reasons),
        }


class Batcher(Generic[T]):
    """Size-or-time batcher in front of an async sink. See the module docstring."""

    def __init__(
        self,
        sink: Sink[T],
        policy: BatchPolicy = STATUS_UPDATES,
        *,
        enabled: bool = True,
        name: str = "batch",
        on_flush: Callable[[int], None] | None = None,
        on_error: Callable[[list[T], BaseException], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
        auto_timer: bool = True,
    ) -> None:
        self.sink = sink
        self._policy = policy
        self.enabled = enabled
        self.name = name
        self.stats = BatchStats()
        self._on_flush = on_flush
        self._on_error = on_error
        self._clock = clock
        self._auto_timer = auto_timer
        self._buf: list[T] = []
        self._room = policy.batch_size - 1  # appends below this length never complete a batch
        self._first_at = 0.0
        self._timer: asyncio.TimerHandle | None = None
        self._lock = asyncio.Lock()
        self._ready: deque[tuple[list[T], str]] = deque()  # full/timed-out batches awaiting the flusher
        self._flusher: asyncio.Task[None] | None = None
        self._closed = False

    @property
    def policy(self) -> BatchPolicy:
        return self._policy

    @policy.setter
    def policy(self, policy: BatchPolicy) -> None:
        self._policy = policy
        self._room = policy.batch_size - 1

    @property
    def pending(self) -> int:
        """Items queued and not yet handed to the sink."""
        return len(self._buf)

    # -- producer side ---------------------------------------------------------------------------

    async def put(self, item: T) -> None:
        """Queue an item; when the batch is full, flush it before returning (backpressure)."""
        buf = self._buf
        if buf and len(buf) < self._room:  # fast path: batch open and not about to fill
            buf.append(item)
            return
        if not self.enabled:
            self._check_open()
            await self._deliver_in_order([item], "unbatched")
            return
        if self._append(item):
            await self._deliver_in_order(self._take(), "size")

    def put_nowait(self, item: T) -> None:
        """Queue an item without awaiting; a full batch is flushed by one background task."""
        buf = self._buf
        if buf and len(buf) < self._room:
            buf.append(item)
            return
        if not self.enabled:
            self._check_open()
            self._spawn([item], "unbatched")
            return
        if self._append(item):
            self._spawn(self._take(), "size")

    def _append(self, item: T) -> bool:
        """Append; returns True when the batch is now full."""
        buf = self._buf
        if not buf:
            self._check_open()
            self._first_at = self._clock()
            if self._auto_timer:
                self._timer = asyncio.get_running_loop().call_later(self.policy.max_wait_s, self._on_timer)
        buf.append(item)
        return len(buf) >= self.policy.batch_size

    def _take(self) -> list[T]:
        batch, self._buf = self._buf, []
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        return batch

    def _check_open(self) -> None:
        if self._closed:
            raise RuntimeError(f"batcher {self.name!r} is closed")

    # -- time-based flushing ---------------------------------------------------------------------

    def _on_timer(self) -> None:
        self._timer = None
        if self._buf:
            self._spawn(self._take(), "time")

    async def flush_if_due(self) -> int:
        """Flush when ``max_wait`` has passed since the first queued item (for injected clocks)."""
        if self._buf and self._clock() - self._first_at >= self.policy.max_wait_s:
            batch = self._take()
            await self._deliver_in_order(batch, "time")
            return len(batch)
        return 0

    async def flush(self) -> int:
        """Flush whatever is queued now; returns the number of items flushed."""
        batch = self._take()
        if batch:
            await self._deliver_in_order(batch, "manual")
        await self._drain_tasks()
        return len(batch)

    async def close(self) -> None:
        """Stop accepting items, flush the rest and wait for in-flight flushes."""
        if self._closed:
            return
        self._closed = True
        batch = self._take()
        if batch:
            await self._deliver_in_order(batch, "close")
        await self._drain_tasks()

    # -- delivery --------------------------------------------------------------------------------

    def _spawn(self, batch: list[T], reason: str) -> None:
        """Queue a ready batch for the single background flusher (started if idle)."""
        self._ready.append((batch, reason))
        if self._flusher is None:
            self._flusher = asyncio.get_running_loop().create_task(self._run_flusher())

    async def _run_flusher(self) -> None:
        try:
            while self._ready:
                batch, reason = self._ready.popleft()
                await self._deliver(batch, reason)
        finally:
            self._flusher = None

    async def _deliver_in_order(self, batch: list[T], reason: str) -> None:
        """Deliver now, unless background flushes are queued: then queue behind them."""
        if self._flusher is None:
            await self._deliver(batch, reason)
            return
        self._spawn(batch, reason)
        await self._drain_tasks()

    async def _drain_tasks(self) -> None:
        while self._flusher is not None:
            await asyncio.shield(self._flusher)

    async def _deliver(self, batch: list[T], reason: str) -> None:
        async with self._lock:
            try:
                await self.sink(batch)
            except Exception as exc:
                self._record_error(batch, exc)
                return
        self._record(len(batch), reason)

    def _record(self, size: int, reason: str) -> None:
        st = self.stats
        st.batches += 1
        st.items += size
        st.size_histogram[size] += 1
        st.reasons[reason] += 1
        if self._on_flush is not None:
            self._on_flush(size)

    def _record_error(self, batch: list[T], exc: BaseException) -> None:
        self.stats.errors += 1
        log.error("batcher %s: sink failed for %d item(s): %r", self.name, len(batch), exc)
        if self._on_error is not None:
            with contextlib.suppress(Exception):
                self._on_error(batch, exc)
