"""The outbox and the subscriptions in the database.

A status change asks :meth:`Outbox.ops` for its rows, and they ride on the status write
(``WriteOp.extra``): both commit in one transaction or neither does. The outbox is bounded by
``webhooks.max_outbox_rows`` (pending + dead rows); when full, new events are dropped and counted
(``dropped``; /v1/health and the metrics say so) instead of the table growing without bound.
"""

from __future__ import annotations

import hashlib
import logging
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson
from sqlalchemy import delete, func, select, update

from ..config import WebhookSettings
from ..observability import WebhookMetrics
from ..store import Store, WriteOp
from ..store import schema as s

log = logging.getLogger(__name__)
PENDING = "pending"
DEAD = "dead"
#: Dead rows kept for the admin endpoint; older ones are deleted (they still count until then).
DEAD_KEPT = 100
_INSERT_ROW = s.webhook_outbox.insert()
_OUT = s.webhook_outbox


@dataclass(frozen=True)
class Subscription:
    id: str
    url: str
    secret: str = field(repr=False)
    events: frozenset[str]
    source: str  # "config" (the config file) | "admin" (POST /v1/admin/webhooks, stored)
    created_at: float

    def public(self) -> dict[str, Any]:
        """What the admin endpoint shows: never the secret."""
        return {"id": self.id, "url": self.url, "events": sorted(self.events), "source": self.source}


@dataclass(frozen=True)
class OutboxRow:
    id: int
    event_id: str
    subscription_id: str
    project_id: str
    event: str
    body: bytes
    attempts: int

    @property
    def lane(self) -> tuple[str, str]:
        """Rows of one lane are delivered one at a time, in id order."""
        return self.subscription_id, self.project_id


def config_subscriptions(settings: WebhookSettings) -> list[Subscription]:
    """The config file's receivers; ids derive from url + events, so they survive restarts."""
    subs: dict[str, Subscription] = {}
    for sub in settings.subscriptions:
        events = frozenset(sub.events)
        digest = hashlib.sha256(f"{sub.url}\n{sorted(events)}".encode()).hexdigest()[:16]
        subs.setdefault(
            f"cfg-{digest}", Subscription(f"cfg-{digest}", sub.url, sub.secret, events, "config", 0.0)
        )
    return list(subs.values())


def payload(event: str, project_id: str, agent_id: str | None, old: str, new: str, now: float) -> bytes:
    """The spec's webhook request body (``webhooks:`` projectStatusChanged / agentStatusChanged)."""
    body: dict[str, Any] = {"event": event, "projectId": project_id}
    if agent_id is not None:
        body["agentId"] = agent_id
    stamp = datetime.fromtimestamp(now, UTC).isoformat().replace("+00:00", "Z")
    body.update(oldStatus=old, newStatus=new, timestamp=stamp)
    return orjson.dumps(body)


class Outbox:
    def __init__(self, store: Store, settings: WebhookSettings, metrics: WebhookMetrics) -> None:
        self._store = store
        self._max_rows = settings.max_outbox_rows
        self._metrics = metrics
        self.subscriptions: dict[str, Subscription] = {}
        self.rows = 0  # pending + dead, as counted at start and kept up to date since
        self.pending = 0
        self.dropped = 0
        #: Rows made but not yet seen by the dispatcher: a commit while > 0 wakes it.
        self.unseen = 0
        self.wake: Callable[[], None] = lambda: None
        self._configured: list[Subscription] = []

    @property
    def full(self) -> bool:
        return self.rows >= self._max_rows

    # -- the status-change side (repo.StatusEvents) ------------------------------------------
    def wants(self, event: str) -> bool:
        return any(event in sub.events for sub in self.subscriptions.values())

    def ops(self, event: str, project_id: str, agent_id: str | None, old: str, new: str) -> list[WriteOp]:
        targets = [sub for sub in self.subscriptions.values() if event in sub.events]
        if not targets:
            return []
        if self.rows + len(targets) > self._max_rows:
            self._drop(event)
            return []
        now = time.time()
        body = payload(event, project_id, agent_id, old, new, now).decode()
        event_id = str(uuid.uuid4())  # one id per event: the receiver's idempotency key
        ops = [
            WriteOp("webhook_outbox_ins", _INSERT_ROW, _row(event_id, sub.id, project_id, event, body, now))
            for sub in targets
        ]
        self._count(len(ops), len(ops))
        self.unseen += len(ops)
        return ops

    def _drop(self, event: str) -> None:
        if not self.dropped:
            log.warning("webhook outbox full (%d rows): dropping new events until it drains", self._max_rows)
        self.dropped += 1
        self._metrics.dropped.labels(event).inc()

    def after_commit(self) -> None:
        """``Store.on_batch`` hook: rows just made may be on disk now."""
        if self.unseen:
            self.wake()

    def _count(self, rows: int, pending: int) -> None:
        self.rows = max(0, self.rows + rows)
        self.pending = max(0, self.pending + pending)
        self._metrics.depth.set(self.rows)
        self._metrics.pending.set(self.pending)
        self._metrics.full.set(1 if self.full else 0)

    # -- the dispatcher side -----------------------------------------------------------------
    async def recount(self) -> None:
        """The table's counts plus the rows still on their way to it (made, not yet seen)."""
        stmt = select(_OUT.c.status, func.count()).group_by(_OUT.c.status)
        counts = {str(r[0]): int(r[1]) for r in await self._store.fetch_all(stmt)}
        self.rows = self.pending = 0
        self._count(sum(counts.values()) + self.unseen, counts.get(PENDING, 0) + self.unseen)

    async def pending_rows(self, limit: int) -> list[OutboxRow]:
        cols = (
            _OUT.c.id,
            _OUT.c.event_id,
            _OUT.c.subscription_id,
            _OUT.c.project_id,
            _OUT.c.event,
            _OUT.c.body,
            _OUT.c.attempts,
        )
        stmt = select(*cols).where(_OUT.c.status == PENDING).order_by(_OUT.c.id).limit(limit)
        rows = await self._store.fetch_all(stmt)
        return [
            OutboxRow(int(r[0]), str(r[1]), str(r[2]), str(r[3]), str(r[4]), str(r[5]).encode(), int(r[6]))
            for r in rows
        ]

    async def delivered(self, row: OutboxRow) -> None:
        await self._store.write(WriteOp("webhook_outbox_del", delete(_OUT).where(_OUT.c.id == row.id), {}))
        self._count(-1, -1)

    async def dead(self, row: OutboxRow, attempts: int, error: str) -> None:
        """Kept with its last error for the admin endpoint; only the newest ``DEAD_KEPT`` stay."""
        mark = (
            update(_OUT)
            .where(_OUT.c.id == row.id)
            .values(status=DEAD, attempts=attempts, last_error=error[:500], updated_at=time.time())
        )
        newest = (
            select(_OUT.c.id)
            .where(_OUT.c.status == DEAD)
            .order_by(_OUT.c.id.desc())
            .offset(DEAD_KEPT)
            .limit(1)
        )
        prune = delete(_OUT).where(_OUT.c.status == DEAD, _OUT.c.id <= newest.scalar_subquery())
        await self._store.write(
            WriteOp("webhook_outbox_dead", mark, {}), WriteOp("webhook_outbox_prune", prune, {})
        )
        self._count(0, -1)
        await self.recount()  # the prune's effect

    # -- subscriptions -----------------------------------------------------------------------
    async def load_subscriptions(self, configured: Iterable[Subscription] | None = None) -> None:
        """The config file's subscriptions and the stored ones (again: ``configured`` None)."""
        if configured is not None:
            self._configured = list(configured)
        subs = {sub.id: sub for sub in self._configured}
        for r in await self._store.fetch_all(select(s.webhook_subscriptions)):
            events = frozenset(str(e) for e in orjson.loads(r.events))
            subs[str(r.id)] = Subscription(
                str(r.id), str(r.url), str(r.secret), events, "admin", float(r.created_at)
            )
        self.subscriptions = subs

    async def add(self, sub: Subscription) -> None:
        row = {
            "id": sub.id,
            "url": sub.url,
            "secret": sub.secret,
            "events": orjson.dumps(sorted(sub.events)).decode(),
            "created_at": sub.created_at,
        }
        await self._store.write(WriteOp("webhook_sub_ins", s.webhook_subscriptions.insert(), row))
        self.subscriptions[sub.id] = sub

    async def remove(self, sub_id: str) -> None:
        """The subscription and every row still waiting for it."""
        subs = s.webhook_subscriptions
        await self._store.write(
            WriteOp("webhook_sub_del", delete(subs).where(subs.c.id == sub_id), {}),
            WriteOp("webhook_outbox_sub_del", delete(_OUT).where(_OUT.c.subscription_id == sub_id), {}),
        )
        self.subscriptions.pop(sub_id, None)
        await self.recount()

    async def per_subscription(self) -> dict[str, dict[str, Any]]:
        """``{id: {pending, dead, lastError}}`` from the table (the dead row's error is the latest)."""
        stmt = select(_OUT.c.subscription_id, _OUT.c.status, func.count(), func.max(_OUT.c.id)).group_by(
            _OUT.c.subscription_id, _OUT.c.status
        )
        out: dict[str, dict[str, Any]] = {}
        newest_dead: dict[int, str] = {}
        for sub_id, status, count, newest in await self._store.fetch_all(stmt):
            out.setdefault(str(sub_id), {"pending": 0, "dead": 0, "lastError": None})[str(status)] = int(
                count
            )
            if status == DEAD:
                newest_dead[int(newest)] = str(sub_id)
        if newest_dead:
            errors = await self._store.fetch_all(
                select(_OUT.c.id, _OUT.c.last_error).where(_OUT.c.id.in_(list(newest_dead)))
            )
            for row_id, error in errors:
                out[newest_dead[int(row_id)]]["lastError"] = error
        return out


def _row(event_id: str, sub_id: str, project_id: str, event: str, body: str, now: float) -> dict[str, Any]:
    return {
        "event_id": event_id,
        "subscription_id": sub_id,
        "project_id": project_id,
        "event": event,
        "body": body,
        "status": PENDING,
        "attempts": 0,
        "last_error": None,
        "created_at": now,
        "updated_at": now,
    }
