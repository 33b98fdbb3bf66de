"""The per-agent worker: takes work from the mailbox in order and runs up to N at once.

Work types (the guide's response-time targets):
- ``*help`` / ``*status``: simple query, answered from memory, no model call;
- ``*analyze``: complex analysis, real CPU work over the agent's stored history + model calls;
- ``*handoff``: context transfer to another agent (handoff protocol);
- anything else: one model call ("thinking") with the agent's persona.
"""

from __future__ import annotations

import asyncio
import itertools
import math
import re
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import orjson

from ..cache import LayeredCache
from ..commands import ExecutionLog
from ..decisions import Decision, DecisionEngine, DecisionRequest
from ..faults import FaultInjector
from ..model_client import ModelClient, ModelError
from ..store import Repo
from ..telemetry import Telemetry
from .registry import AgentState, Work

_TOKEN = re.compile(r"[a-z]{3,}")
SIMPLE_VERBS = frozenset({"help", "status"})


class HandoffHandler(Protocol):
    """The handoff protocol as the worker needs it (implemented by ``handoff.HandoffManager``)."""

    async def receive(self, agent: AgentState, work: Work) -> None: ...

    async def from_command(self, agent: AgentState, work: Work) -> dict[str, Any]: ...


@dataclass(frozen=True)
class WorkerDeps:
    concurrency: int
    history_window: int
    repo: Repo
    cache: LayeredCache
    model: ModelClient
    decisions: DecisionEngine
    telemetry: Telemetry
    faults: FaultInjector
    executions: ExecutionLog
    handoffs: HandoffHandler
    set_status: Callable[[AgentState, str], None]


class CommandFailed(Exception):
    pass


def command_verb(command: str) -> str:
    head = command.strip().split(None, 1)
    return head[0].lstrip("*").lower() if head else ""


def route_for(verb: str) -> str:
    """The named code path a command takes (also what the ``slowdown`` fault targets)."""
    if verb in SIMPLE_VERBS:
        return "query"
    if verb == "handoff":
        return "handoff"
    if verb == "analyze":
        return "analysis"
    return "think"


def abandon(work: Work, reason: str) -> None:
    """Resolve the waiter of work that will not run (agent stopped) as failed; nothing is
    recorded, so a persisted execution stays queued/running for recovery after a restart."""
    if work.future is not None and not work.future.done():
        work.future.set_result({"status": "failed", "output": None, "error": reason, "duration": 0})


class AgentWorker:
    def __init__(self, deps: WorkerDeps, agent: AgentState) -> None:
        self.deps = deps
        self.agent = agent
        self._slots = asyncio.Semaphore(deps.concurrency)
        self._tasks: set[asyncio.Task[None]] = set()

    def start(self) -> None:
        self.agent.task = asyncio.create_task(self._run(), name=f"agent-{self.agent.id}")

    async def stop(self) -> None:
        task = self.agent.task
        if task is not None:
            task.cancel()
        for t in list(self._tasks):
            t.cancel()
        await asyncio.gather(*([task] if task else []), *self._tasks, return_exceptions=True)
        mailbox = self.agent.mailbox
        while len(mailbox):  # queued work will not run here: release whoever waits on it
            abandon(mailbox.get_nowait(), "agent stopped")

    async def _run(self) -> None:
        mailbox = self.agent.mailbox
        while True:
            await self._slots.acquire()
            work = await mailbox.get()
            mailbox.bytes_held = max(0, mailbox.bytes_held - work.nbytes)
            task = asyncio.create_task(self._handle(work))
            self._tasks.add(task)
            task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        self._slots.release()

    async def _handle(self, work: Work) -> None:
        agent = self.agent
        agent.in_flight += 1
        self.deps.set_status(agent, "active")
        try:
            # CPU time of every synchronous step of the handler is charged to the agent.
            await self.deps.telemetry.metrics.accounting.run(agent.id, self._dispatch(work))
        finally:
            agent.in_flight -= 1
            agent.last_active = time.time()
            if agent.in_flight == 0 and len(agent.mailbox) == 0:
                # Lifecycle: active while working; idle when done, error if the last command failed.
                self.deps.set_status(agent, "error" if agent.last_failed else "idle")

    async def _dispatch(self, work: Work) -> None:
        if work.kind == "handoff":
            await self.deps.handoffs.receive(self.agent, work)
            return
        start = time.monotonic()
        started_wall = time.time()
        model_failures = self.deps.model.failures
        if work.execution_id is not None:
            self.deps.executions.start(work.execution_id, started_wall)
        try:
            output = await asyncio.wait_for(self.execute(work), timeout=max(0.001, work.timeout_s))
        except TimeoutError:
            self._finish(work, "failed", None, self._timeout_reason(work, model_failures), start)
        except (CommandFailed, ModelError) as exc:
            self._finish(work, "failed", None, str(exc)[:500], start)
        except asyncio.CancelledError:
            abandon(work, "agent stopped")  # a waiter must not wait forever; the row stays for recovery
            raise
        except Exception as exc:  # never let one command kill the worker
            self._finish(work, "failed", None, f"internal error: {type(exc).__name__}: {exc}"[:500], start)
        else:
            self._finish(work, "completed", output, None, start)

    def _timeout_reason(self, work: Work, model_failures_at_start: int) -> str:
        """A command out of time while the model backend was failing says so (and why)."""
        reason = f"timed out after {work.timeout_s:g}s"
        model = self.deps.model
        if model.failures > model_failures_at_start or model.breaker.state != "closed":
            reason += f" waiting for the model backend to recover (last error: {model.last_error})"
        return reason

    def _finish(self, work: Work, status: str, output: Any, error: str | None, start: float) -> None:
        duration_ms = int((time.monotonic() - start) * 1000)
        agent = self.agent
        agent.processed += 1
        agent.last_failed = status != "completed"
        if agent.last_failed:
            agent.failed += 1
        result = {"command": work.command, "output": output, "durationMs": duration_ms}
        if work.execution_id is not None:
            self.deps.executions.finish_command(
                work.execution_id, agent.id, work.priority, status, result, error
            )
        if work.future is not None and not work.future.done():
            work.future.set_result(
                {"status": status, "output": output, "error": error, "duration": duration_ms}
            )

    async def execute(self, work: Work) -> dict[str, Any]:
        verb = command_verb(work.command)
        if not verb:
            raise CommandFailed("empty command")
        route = route_for(verb)
        faults = self.deps.faults
        if not faults.settings.slowdown:
            return await self._route(route, verb, work)
        async with faults.slowdown(route):  # named code path for the slowdown fault
            return await self._route(route, verb, work)

    async def _route(self, route: str, verb: str, work: Work) -> dict[str, Any]:
        if route == "query":
            return self.simple_query(verb)
        if route == "handoff":
            return await self.deps.handoffs.from_command(self.agent, work)
        if route == "analysis":
            return await self.complex_analysis(work)
        return await self.think(work)

    def simple_query(self, verb: str) -> dict[str, Any]:
        agent = self.agent
        if verb == "help":
            return {
                "agent": agent.name,
                "commands": [f"*{c}" for c in agent.commands] or ["*help", "*status"],
            }
        return {
            "agent": agent.name,
            "status": agent.status,
            "queueDepth": len(agent.mailbox),
            "processed": agent.processed,
            "failed": agent.failed,
        }

    def _decide(self, work: Work) -> Decision:
        """Which specialist profile handles the command (precomputed table or evaluated)."""
        decision = self.deps.decisions.decide(DecisionRequest(work.command, work.parameters))
        self.deps.telemetry.count_decision(decision)
        return decision

    async def think(self, work: Work) -> dict[str, Any]:
        """One model call, through the cache: L1 (this agent) then L2/L3 (agents sharing the role)."""
        agent = self.agent
        decision = self._decide(work)
        params = (
            orjson.dumps(work.parameters, option=orjson.OPT_SORT_KEYS).decode() if work.parameters else ""
        )
        key = f"think:{agent.role.lower()}:{decision.target}:{work.command.strip()}:{params}"
        loaded = False

        async def load() -> dict[str, Any]:
            nonlocal loaded
            loaded = True
            prompt = _prompt(agent, work, decision.target)
            reply = await self.deps.model.complete_patiently(prompt, 256, "command", work.timeout_s)
            return {
                "response": reply.text[:400],
                "model": {"attempts": reply.attempts, "ms": round(reply.seconds * 1000, 2)},
            }

        tags = (f"agent:{agent.id}", f"project:{agent.project_id}")
        result = await self.deps.cache.get_or_load(key, load, agent_id=agent.id, tags=tags)
        if not loaded:
            self.deps.telemetry.model_cache.inc()
        routing = {
            "target": decision.target,
            "confidence": round(decision.confidence, 4),
            "source": decision.source,
        }
        return {"agent": agent.name, **result, "cached": not loaded, "routing": routing}

    async def complex_analysis(self, work: Work) -> dict[str, Any]:
        agent = self.agent
        history = await self.deps.repo.recent_messages(agent.id, self.deps.history_window)
        stats = analyze_history(history)  # real CPU work over stored history
        decision = self._decide(work)
        terms = stats["topTerms"][:10]
        plan = await self.deps.model.complete_patiently(
            f"Plan a {decision.target} analysis of {work.command}: {terms}", 128, "plan", work.timeout_s
        )
        summary = await self.deps.model.complete_patiently(
            f"Summarize findings for {agent.name}: {plan.text[:200]}", 256, "summary", work.timeout_s
        )
        return {
            "agent": agent.name,
            "history": stats,
            "plan": plan.text[:200],
            "summary": summary.text[:400],
            "routing": {"target": decision.target, "source": decision.source},
        }


def _prompt(agent: AgentState, work: Work, specialty: str) -> str:
    persona = orjson.dumps(agent.personality).decode()[:500]
    params = orjson.dumps(work.parameters).decode()[:1000] if work.parameters else "{}"
    head = f"You are {agent.name}, {agent.role} ({specialty} profile). Persona: {persona}"
    return f"{head}\nCommand: {work.command}\nParameters: {params}"


def analyze_history(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Term frequencies, per-type counts, pacing and pairwise similarity of recent messages."""
    bags: list[Counter[str]] = []
    types: Counter[str] = Counter()
    terms: Counter[str] = Counter()
    stamps: list[float] = []
    for row in rows:
        bag = Counter(_TOKEN.findall(str(row.get("body", "")).lower()))
        bags.append(bag)
        terms.update(bag)
        types[str(row.get("message_type"))] += 1
        stamps.append(float(row.get("timestamp") or 0.0))
    sims = _pairwise_similarity(bags[:60])
    gaps = [a - b for a, b in itertools.pairwise(stamps)]
    return {
        "messages": len(rows),
        "byType": dict(types),
        "topTerms": [t for t, _ in terms.most_common(20)],
        "meanGapS": round(sum(gaps) / len(gaps), 4) if gaps else None,
        "meanSimilarity": round(sum(sims) / len(sims), 4) if sims else None,
    }


def _pairwise_similarity(bags: list[Counter[str]]) -> list[float]:
    norms = [math.sqrt(sum(v * v for v in b.values())) or 1.0 for b in bags]
    out: list[float] = []
    for i in range(len(bags)):
        for j in range(i + 1, len(bags)):
            small, big = (bags[i], bags[j]) if len(bags[i]) < len(bags[j]) else (bags[j], bags[i])
            dot = sum(v * big.get(k, 0) for k, v in small.items())
            out.append(dot / (norms[i] * norms[j]))
    return out
