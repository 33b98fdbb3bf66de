"""The webhooks as the runtime sees them: start/stop, the admin operations, health."""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import secrets
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..config import WebhookSettings
from ..observability import WebhookMetrics
from ..store import Store
from .dispatcher import Dispatcher
from .outbox import Outbox, Subscription, config_subscriptions

#: Subscriptions the admin endpoint may hold (the config file's are not counted).
MAX_ADMIN_SUBSCRIPTIONS = 50


class SubscriptionLimit(Exception):
    pass


@dataclass(frozen=True)
class WebhookDeps:
    settings: WebhookSettings
    store: Store
    metrics: WebhookMetrics
    state_dir: Path
    workers: int


class WebhookService:
    def __init__(self, deps: WebhookDeps) -> None:
        self.deps = deps
        self.outbox = Outbox(deps.store, deps.settings, deps.metrics)
        self.dispatcher = Dispatcher(self.outbox, deps.settings, deps.metrics, shared=deps.workers > 1)
        self.outbox.wake = self.dispatcher.wake
        self._task: asyncio.Task[None] | None = None
        self._lock_fd: int | None = None

    async def start(self) -> None:
        """Subscriptions (config + stored), the outbox's counts, then the dispatcher: rows left
        pending by an earlier process are delivered first (they have the lowest ids)."""
        await self.outbox.load_subscriptions(config_subscriptions(self.deps.settings))
        await self.outbox.recount()
        self._task = asyncio.create_task(self._run(), name="webhook-dispatcher")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._lock_fd is not None:
            os.close(self._lock_fd)  # releases the flock
            self._lock_fd = None

    async def _run(self) -> None:
        """With ``--workers N`` one process dispatches (a flock in the state folder), so per-project
        order holds; another takes over when it dies. Others refresh their subscriptions."""
        while self.deps.workers > 1 and not self._try_lock():
            await asyncio.sleep(self.deps.settings.poll_interval_s)
            with contextlib.suppress(Exception):  # the database may be down: next poll
                await self.outbox.load_subscriptions()
                await self.outbox.recount()  # the dispatching process deletes the rows
        if self.deps.workers > 1:
            await self.outbox.load_subscriptions()
        await self.dispatcher.run()

    def _try_lock(self) -> bool:
        fd = os.open(self.deps.state_dir / "webhooks.lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            return False
        self._lock_fd = fd
        return True

    # -- admin -------------------------------------------------------------------------------
    async def subscribe(self, url: str, secret: str, events: list[str]) -> Subscription:
        admin = [sub for sub in self.outbox.subscriptions.values() if sub.source == "admin"]
        if len(admin) >= MAX_ADMIN_SUBSCRIPTIONS:
            raise SubscriptionLimit(f"at most {MAX_ADMIN_SUBSCRIPTIONS} subscriptions; delete one first")
        sub = Subscription(f"wh-{secrets.token_hex(8)}", url, secret, frozenset(events), "admin", time.time())
        await self.outbox.add(sub)
        return sub

    async def unsubscribe(self, sub_id: str) -> Subscription | None:
        """The removed subscription (None if unknown); config-file ones are not removed here."""
        sub = self.outbox.subscriptions.get(sub_id)
        if sub is not None and sub.source == "admin":
            await self.outbox.remove(sub_id)
        return sub

    async def describe(self) -> dict[str, Any]:
        """GET /v1/admin/webhooks: every subscription (never its secret) with its delivery state."""
        stored = await self.outbox.per_subscription()
        subs = []
        for sub in sorted(self.outbox.subscriptions.values(), key=lambda x: (x.source, x.created_at, x.id)):
            c = self.dispatcher.counters_of(sub.id)
            rows = stored.get(sub.id, {"pending": 0, "dead": 0, "lastError": None})
            subs.append(
                {
                    **sub.public(),
                    "delivered": c.delivered,
                    "failed": c.failed,
                    "retries": c.retries,
                    "pending": rows["pending"],
                    "dead": rows["dead"],
                    "lastError": c.last_error or rows["lastError"],
                    "lastDeadError": rows["lastError"],
                }
            )
        return {"subscriptions": subs, "outbox": self.outbox_state()}

    def outbox_state(self) -> dict[str, Any]:
        o = self.outbox
        return {
            "rows": o.rows,
            "pending": o.pending,
            "maxRows": self.deps.settings.max_outbox_rows,
            "full": o.full,
            "dropped": o.dropped,
        }

    def health(self) -> dict[str, Any]:
        """Degraded while the outbox is full (new events are being dropped)."""
        state = self.outbox_state()
        if state["full"]:
            message = (
                f"outbox full ({state['rows']} of {state['maxRows']} rows); {state['dropped']} events dropped"
            )
        else:
            message = f"{len(self.outbox.subscriptions)} subscriptions, {state['pending']} pending"
        return {"status": "degraded" if state["full"] else "ok", "message": message, **state}
