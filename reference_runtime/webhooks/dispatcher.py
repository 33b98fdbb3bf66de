"""Delivery: one lane per (subscription, project) — one request in flight per lane, rows in id
order — signed JSON POSTs, retried with exponential backoff (tenacity), then kept as dead.

At least once: a row is deleted only after its receiver answered 2xx, so a crash between the
answer and the delete sends it again (same ``X-MotherBox-Event-Id``). On start every pending row
is picked up again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass, field

import httpx
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception_type,
    stop_after_attempt,
    wait_exponential,
)

from .. import __version__
from ..config import WebhookSettings
from ..observability import WebhookMetrics
from .outbox import Outbox, OutboxRow, Subscription
from .policy import ATTEMPT_HEADER, EVENT_HEADER, EVENT_ID_HEADER, SIGNATURE_HEADER, signature

log = logging.getLogger(__name__)
#: Rows read per look at the outbox, and lanes delivering at once.
READ_LIMIT = 1000
MAX_LANES = 32
#: Shortest gap between two looks at the outbox (commit wake-ups come in bursts under load).
MIN_LOOK_GAP_S = 0.1
#: The in-memory counts are checked against the table at least this often while rows wait.
RECOUNT_EVERY_S = 10.0


class DeliveryError(Exception):
    """One failed attempt: a transport error or a non-2xx answer."""


@dataclass
class SubscriptionCounters:
    delivered: int = 0
    failed: int = 0
    retries: int = 0
    last_error: str | None = None
    last_error_at: float | None = None


@dataclass
class Dispatcher:
    outbox: Outbox
    settings: WebhookSettings
    metrics: WebhookMetrics
    #: ``--workers N``: other processes write rows too, so every poll looks and recounts.
    shared: bool = False
    counters: dict[str, SubscriptionCounters] = field(default_factory=dict)
    _wake: asyncio.Event = field(default_factory=asyncio.Event)
    _lanes: dict[tuple[str, str], asyncio.Task[None]] = field(default_factory=dict)
    #: Highest row id finished per lane: a read that raced a lane's last delete skips it.
    _finished: dict[tuple[str, str], int] = field(default_factory=dict)
    _max_seen_id: int = 0
    _recounted: float = 0.0
    _client: httpx.AsyncClient | None = None

    def wake(self) -> None:
        self._wake.set()

    def counters_of(self, sub_id: str) -> SubscriptionCounters:
        return self.counters.setdefault(sub_id, SubscriptionCounters())

    async def run(self) -> None:
        """Look at the outbox when woken (a commit with new rows, a lane done) or every poll."""
        timeout = httpx.Timeout(self.settings.timeout_s)
        async with httpx.AsyncClient(timeout=timeout, follow_redirects=False, trust_env=False) as client:
            self._client = client
            try:
                while True:
                    woken = await self._wait()
                    if self.outbox.pending or woken or self.shared:
                        await self._look(woken)
                    await asyncio.sleep(MIN_LOOK_GAP_S)
            finally:
                await self._cancel_lanes()

    async def _wait(self) -> bool:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), self.settings.poll_interval_s)
        woken = self._wake.is_set()
        self._wake.clear()
        return woken

    async def _look(self, woken: bool) -> None:
        try:
            rows = await self.outbox.pending_rows(READ_LIMIT)
            self._note_seen(rows, woken)
            if self.shared or time.monotonic() - self._recounted > RECOUNT_EVERY_S:
                await self.outbox.recount()  # rows of other processes, writes that failed
                self._recounted = time.monotonic()
        except Exception as exc:  # the database may be down: try again at the next poll
            log.warning("webhook outbox read failed: %s: %s", type(exc).__name__, exc)
            return
        self._start_lanes(rows)

    def _note_seen(self, rows: list[OutboxRow], woken: bool) -> None:
        """Rows made but not yet seen, less those just seen. A whole poll without a commit to
        wake us means none is on its way (a write that failed), so nothing is unseen."""
        new = sum(1 for r in rows if r.id > self._max_seen_id)
        self._max_seen_id = max([self._max_seen_id, *(r.id for r in rows)])
        if not woken or len(rows) >= READ_LIMIT:
            self.outbox.unseen = 0
        else:
            self.outbox.unseen = max(0, self.outbox.unseen - new)

    def _start_lanes(self, rows: list[OutboxRow]) -> None:
        by_lane: dict[tuple[str, str], list[OutboxRow]] = {}
        for row in rows:
            if row.id > self._finished.get(row.lane, 0):
                by_lane.setdefault(row.lane, []).append(row)
        for lane in [k for k in self._finished if k not in by_lane and k not in self._lanes]:
            del self._finished[lane]  # nothing left that a stale read could show again
        for lane, lane_rows in by_lane.items():
            if lane not in self._lanes and len(self._lanes) < MAX_LANES:
                self._lanes[lane] = asyncio.create_task(
                    self._lane(lane, lane_rows), name=f"webhook-{lane[1]}"
                )

    async def _lane(self, lane: tuple[str, str], rows: list[OutboxRow]) -> None:
        try:
            for row in rows:
                await self._deliver_row(row)
                self._finished[lane] = row.id
        except Exception as exc:  # a failed delete/mark: the row stays pending, sent again later
            log.warning("webhook lane %s stopped: %s: %s", lane, type(exc).__name__, exc)
        finally:
            self._lanes.pop(lane, None)
            self._wake.set()

    async def _deliver_row(self, row: OutboxRow) -> None:
        sub = self.outbox.subscriptions.get(row.subscription_id)
        if sub is None:  # made through another worker process since this one last looked?
            await self.outbox.load_subscriptions()
            sub = self.outbox.subscriptions.get(row.subscription_id)
        if sub is None:
            await self.outbox.dead(row, row.attempts, "subscription no longer exists")
            return
        counters = self.counters_of(sub.id)
        attempts, error = await self._send_with_retries(sub, row, counters)
        if error is None:
            counters.delivered += 1
            self.metrics.delivered.labels(row.event).inc()
            await self.outbox.delivered(row)
        else:
            counters.failed += 1
            self.metrics.failed.labels(row.event).inc()
            await self.outbox.dead(row, row.attempts + attempts, error)

    async def _send_with_retries(
        self, sub: Subscription, row: OutboxRow, counters: SubscriptionCounters
    ) -> tuple[int, str | None]:
        """(attempts made, None when acknowledged or the last attempt's error)."""
        cfg = self.settings

        def before_sleep(_state: RetryCallState) -> None:
            counters.retries += 1
            self.metrics.retries.labels(row.event).inc()

        retrying = AsyncRetrying(
            stop=stop_after_attempt(cfg.max_attempts),
            wait=wait_exponential(multiplier=cfg.backoff_initial_s, max=cfg.backoff_max_s),
            retry=retry_if_exception_type(DeliveryError),
            before_sleep=before_sleep,
            reraise=True,
        )
        attempts = 0
        try:
            async for attempt in retrying:
                with attempt:
                    attempts += 1
                    await self._post(sub, row, row.attempts + attempts, counters)
        except DeliveryError as exc:
            return attempts, str(exc)
        return attempts, None

    async def _post(
        self, sub: Subscription, row: OutboxRow, attempt: int, counters: SubscriptionCounters
    ) -> None:
        assert self._client is not None
        headers = {
            "Content-Type": "application/json",
            "User-Agent": f"motherbox-reference-runtime/{__version__}",
            EVENT_HEADER: row.event,
            EVENT_ID_HEADER: row.event_id,
            ATTEMPT_HEADER: str(attempt),
            SIGNATURE_HEADER: signature(sub.secret, int(time.time()), row.body),
        }
        try:
            resp = await self._client.post(sub.url, content=row.body, headers=headers)
        except httpx.HTTPError as exc:
            self._failed(counters, f"attempt {attempt}: {type(exc).__name__}: {exc}"[:300])
        else:
            if not 200 <= resp.status_code < 300:
                self._failed(counters, f"attempt {attempt}: HTTP {resp.status_code}")

    def _failed(self, counters: SubscriptionCounters, message: str) -> None:
        counters.last_error, counters.last_error_at = message, time.time()
        raise DeliveryError(message)

    async def _cancel_lanes(self) -> None:
        lanes = list(self._lanes.values())
        for task in lanes:
            task.cancel()
        for task in lanes:
            with contextlib.suppress(asyncio.CancelledError):
                await task
