"""The runtime: wires store, model client, agents, bus, handoffs, workflows and team creation.

One instance per app (tests create several in one process). Routes only call methods here or
the repo; nothing global.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import secrets
import time
import uuid
from collections.abc import Coroutine
from typing import Any, TypeVar

import httpx

from . import __version__
from .agents.mailbox import MailboxFull
from .agents.registry import AgentState, Registry, Work
from .agents.team import TeamDefinition, load_team
from .agents.worker import SIMPLE_VERBS, AgentWorker
from .batching import Batcher, BatchPolicy
from .bus import Bus, ChannelPool
from .cache import CacheConfig, LayeredCache, default_cache_dir
from .config import SWITCH_NAMES, Settings
from .decisions import Decision, DecisionRequest, default_engine
from .errors import ApiError, overloaded
from .faults import FaultInjector
from .model_client import BreakerOpen, ModelClient, ModelReply
from .store import Repo, Store, WriteOp
from .store.repo import dumps, loads
from .telemetry import Telemetry, normalize_faults

T = TypeVar("T")
STATUS_PERSIST_INTERVAL_S = 1.0
MAX_CONCURRENT_CREATIONS = 16
MAX_PENDING_CREATIONS = 500


_BOOT = secrets.token_hex(10)  # random per process start: ids never repeat across restarts
_SEQ = itertools.count(1)


def new_execution_id() -> str:
    """``exe-`` + 32 hex chars; a counter under a random boot prefix (cheaper than uuid4)."""
    return f"exe-{_BOOT}{next(_SEQ):012x}"


class Runtime:
    def __init__(self, settings: Settings, model_url: str) -> None:
        self.settings = settings
        self.started = time.time()
        self.owner = f"{os.getpid()}:{secrets.token_hex(4)}"
        sw = settings.switches
        db = settings.database
        self.store = Store(
            settings.db_url(),
            pooling=sw.pooling,
            group_commit=sw.batching,
            indexes=sw.indexes,
            pool_min=db.pool_min,
            pool_max=db.pool_max,
            idle_timeout_s=db.idle_timeout_s,
            max_batch=db.group_commit_max_batch,
        )
        self.repo = Repo(self.store)
        self.model = ModelClient(model_url, settings.model_client, pooling=sw.pooling)
        self.registry = Registry(settings.agents.mailbox_capacity)
        ag = settings.agents
        self.channels = ChannelPool(ag.inter_agent_pool_size, sw.pooling, ag.inter_agent_health_check_s)
        self.bus = Bus(self.registry, self.channels)
        self.faults = FaultInjector(normalize_faults(settings.faults))
        self.telemetry = Telemetry(sw)
        self.metrics = self.telemetry.metrics
        self.cache = LayeredCache(
            CacheConfig.from_settings(
                settings.cache, enabled=sw.caching, l3_dir=default_cache_dir(settings.state_dir)
            )
        )
        self.decisions = default_engine(
            precomputed=sw.precomputed_decisions,
            early_termination=sw.early_termination,
            confidence_threshold=settings.decisions.confidence_threshold,
        )
        b = settings.batching
        self.status_batcher: Batcher[WriteOp] = Batcher(
            self._flush_status,
            BatchPolicy(b.status_batch_size, b.status_max_wait_ms / 1000),
            enabled=sw.batching,
            name="status",
            on_flush=lambda n: self.metrics.record_batch("status", n),
        )
        self.metrics_batcher: Batcher[tuple[str, str, int, float]] = Batcher(
            self._flush_observations,
            BatchPolicy(b.metrics_batch_size, b.metrics_max_wait_ms / 1000),
            enabled=True,
            name="metrics",
            on_flush=lambda n: self.metrics.record_batch("metrics", n),
        )
        self._creation_slots = asyncio.Semaphore(MAX_CONCURRENT_CREATIONS)
        self._creations_pending = 0
        self._wire_hooks()
        self.workers: dict[str, AgentWorker] = {}
        self.team: TeamDefinition = load_team()
        self.backend_probe: dict[str, Any] = {"status": "unknown", "message": "not probed yet"}
        self._background: list[asyncio.Task[None]] = []
        self._tasks: set[asyncio.Task[Any]] = set()
        self._status_timers: dict[str, asyncio.TimerHandle] = {}
        self.active_connections = 0
        # Late imports: these modules depend on Runtime for typing only.
        from .creation import TeamCreator
        from .handoff import HandoffManager
        from .workflows import WorkflowEngine

        self.handoffs = HandoffManager(self)
        self.workflows = WorkflowEngine(self)
        self.creator = TeamCreator(self)

    def _wire_hooks(self) -> None:
        m = self.metrics
        m.slow_query_seconds = self.settings.database.slow_query_ms / 1000
        self.store.query_observer = lambda secs, stmt: m.observe_db_query(stmt, secs)
        self.store.delay_hook = self.faults.add_db_latency
        self.store.on_batch = lambda n: m.record_batch("db_writes", n)
        self.model.around_attempt = self.faults.around_model
        self.model.on_call = lambda secs, err, retries: m.record_model_call(secs, error=err, retries=retries)
        self.model.breaker.on_change = m.set_breaker_state
        self.repo.on_change = self.on_record_changed
        m.bind_cache_stats(lambda: self.cache.stats().layers)
        m.accounting.add_memory_source("cache", self.cache.bytes_by_agent)
        m.accounting.add_memory_source("mailbox", lambda: {a.id: a.mailbox.bytes_held for a in self.registry})

    def on_handoff_event(self, kind: str) -> None:
        counter = {
            "initiated": self.metrics.handoffs_initiated,
            "acked": self.metrics.handoffs_acked,
            "failed": self.metrics.handoffs_failed,
            "loops_broken": self.metrics.handoff_loops_broken,
        }[kind]
        counter.inc()

    # -- lifecycle ---------------------------------------------------------------------------
    async def start(self) -> None:
        await self.store.open()
        await self.model.start()
        for row in await self.repo.all_agents():
            self.start_agent(self.registry.add_from_row(row))
        await self.recover()
        self.faults.start()
        self._background.append(asyncio.create_task(self._probe_backend_loop(), name="backend-probe"))
        interval = self.settings.decisions.refresh_interval_s
        self._background.append(asyncio.create_task(self.decisions.run_refresh(interval), name="decisions"))
        if self.settings.archive.enabled:
            from .archive import run_scheduled

            self._background.append(asyncio.create_task(run_scheduled(self), name="archive"))

    async def stop(self) -> None:
        for task in self._background:
            task.cancel()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._background, *self._tasks, return_exceptions=True)
        await asyncio.gather(*(w.stop() for w in self.workers.values()), return_exceptions=True)
        await self.faults.stop()
        self._flush_agent_statuses()
        await self.status_batcher.close()
        await self.metrics_batcher.close()
        await self.model.close()
        await self.store.close()
        self.cache.close()

    # -- batching sinks ----------------------------------------------------------------------
    async def _flush_status(self, ops: list[WriteOp]) -> None:
        """Status updates reach the group-commit writer as one batch (one transaction)."""
        self.store.write_nowait(*ops)

    async def _flush_observations(self, items: list[tuple[str, str, int, float]]) -> None:
        observe = self.metrics.observe_request
        for method, route, status, secs in items:
            observe(method, route, status, secs)

    def observe_request(self, method: str, route: str, status: int, secs: float) -> None:
        if self.settings.switches.batching:
            self.metrics_batcher.put_nowait((method, route, status, secs))
        else:
            self.metrics.observe_request(method, route, status, secs)

    def write_status(self, *ops: WriteOp) -> None:
        for op in ops:
            self.status_batcher.put_nowait(op)

    def spawn(self, coro: Coroutine[Any, Any, Any], name: str) -> asyncio.Task[Any]:
        """Background task that is kept referenced and cancelled at shutdown."""
        task = asyncio.create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    # -- agents ------------------------------------------------------------------------------
    def start_agent(self, agent: AgentState) -> None:
        worker = AgentWorker(self, agent)
        self.workers[agent.id] = worker
        worker.start()

    async def add_agent(self, project_id: str, body: dict[str, Any]) -> AgentState:
        from .creation import new_agent_row

        row = new_agent_row(project_id, body, time.time())
        await self.repo.insert_agent(row)
        agent = self.registry.add_from_row(row)
        self.start_agent(agent)
        return agent

    async def agent_lookup(self, project_id: str, agent_id: str) -> AgentState | None:
        """With ``--workers N`` each process has its own registry: a miss may be an agent that
        another worker created, so look in the database before answering 404."""
        agent = self.registry.get(project_id, agent_id)
        if agent is None and self.settings.workers > 1:
            row = await self.repo.get_agent(project_id, agent_id)
            if row is not None and self.registry.by_id(agent_id) is None:
                agent = self.registry.add_from_row(row)
                self.start_agent(agent)
        return agent

    async def sync_project(self, project_id: str) -> None:
        """Multi-worker: adopt the project's agents created by other workers."""
        if self.settings.workers <= 1:
            return
        for row in await self.repo.list_agents(project_id):
            if self.registry.by_id(row["id"]) is None:
                self.start_agent(self.registry.add_from_row(row))

    async def remove_agent(self, agent_id: str) -> None:
        agent = self.registry.remove(agent_id)
        if agent is not None:
            await self.stop_agent(agent_id)
            self._forget_series(agent_id)
            await self.repo.delete_agent(agent_id)

    async def remove_project(self, project_id: str) -> None:
        for agent in self.registry.remove_project(project_id):
            await self.stop_agent(agent.id)
            self._forget_series(agent.id)
        await self.repo.delete_project(project_id)

    def _forget_series(self, agent_id: str) -> None:
        """Deleted agents must not leave per-agent metric series behind (bounded cardinality)."""
        with contextlib.suppress(KeyError):
            self.metrics.queue_depth.remove(agent_id)
        self.metrics.accounting.cpu_seconds.pop(agent_id, None)
        self.cache.drop_agent(agent_id)

    async def create_project(self, body: dict[str, Any]) -> dict[str, Any]:
        """Persist the project, then run team creation (research + creation) in the background."""
        from .creation import requested_roles

        now = time.time()
        row = {
            "id": str(uuid.uuid4()),
            "name": body["name"],
            "domain": body["domain"],
            "status": "initializing",
            "phase": "initialization",
            "requirements": dumps(body.get("requirements") or {}),
            "metadata": dumps(body.get("metadata") or {}),
            "created_at": now,
            "updated_at": now,
        }
        if self._creations_pending >= MAX_PENDING_CREATIONS:
            raise overloaded("too many team creations in progress; retry later", 2, status=503)
        await self.repo.insert_project(row)
        roles = requested_roles(body.get("metadata") or {}, self.creator.library)
        self._creations_pending += 1
        self.spawn(self._create_team(row, roles), f"create-{row['id']}")
        return row

    async def _create_team(self, project: dict[str, Any], roles: list[str]) -> None:
        try:
            async with self._creation_slots:  # bounded concurrency: creation is model-call heavy
                await self.creator.create(project, roles)
        except Exception as exc:  # recorded on the project; never crashes the app
            await self.repo.update_project(
                project["id"],
                {"status": "failed", "phase": f"creation failed: {type(exc).__name__}: {exc}"[:200]},
            )
        finally:
            self._creations_pending -= 1

    async def activate_team(self) -> tuple[str, list[AgentState]]:
        """Create (once) the system project holding the 10-agent team and mark every agent active."""
        project_id = str(uuid.uuid5(uuid.NAMESPACE_URL, "motherbox-reference-team"))
        if await self.repo.get_project(project_id) is None:
            now = time.time()
            await self.repo.insert_project(
                {
                    "id": project_id,
                    "name": self.team.name,
                    "domain": "agent-team-creation",
                    "status": "completed",
                    "phase": "active",
                    "requirements": dumps({"description": self.team.description}),
                    "metadata": dumps({"system": True, "teamVersion": self.team.version}),
                    "created_at": now,
                    "updated_at": now,
                }
            )
        existing = {a.role for a in self.registry.in_project(project_id)}
        for role in self.team.roles:
            if role.role in existing:
                continue
            await self.add_agent(
                project_id,
                {
                    "name": role.name,
                    "role": role.role,
                    "personality": {k: str(v) for k, v in role.persona.items() if isinstance(v, str)},
                    "capabilities": [role.group, role.phase],
                    "commands": sorted(role.commands),
                },
            )
        agents = self.registry.in_project(project_id)
        for agent in agents:
            if agent.status in ("created", "offline"):
                self.set_agent_status(agent, "active")
        return project_id, agents

    async def stop_agent(self, agent_id: str) -> None:
        worker = self.workers.pop(agent_id, None)
        if worker is not None:
            await worker.stop()

    def set_agent_status(self, agent: AgentState, status: str) -> None:
        """In memory at once; persisted on change, at most once a second per agent. A change
        inside that second is persisted when it ends (the latest status wins), never dropped."""
        agent.status = status
        if status == agent.persisted_status:
            return
        wait = STATUS_PERSIST_INTERVAL_S - (time.monotonic() - agent.persisted_at)
        if wait <= 0:
            self._persist_status(agent)
        elif agent.id not in self._status_timers:
            loop = asyncio.get_running_loop()
            self._status_timers[agent.id] = loop.call_later(wait, self._persist_deferred_status, agent)

    def _persist_status(self, agent: AgentState) -> None:
        agent.persisted_status = agent.status
        agent.persisted_at = time.monotonic()
        self.write_status(self.repo.agent_status_op(agent.id, agent.status))

    def _persist_deferred_status(self, agent: AgentState) -> None:
        self._status_timers.pop(agent.id, None)
        if agent.status != agent.persisted_status and self.registry.by_id(agent.id) is agent:
            self._persist_status(agent)

    def _flush_agent_statuses(self) -> None:
        """Shutdown: persist every status change still waiting for its interval to end."""
        for handle in self._status_timers.values():
            handle.cancel()
        self._status_timers.clear()
        for agent in self.registry:
            if agent.status != agent.persisted_status:
                self._persist_status(agent)

    async def run_accounted(self, agent_id: str, coro: Coroutine[Any, Any, T]) -> T:
        """CPU time of every synchronous step of the handler is charged to the agent."""
        return await self.metrics.accounting.run(agent_id, coro)

    def on_record_changed(self, kind: str, record_id: str) -> None:
        """Event-based invalidation: a changed record drops every cache entry tagged with it."""
        self.cache.on_record_changed(kind, record_id)
        if kind == "agent":
            self.cache.drop_agent(record_id)

    # -- decisions, cache and model calls ------------------------------------------------------
    def decide_route(self, agent: AgentState, verb: str, work: Work) -> str:
        if verb in SIMPLE_VERBS:
            return "query"
        if verb == "handoff":
            return "handoff"
        if verb == "analyze":
            return "analysis"
        return "think"

    def route_decision(self, work: Work) -> Decision:
        """Which specialist profile handles the command (precomputed table or evaluated)."""
        decision = self.decisions.decide(DecisionRequest(work.command, work.parameters))
        self.telemetry.decisions.labels(decision.source).inc()
        if decision.rules_examined:
            self.telemetry.decision_rules.inc(decision.rules_examined)
        return decision

    async def model_call(self, prompt: str, max_tokens: int, kind: str, wait_s: float = 30.0) -> ModelReply:
        """A model call that waits out an open breaker (bounded) instead of failing at once,
        so acknowledged work completes automatically once the backend recovers."""
        deadline = time.monotonic() + wait_s
        while True:
            try:
                return await self.model.complete(prompt, max_tokens=max_tokens, kind=kind)
            except BreakerOpen:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise
                await asyncio.sleep(min(left, max(0.05, self.model.breaker.retry_after_s())))

    async def cached_read(self, key: str, loader: Any, tags: tuple[str, ...]) -> Any:
        """Read path through L2/L3 (shared), invalidated by record tags."""
        return await self.cache.get_or_load(key, loader, tags=tags)

    # -- command acknowledgment (the hot path) ------------------------------------------------
    async def submit_command(
        self,
        agent: AgentState,
        command: str,
        parameters: dict[str, Any],
        context: dict[str, Any],
        timeout_s: float,
        priority: int,
        wait: bool,
        nbytes: int,
    ) -> tuple[str, asyncio.Future[dict[str, Any]] | None]:
        """Validate capacity, persist (group commit), enqueue. Returns after the row is durable."""
        if not self.faults.settings.slowdown:  # hot path: skip the context manager when unused
            return await self._submit(agent, command, parameters, context, timeout_s, priority, wait, nbytes)
        async with self.faults.slowdown("ack"):
            return await self._submit(agent, command, parameters, context, timeout_s, priority, wait, nbytes)

    async def _submit(
        self,
        agent: AgentState,
        command: str,
        parameters: dict[str, Any],
        context: dict[str, Any],
        timeout_s: float,
        priority: int,
        wait: bool,
        nbytes: int,
    ) -> tuple[str, asyncio.Future[dict[str, Any]] | None]:
        mailbox = agent.mailbox
        try:
            mailbox.reserve()
        except MailboxFull:
            self.bus.stats.rejected += 1
            raise overloaded(
                f"agent {agent.id} mailbox is full ({mailbox.capacity} queued); retry later",
                self.settings.agents.retry_after_s,
            ) from None
        exec_id = new_execution_id()
        payload = {"parameters": parameters, "context": context, "timeout": timeout_s}
        row = {
            "id": exec_id,
            "type": "command",
            "project_id": agent.project_id,
            "agent_id": agent.id,
            "workflow_id": None,
            "command": command,
            "payload": dumps(payload),
            "priority": priority,
            "status": "queued",
            "progress": 0,
            "result": None,
            "error": None,
            "owner": self.owner,
            "created_at": time.time(),
            "start_time": None,
            "end_time": None,
        }
        try:
            await self.store.write(self.repo.execution_insert_op(row))
        except Exception as exc:
            mailbox.release()
            raise ApiError(
                503,
                "service_unavailable",
                f"could not persist the command: {type(exc).__name__}",
                headers={"Retry-After": "1"},
            ) from exc
        except BaseException:  # cancelled (client gone, shutdown): the reserved slot must not leak
            mailbox.release()
            raise
        future = asyncio.get_running_loop().create_future() if wait else None
        work = Work(
            "command",
            agent.id,
            command,
            parameters,
            context,
            priority,
            timeout_s,
            exec_id,
            future=future,
            nbytes=nbytes,
        )
        mailbox.put_reserved(work, priority)
        mailbox.bytes_held += nbytes
        self.bus.stats.sent[priority] += 1
        return exec_id, future

    def record_start(self, exec_id: str, started: float) -> None:
        self.write_status(self.repo.execution_start_op(exec_id, started))

    def record_finish(
        self, exec_id: str, agent_id: str, priority: int, status: str, result: Any, error: str | None
    ) -> None:
        now = time.time()
        self.write_status(
            self.repo.execution_finish_op(exec_id, status, result, error, now),
            self.repo.message_op(
                agent_id, "result" if status == "completed" else "error", priority, exec_id, result
            ),
        )

    # -- restart recovery --------------------------------------------------------------------
    def _owner_alive(self, owner: str | None) -> bool:
        if owner is None:
            return False
        if owner == self.owner:
            return True
        pid_text = owner.split(":", 1)[0]
        if not pid_text.isdigit() or int(pid_text) == os.getpid():
            return False
        try:
            os.kill(int(pid_text), 0)
        except (ProcessLookupError, PermissionError):
            return False
        return True

    async def recover(self) -> None:
        """Acknowledged work from a dead process: queued commands resume, the rest fail with a reason."""
        rows = await self.repo.unfinished_executions()
        for owner in {r["owner"] for r in rows}:
            if self._owner_alive(owner):
                continue
            await self.repo.fail_interrupted(owner, "runtime restarted while this execution was processing")
            await self.repo.claim_executions(owner, self.owner)
        failures = []
        for row in await self.repo.unfinished_executions():
            if row["owner"] != self.owner or row["status"] != "queued":
                continue
            agent = self.registry.by_id(row["agent_id"] or "")
            if row["type"] != "command" or agent is None:
                reason = (
                    "workflow interrupted by a restart"
                    if row["type"] == "workflow"
                    else "agent no longer exists"
                )
                failures.append(
                    self.repo.execution_finish_op(row["id"], "failed", None, reason, time.time(), 0)
                )
                continue
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
        if failures:
            await self.store.write(*failures)

    # -- health ------------------------------------------------------------------------------
    async def _probe_backend_loop(self) -> None:
        async with httpx.AsyncClient(timeout=1.0) as client:
            while True:
                try:
                    resp = await client.get(self.model.base_url + "/health")
                    ok = resp.status_code == 200
                    self.backend_probe = {
                        "status": "ok" if ok else "error",
                        "message": f"HTTP {resp.status_code}",
                    }
                except httpx.HTTPError as exc:
                    self.backend_probe = {"status": "error", "message": f"unreachable: {type(exc).__name__}"}
                await asyncio.sleep(2.0)

    async def health(self) -> dict[str, Any]:
        components: dict[str, dict[str, Any]] = {}
        try:
            await asyncio.wait_for(self.store.ping(), timeout=1.0)
            components["db"] = {"status": "ok", "message": self.store.dialect}
        except Exception as exc:
            components["db"] = {"status": "error", "message": f"{type(exc).__name__}: {exc}"[:200]}
        breaker = self.model.breaker.state
        backend = dict(self.backend_probe)
        backend["breaker"] = breaker
        if breaker != "closed" and backend["status"] == "ok":
            backend["status"] = "degraded"
            backend["message"] = f"circuit {breaker}"
        components["model_backend"] = backend
        components["bus"] = self._bus_health()
        components["writer"] = {"status": "ok", "pending": self.store.writer.pending()}
        faults = self.faults.snapshot()
        components["faults"] = {
            "status": "degraded" if faults["active"] else "ok",
            "message": ", ".join(faults["active"]) or "no faults injected",
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

    def _bus_health(self) -> dict[str, Any]:
        depth = self.registry.total_depth()
        cap = self.settings.agents.mailbox_capacity
        worst = max((len(a.mailbox) for a in self.registry), default=0)
        status = "degraded" if worst >= 0.9 * cap else "ok"
        return {
            "status": status,
            "message": f"{depth} queued across {len(self.registry)} agents",
            "queueDepth": depth,
            "rejected": self.bus.stats.rejected,
        }


def _overall(components: dict[str, dict[str, Any]]) -> str:
    if components["db"]["status"] != "ok":
        return "unhealthy"
    if any(c.get("status") not in ("ok",) for c in components.values()):
        return "degraded"
    return "healthy"
