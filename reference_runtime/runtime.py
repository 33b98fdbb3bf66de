"""The runtime: composition root and process lifecycle (start, stop, restart recovery, health).

``services.build_services`` builds the shared services once; each collaborator below gets a
small deps object with exactly what it uses, so none of them knows the Runtime. One instance per
app (tests create several in one process); nothing global.
"""

from __future__ import annotations

import asyncio
import os
import time
from typing import Any

import httpx

from . import __version__
from .agents.registry import Work
from .agents.status import AgentStatusWriter
from .agents.supervisor import AgentSupervisor, SupervisorDeps
from .agents.worker import WorkerDeps
from .archive import run_scheduled
from .commands import CommandSubmitter, ExecutionLog, SubmissionDeps
from .config import SWITCH_NAMES, Settings
from .creation import CreationDeps, TeamCreator
from .handoff import HandoffDeps, HandoffManager
from .projects import ProjectDeps, ProjectService
from .services import Services, build_services
from .store import WriteOp
from .store.repo import loads
from .webhooks.service import WebhookDeps, WebhookService
from .workflows import WorkflowDeps, WorkflowEngine

RESTART_REASON = "runtime restarted while this execution was processing"


class Runtime:
    def __init__(self, settings: Settings, model_url: str) -> None:
        self.settings = settings
        self.started = time.time()
        self.services = s = build_services(settings, model_url)
        self.executions = ExecutionLog(s.repo, s.status_batcher)
        self.statuses = AgentStatusWriter(s.registry, s.repo, s.status_batcher)
        self.handoffs = HandoffManager(
            HandoffDeps(settings.handoff, s.store, s.repo, s.bus, s.registry, s.metrics.record_handoff)
        )
        self.agents = AgentSupervisor(_supervisor_deps(s, self.executions, self.statuses, self.handoffs))
        self.workflows = WorkflowEngine(
            WorkflowDeps(
                settings.workflows.max_parallel,
                s.owner,
                s.store,
                s.repo,
                s.registry,
                s.bus,
                self.executions,
                s.tasks,
            )
        )
        self.creator = TeamCreator(
            CreationDeps(settings.switches, s.team, s.repo, s.cache, s.model, self.agents.add)
        )
        self.projects = ProjectService(
            ProjectDeps(
                s.repo, s.registry, self.agents, self.creator, s.team, s.tasks, self.statuses.set_status
            )
        )
        self.commands = CommandSubmitter(
            SubmissionDeps(s.store, s.repo, s.bus.stats, s.faults, s.owner, settings.agents.retry_after_s)
        )
        self.webhooks = WebhookService(
            WebhookDeps(settings.webhooks, s.store, s.metrics.webhooks, settings.state_dir, settings.workers)
        )
        _wire_webhooks(s, self.webhooks)
        self.backend_probe: dict[str, Any] = {"status": "unknown", "message": "not probed yet"}
        self.active_connections = 0

    # -- lifecycle ---------------------------------------------------------------------------
    async def start(self) -> None:
        s = self.services
        await s.store.open()
        await s.model.start()
        self.agents.start_rows(await s.repo.all_agents())
        await self.recover()
        await self.webhooks.start()
        s.faults.start()
        s.tasks.spawn(self._probe_backend_loop(), "backend-probe")
        s.tasks.spawn(s.decisions.run_refresh(self.settings.decisions.refresh_interval_s), "decisions")
        if self.settings.archive.enabled:
            s.tasks.spawn(run_scheduled(s.store, self.settings), "archive")

    async def stop(self) -> None:
        s = self.services
        await s.tasks.cancel_all()
        await self.webhooks.stop()
        await self.agents.stop_all()
        await s.faults.stop()
        self.statuses.flush_pending()
        await s.status_batcher.close()
        await s.metrics_batcher.close()
        await s.model.close()
        await s.store.close()
        s.cache.close()

    # -- restart recovery --------------------------------------------------------------------
    async def recover(self) -> None:
        """Acknowledged work from a dead process: queued commands resume, the rest fail with a reason."""
        s = self.services
        for owner in {r["owner"] for r in await s.repo.unfinished_executions()}:
            if not _owner_alive(owner, s.owner):
                await s.repo.fail_interrupted(owner, RESTART_REASON)
                await s.repo.claim_executions(owner, s.owner)
        failures = []
        for row in await s.repo.unfinished_executions():
            if row["owner"] == s.owner and row["status"] == "queued":
                failure = self._requeue(row)
                if failure is not None:
                    failures.append(failure)
        if failures:
            await s.store.write(*failures)

    def _requeue(self, row: dict[str, Any]) -> WriteOp | None:
        """Put a claimed queued command back in its agent's mailbox, or return the op failing it."""
        agent = self.services.registry.by_id(row["agent_id"] or "")
        if row["type"] != "command" or agent is None:
            reason = (
                "workflow interrupted by a restart" if row["type"] == "workflow" else "agent no longer exists"
            )
            return self.services.repo.execution_finish_op(row["id"], "failed", None, reason, time.time(), 0)
        payload = loads(row["payload"]) or {}
        work = Work(
            "command",
            agent.id,
            row["command"] or "",
            payload.get("parameters") or {},
            payload.get("context") or {},
            row["priority"],
            float(payload.get("timeout") or 30),
            row["id"],
        )
        agent.mailbox.force_put(work, row["priority"])
        return None

    # -- health ------------------------------------------------------------------------------
    async def _probe_backend_loop(self) -> None:
        async with httpx.AsyncClient(timeout=1.0) as client:
            while True:
                try:
                    resp = await client.get(self.services.model.base_url + "/health")
                    ok = resp.status_code == 200
                    self.backend_probe = {
                        "status": "ok" if ok else "error",
                        "message": f"HTTP {resp.status_code}",
                    }
                except httpx.HTTPError as exc:
                    self.backend_probe = {"status": "error", "message": f"unreachable: {type(exc).__name__}"}
                await asyncio.sleep(2.0)

    async def health(self) -> dict[str, Any]:
        s = self.services
        faults = s.faults.snapshot()
        components = {
            "db": await self._db_health(),
            "model_backend": self._backend_health(),
            "bus": self._bus_health(),
            "writer": {"status": "ok", "pending": s.store.writer.pending()},
            "webhooks": self.webhooks.health(),
            "faults": {
                "status": "degraded" if faults["active"] else "ok",
                "message": ", ".join(faults["active"]) or "no faults injected",
            },
        }
        return {
            "status": _overall(components),
            "version": __version__,
            "uptime": int(time.time() - self.started),
            "components": components,
            "switches": {n: getattr(self.settings.switches, n) for n in SWITCH_NAMES},
            "profile": self.settings.profile,
            "faults": faults,
        }

    async def _db_health(self) -> dict[str, Any]:
        store = self.services.store
        try:
            await asyncio.wait_for(store.ping(), timeout=1.0)
        except Exception as exc:
            return {"status": "error", "message": f"{type(exc).__name__}: {exc}"[:200]}
        return {"status": "ok", "message": store.dialect}

    def _backend_health(self) -> dict[str, Any]:
        breaker = self.services.model.breaker.state
        backend = dict(self.backend_probe)
        backend["breaker"] = breaker
        if breaker != "closed" and backend["status"] == "ok":
            backend["status"] = "degraded"
            backend["message"] = f"circuit {breaker}"
        return backend

    def _bus_health(self) -> dict[str, Any]:
        """Degraded when a mailbox is (nearly) full, counting reserved slots as well as queued
        work, so slots held by requests in flight (or leaked) show up as well as a backlog."""
        registry = self.services.registry
        depth = registry.total_depth()
        cap = self.settings.agents.mailbox_capacity
        now = time.monotonic()
        reserved = 0
        worst = 0
        full: list[dict[str, Any]] = []
        for agent in registry:
            box = agent.mailbox
            reserved += box.reserved
            worst = max(worst, box.occupied)
            if box.full():
                stuck_s = round(now - box.last_taken, 1)
                entry = {"agent": agent.id, "queued": len(box), "reserved": box.reserved, "stuckS": stuck_s}
                full.append(entry)
        message = f"{depth} queued across {len(registry)} agents"
        if full:
            worst_full = max(full, key=lambda f: f["stuckS"])
            message += (
                f"; {len(full)} mailbox(es) full, e.g. {worst_full['agent']} ({worst_full['queued']} queued, "
                f"{worst_full['reserved']} reserved, nothing taken for {worst_full['stuckS']} s)"
            )
        return {
            "status": "degraded" if full or worst >= 0.9 * cap else "ok",
            "message": message,
            "queueDepth": depth,
            "reserved": reserved,
            "fullMailboxes": sorted(full, key=lambda f: -f["stuckS"])[:10],
            "rejected": self.services.bus.stats.rejected,
        }


def _supervisor_deps(
    s: Services, executions: ExecutionLog, statuses: AgentStatusWriter, handoffs: HandoffManager
) -> SupervisorDeps:
    worker = WorkerDeps(
        concurrency=s.settings.agents.concurrency,
        history_window=s.settings.agents.history_window,
        repo=s.repo,
        cache=s.cache,
        model=s.model,
        decisions=s.decisions,
        telemetry=s.telemetry,
        faults=s.faults,
        executions=executions,
        handoffs=handoffs,
        set_status=statuses.set_status,
    )
    return SupervisorDeps(s.registry, s.repo, s.cache, s.metrics, worker, s.settings.workers > 1)


def _wire_webhooks(s: Services, webhooks: WebhookService) -> None:
    """Status changes carry their outbox rows; a commit wakes the dispatcher for them."""
    s.repo.status_events = webhooks.outbox
    on_batch = s.store.on_batch

    def after_batch(size: int) -> None:
        if on_batch is not None:
            on_batch(size)
        webhooks.outbox.after_commit()

    s.store.on_batch = after_batch


def _owner_alive(owner: str | None, own: str) -> bool:
    """Owners are "<pid>:<random>"; another live process with that pid keeps its executions."""
    if owner is None:
        return False
    if owner == own:
        return True
    pid_text = owner.split(":", 1)[0]
    if not pid_text.isdigit() or int(pid_text) == os.getpid():
        return False
    try:
        os.kill(int(pid_text), 0)
    except (ProcessLookupError, PermissionError):
        return False
    return True


def _overall(components: dict[str, dict[str, Any]]) -> str:
    if components["db"]["status"] != "ok":
        return "unhealthy"
    if any(c.get("status") not in ("ok",) for c in components.values()):
        return "degraded"
    return "healthy"
