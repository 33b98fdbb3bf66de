"""One bounded, ordered mailbox per agent: P1 first, FIFO within a priority.

Capacity counts queued items plus *reserved* slots: the ack path reserves a slot before it
awaits the database write, so a full mailbox is detected before anything is persisted and a
reserved slot can never overflow afterwards.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Iterable
from typing import Generic, TypeVar

T = TypeVar("T")
PRIORITIES = (1, 2, 3, 4)


class MailboxFull(Exception):
    """No room; the caller answers 429/503 with Retry-After."""


class Mailbox(Generic[T]):
    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._queues: tuple[deque[T], ...] = tuple(deque() for _ in PRIORITIES)
        self._size = 0
        self._reserved = 0
        self._getters: deque[asyncio.Future[None]] = deque()
        self.bytes_held = 0  # accounted by the caller (observability: memory per agent)
        self.closed = False
        self.last_taken = time.monotonic()  # health: a full mailbox nobody takes from is stuck

    def __len__(self) -> int:
        return self._size

    @property
    def reserved(self) -> int:
        return self._reserved

    @property
    def occupied(self) -> int:
        """Queued items plus reserved slots: what counts against the capacity."""
        return self._size + self._reserved

    @property
    def free(self) -> int:
        return self.capacity - self._size - self._reserved

    def full(self) -> bool:
        return self.free <= 0

    def reserve(self) -> None:
        if self.free <= 0:
            raise MailboxFull
        self._reserved += 1

    def release(self) -> None:
        self._reserved = max(0, self._reserved - 1)

    def put_reserved(self, item: T, priority: int = 3) -> None:
        self._reserved = max(0, self._reserved - 1)
        self._append(item, priority)

    def put_nowait(self, item: T, priority: int = 3) -> None:
        if self.free <= 0:
            raise MailboxFull
        self._append(item, priority)

    def put_many(self, items: Iterable[tuple[T, int]]) -> int:
        """Batched delivery: one wake-up for the whole batch. Returns how many fit."""
        batch = items if isinstance(items, list) else list(items)
        room = max(0, self.free)
        taken = batch[:room] if len(batch) > room else batch
        queues = self._queues
        for item, priority in taken:
            queues[(priority - 1) if 1 <= priority <= 4 else _slot(priority)].append(item)
        n = len(taken)
        self._size += n
        if n:
            self._wake()
        return n

    def force_put(self, item: T, priority: int = 3) -> None:
        """Recovery after a restart: acknowledged work must be re-queued even over capacity."""
        self._append(item, priority)

    def _append(self, item: T, priority: int) -> None:
        self._queues[_slot(priority)].append(item)
        self._size += 1
        self._wake()

    def _wake(self) -> None:
        while self._getters:
            fut = self._getters.popleft()
            if not fut.done():
                fut.set_result(None)
                break

    def get_nowait(self) -> T:
        for q in self._queues:
            if q:
                self._size -= 1
                self.last_taken = time.monotonic()
                return q.popleft()
        raise IndexError("mailbox empty")

    async def get(self) -> T:
        while self._size == 0:
            fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._getters.append(fut)
            try:
                await fut
            except asyncio.CancelledError:
                if fut in self._getters:
                    self._getters.remove(fut)
                raise
        return self.get_nowait()


def _slot(priority: int) -> int:
    return min(max(priority, 1), 4) - 1
