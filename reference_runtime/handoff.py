"""Agent-to-agent handoffs following the package's handoff protocol.

Message: header (from, to, timestamp, handoff_id, priority P1-P4) + body (context, reason,
urgency, special_instructions). The receiver validates the context and acks
``accepted``/``rejected`` (``queued`` when it cannot take it now). No ack within the timeout:
retry (N attempts, fixed interval), then the backup agent, then fail and return to sender.
The same item handed off 3+ times is a loop: broken, escalated, audited. Every step is
written to the audit log.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .agents.mailbox import MailboxFull
from .agents.registry import AgentState, Registry, Work
from .agents.worker import CommandFailed
from .bus import Bus, parse_priority
from .config import HandoffSettings
from .errors import ApiError, iso
from .store import Repo, Store
from .store.repo import dumps

LOOP_RECOVERY = ("break loop", "escalate to supervisor", "mark for human review")


class HandoffLoop(ApiError):
    def __init__(self, item_id: str, count: int, handoff_id: str) -> None:
        super().__init__(
            409,
            "handoff_loop",
            f"handoff loop detected: item {item_id!r} already handed off {count} times; escalated for review",
            {"itemId": item_id, "previousHandoffs": count, "handoffId": handoff_id},
        )


@dataclass(frozen=True)
class HandoffDeps:
    settings: HandoffSettings
    store: Store
    repo: Repo
    bus: Bus
    registry: Registry
    on_event: Callable[[str], None]  # initiated | acked | failed | loops_broken


class HandoffManager:
    def __init__(self, deps: HandoffDeps) -> None:
        self.deps = deps
        self.counts = {"initiated": 0, "acked": 0, "failed": 0, "loops_broken": 0}

    def _count(self, key: str) -> None:
        self.counts[key] += 1
        self.deps.on_event(key)

    def _audit(self, event: str, handoff_id: str, data: dict[str, Any]) -> None:
        self.deps.store.write_nowait(self.deps.repo.audit_op(event, "handoff", handoff_id, data))

    async def initiate(
        self,
        project_id: str,
        sender: AgentState,
        receiver: AgentState,
        item_id: str,
        context: dict[str, Any],
        priority: int = 3,
        reason: str = "",
        urgency: str = "normal",
        backup: AgentState | None = None,
        required_fields: list[str] | None = None,
        instructions: str = "",
    ) -> dict[str, Any]:
        """Validate (loop check), persist, then deliver: the receiver first, then the backup."""
        now = time.time()
        row = _handoff_row(project_id, sender, receiver, item_id, context, priority, reason, now)
        await self._refuse_loop(row, now)
        await self._persist(row, now)
        message = {
            "header": {
                "from": sender.id,
                "to": receiver.id,
                "timestamp": iso(now),
                "handoff_id": row["id"],
                "priority": f"P{priority}",
            },
            "body": {
                "context": context,
                "reason": reason,
                "urgency": urgency,
                "special_instructions": instructions,
            },
            "required_fields": required_fields or [],
        }
        targets = [receiver] + ([backup] if backup is not None and backup.id != receiver.id else [])
        return await self._deliver(row, message, targets, now)

    async def _refuse_loop(self, row: dict[str, Any], now: float) -> None:
        """The same item handed off ``loop_threshold`` times: recorded as broken, then 409."""
        previous = await self.deps.repo.count_item_handoffs(row["project_id"], row["item_id"])
        if previous < self.deps.settings.loop_threshold - 1:
            return
        row["status"] = "loop_broken"
        await self.deps.repo.insert_handoff(row)
        self._audit(
            "handoff.failed",
            row["id"],
            {
                "timestamp": iso(now),
                "error": "handoff loop detected",
                "itemId": row["item_id"],
                "recovery_action": LOOP_RECOVERY,
            },
        )
        self._count("loops_broken")
        raise HandoffLoop(row["item_id"], previous, row["id"])

    async def _persist(self, row: dict[str, Any], now: float) -> None:
        await self.deps.repo.insert_handoff(row)
        self._count("initiated")
        self._audit(
            "handoff.initiated",
            row["id"],
            {
                "timestamp": iso(now),
                "sender": row["from_agent"],
                "receiver": row["to_agent"],
                "context_id": row["item_id"],
            },
        )

    async def _deliver(
        self, row: dict[str, Any], message: dict[str, Any], targets: list[AgentState], started: float
    ) -> dict[str, Any]:
        """Each target gets ``retry_attempts`` tries; no ack from any: returned to the sender."""
        hs = self.deps.settings
        handoff_id = row["id"]
        attempts = 0
        for target in targets:
            for attempt in range(hs.retry_attempts):
                attempts += 1
                ack = await self._offer(target, message, row["priority"], hs.ack_timeout_s)
                if ack is not None:
                    return await self._finish(row, target, ack, attempts, started)
                self._audit(
                    "handoff.retry",
                    handoff_id,
                    {"timestamp": iso(time.time()), "receiver": target.id, "attempt": attempt + 1},
                )
                if attempt + 1 < hs.retry_attempts:
                    await asyncio.sleep(hs.retry_interval_s)
            if target is not targets[-1]:
                self._audit(
                    "handoff.fallback",
                    handoff_id,
                    {"timestamp": iso(time.time()), "from": target.id, "to": targets[-1].id},
                )
        return await self._return_to_sender(handoff_id, attempts)

    async def _return_to_sender(self, handoff_id: str, attempts: int) -> dict[str, Any]:
        await self.deps.repo.update_handoff(handoff_id, {"status": "failed", "attempts": attempts})
        self._audit(
            "handoff.failed",
            handoff_id,
            {
                "timestamp": iso(time.time()),
                "error": "receiver not available",
                "recovery_action": "return to sender",
            },
        )
        self._count("failed")
        return {
            "handoff_id": handoff_id,
            "status": "rejected",
            "estimated_time": None,
            "message": "no acknowledgment from receiver or backup; returned to sender",
            "attempts": attempts,
        }

    async def _offer(
        self, target: AgentState, message: dict[str, Any], priority: int, timeout_s: float
    ) -> dict[str, Any] | None:
        """One delivery attempt: the receiver's ack, or None (mailbox full, or no ack in time)."""
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        work = Work("handoff", target.id, "*handoff-receive", message, {}, priority, timeout_s, future=future)
        try:
            self.deps.bus.send(work, sender=str(message["header"]["from"]))
        except MailboxFull:
            return None
        try:
            return await asyncio.wait_for(asyncio.shield(future), timeout=timeout_s)
        except TimeoutError:
            return None

    async def _finish(
        self, row: dict[str, Any], target: AgentState, ack: dict[str, Any], attempts: int, started: float
    ) -> dict[str, Any]:
        handoff_id = row["id"]
        status = str(ack.get("status", "rejected"))
        now = time.time()
        self._audit(
            "handoff.acknowledged",
            handoff_id,
            {"timestamp": iso(now), "status": status, "receiver": target.id},
        )
        final = {"accepted": "completed", "queued": "queued"}.get(status, "rejected")
        await self.deps.repo.update_handoff(
            handoff_id, {"status": final, "attempts": attempts, "to_agent": target.id}
        )
        if final == "rejected":
            self._count("failed")
            self._audit(
                "handoff.failed",
                handoff_id,
                {"timestamp": iso(now), "error": ack.get("message"), "recovery_action": "alert sender"},
            )
        else:
            self._count("acked")
            self._audit(
                "handoff.completed",
                handoff_id,
                {"timestamp": iso(now), "duration": round(now - started, 4), "success": True},
            )
        return {
            "handoff_id": handoff_id,
            "status": status,
            "receiver": target.id,
            "estimated_time": ack.get("estimated_time"),
            "message": ack.get("message", ""),
            "attempts": attempts,
        }

    async def receive(self, agent: AgentState, work: Work) -> None:
        """Receiver side: validate context completeness, then ack."""
        message = work.parameters
        context = (message.get("body") or {}).get("context") or {}
        missing = [f for f in message.get("required_fields") or [] if f not in context]
        if missing:
            ack = {
                "status": "rejected",
                "message": f"context incomplete: missing {missing}",
                "estimated_time": None,
            }
        else:
            depth = len(agent.mailbox)
            ack = {
                "status": "accepted",
                "message": f"{agent.name} took over",
                "estimated_time": f"{max(1, depth)}s",
            }
            self.deps.store.write_nowait(
                self.deps.repo.message_op(agent.id, "handoff", work.priority, None, message)
            )
        if work.future is not None and not work.future.done():
            work.future.set_result(ack)

    async def from_command(self, agent: AgentState, work: Work) -> dict[str, Any]:
        """``*handoff`` command: parameters {to, itemId?, context?, priority?, reason?, backup?}."""
        p = work.parameters
        to_ref = p.get("to")
        if not isinstance(to_ref, str):
            raise CommandFailed("*handoff needs parameters.to (agent id, name or role)")
        receiver = self.deps.registry.find(agent.project_id, to_ref)
        if receiver is None or receiver.id == agent.id:
            raise CommandFailed(f"no other agent {to_ref!r} in this project")
        backup_ref = p.get("backup")
        backup = (
            self.deps.registry.find(agent.project_id, backup_ref) if isinstance(backup_ref, str) else None
        )
        raw_ctx = p.get("context")
        ctx: dict[str, Any] = raw_ctx if isinstance(raw_ctx, dict) else dict(work.context)
        try:
            return await self.initiate(
                agent.project_id,
                agent,
                receiver,
                str(p.get("itemId") or work.execution_id or uuid.uuid4()),
                ctx,
                _priority(p.get("priority"), work.priority),
                str(p.get("reason") or ""),
                backup=backup,
            )
        except HandoffLoop as exc:
            return {"status": "rejected", "message": exc.message, **(exc.details or {})}


def _handoff_row(
    project_id: str,
    sender: AgentState,
    receiver: AgentState,
    item_id: str,
    context: dict[str, Any],
    priority: int,
    reason: str,
    now: float,
) -> dict[str, Any]:
    return {
        "id": str(uuid.uuid4()),
        "project_id": project_id,
        "item_id": item_id,
        "from_agent": sender.id,
        "to_agent": receiver.id,
        "priority": priority,
        "status": "initiated",
        "context": dumps(context),
        "reason": reason,
        "attempts": 0,
        "created_at": now,
        "updated_at": now,
    }


def _priority(value: object, default: int) -> int:
    try:
        return parse_priority(value, default)
    except ValueError as exc:
        raise CommandFailed(str(exc)) from None
