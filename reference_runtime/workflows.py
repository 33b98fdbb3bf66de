"""Workflow execution: steps from a workflow definition, event-driven progression.

Each step names an agent (id, name or role) and an action (a command). Dependencies come from
``dependsOn: [stepId]`` or ``conditions: ["after:<stepId>"]``; without either, a step follows
the previous one unless the workflow sets ``parallel: true``. Independent steps run
concurrently, at most ``workflows.max_parallel`` (5) at a time. A finished step immediately
releases its dependents (no polling); a failed step skips everything downstream.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from .agents.mailbox import MailboxFull
from .agents.registry import Registry, Work
from .bus import Bus
from .commands import ExecutionLog, execution_row
from .errors import iso
from .fields import WORKFLOW_STEPS
from .store import Repo, Store
from .store.repo import loads
from .tasks import BackgroundTasks

MAX_STEPS = WORKFLOW_STEPS.max
MAILBOX_RETRIES = 50


class WorkflowDefinitionError(ValueError):
    pass


@dataclass
class StepPlan:
    id: str
    agent: str
    action: str
    input: dict[str, Any]
    deps: list[str] = field(default_factory=list)


def plan_steps(steps: list[dict[str, Any]], parallel: bool) -> list[StepPlan]:
    """Validate steps and resolve their dependencies; raises WorkflowDefinitionError."""
    if not steps:
        raise WorkflowDefinitionError("steps must not be empty")
    if len(steps) > MAX_STEPS:
        raise WorkflowDefinitionError(f"at most {MAX_STEPS} steps")
    plans: list[StepPlan] = []
    for i, raw in enumerate(steps):
        plans.append(_plan_one(i, raw, plans, parallel))
    ids = [p.id for p in plans]
    if len(set(ids)) != len(ids):
        raise WorkflowDefinitionError("step ids must be unique")
    for p in plans:
        unknown = [d for d in p.deps if d not in ids]
        if unknown:
            raise WorkflowDefinitionError(f"step {p.id!r} depends on unknown steps {unknown}")
    _check_acyclic(plans)
    return plans


def _plan_one(i: int, raw: Any, previous: list[StepPlan], parallel: bool) -> StepPlan:
    if not isinstance(raw, dict):
        raise WorkflowDefinitionError(f"steps[{i}] must be an object")
    agent, action = raw.get("agent"), raw.get("action")
    if not isinstance(agent, str) or not agent:
        raise WorkflowDefinitionError(f"steps[{i}].agent must be a non-empty string")
    if not isinstance(action, str) or not action:
        raise WorkflowDefinitionError(f"steps[{i}].action must be a non-empty string")
    step_input = raw.get("input", {})
    if not isinstance(step_input, dict):
        raise WorkflowDefinitionError(f"steps[{i}].input must be an object")
    step_id = raw.get("id", f"step-{i + 1}")
    if not isinstance(step_id, str) or not step_id:
        raise WorkflowDefinitionError(f"steps[{i}].id must be a non-empty string")
    deps = _deps(i, raw, previous, parallel)
    return StepPlan(step_id, agent, action, step_input, deps)


def _deps(i: int, raw: dict[str, Any], previous: list[StepPlan], parallel: bool) -> list[str]:
    explicit = raw.get("dependsOn")
    conditions = raw.get("conditions", [])
    if not isinstance(conditions, list) or not all(isinstance(c, str) for c in conditions):
        raise WorkflowDefinitionError(f"steps[{i}].conditions must be a list of strings")
    after = [c[6:].strip() for c in conditions if c.startswith("after:")]
    if explicit is not None:
        if not isinstance(explicit, list) or not all(isinstance(d, str) for d in explicit):
            raise WorkflowDefinitionError(f"steps[{i}].dependsOn must be a list of step ids")
        return [*explicit, *after]
    if after:
        return after
    return [] if parallel or not previous else [previous[-1].id]


def _check_acyclic(plans: list[StepPlan]) -> None:
    deps = {p.id: set(p.deps) for p in plans}
    done: set[str] = set()
    while deps:
        ready = [k for k, v in deps.items() if v <= done]
        if not ready:
            raise WorkflowDefinitionError(f"dependency cycle among steps {sorted(deps)}")
        for k in ready:
            done.add(k)
            del deps[k]


class _Run:
    """State of one workflow execution."""

    def __init__(
        self,
        engine: WorkflowEngine,
        exec_id: str,
        project_id: str,
        plans: list[StepPlan],
        wf_input: dict[str, Any],
    ) -> None:
        self.engine = engine
        self.exec_id = exec_id
        self.project_id = project_id
        self.plans = {p.id: p for p in plans}
        self.order = [p.id for p in plans]
        self.input = wf_input
        self.results: dict[str, dict[str, Any]] = {}
        self.waiting = {p.id: len(p.deps) for p in plans}
        self.dependents: dict[str, list[str]] = {p.id: [] for p in plans}
        for p in plans:
            for d in p.deps:
                self.dependents[d].append(p.id)
        self.done = asyncio.Event()
        self.slots = asyncio.Semaphore(engine.deps.max_parallel)
        self.tasks: set[asyncio.Task[None]] = set()
        self.max_concurrent = 0
        self._running = 0

    def start(self) -> None:
        for step_id, n in self.waiting.items():
            if n == 0:
                self._launch(step_id)

    def _launch(self, step_id: str) -> None:
        task = asyncio.create_task(self._run_step(self.plans[step_id]))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _run_step(self, plan: StepPlan) -> None:
        async with self.slots:
            self._running += 1
            self.max_concurrent = max(self.max_concurrent, self._running)
            try:
                result = await self.engine.run_step(self, plan)
            except Exception as exc:  # a step that dies must still complete, or the run never ends
                error = f"internal error: {type(exc).__name__}: {exc}"[:500]
                result = {"stepId": plan.id, "agent": plan.agent, "status": "failed", "error": error}
            finally:
                self._running -= 1
        self._complete(plan.id, result)

    def _complete(self, step_id: str, result: dict[str, Any]) -> None:
        self.results[step_id] = result
        for dep in self.dependents[step_id]:
            if result["status"] != "completed":
                self._skip(dep, f"upstream step {step_id!r} {result['status']}")
            else:
                self.waiting[dep] -= 1
                if self.waiting[dep] == 0 and dep not in self.results:
                    self._launch(dep)
        self.engine.progress(self)
        if len(self.results) == len(self.plans):
            self.done.set()

    def _skip(self, step_id: str, why: str) -> None:
        if step_id in self.results:
            return
        plan = self.plans[step_id]
        self.results[step_id] = {"stepId": step_id, "agent": plan.agent, "status": "skipped", "error": why}
        for dep in self.dependents[step_id]:
            self._skip(dep, f"upstream step {step_id!r} skipped")


@dataclass(frozen=True)
class WorkflowDeps:
    max_parallel: int
    owner: str
    store: Store
    repo: Repo
    registry: Registry
    bus: Bus
    executions: ExecutionLog
    tasks: BackgroundTasks


class WorkflowEngine:
    def __init__(self, deps: WorkflowDeps) -> None:
        self.deps = deps

    async def start(
        self, project_id: str, wf: dict[str, Any], wf_input: dict[str, Any], wait: bool
    ) -> tuple[str, dict[str, Any] | None]:
        """Persist the run (durable before it starts); with ``wait`` return its result."""
        plans = plan_steps(loads(wf["steps"]) or [], bool(wf["parallel"]))
        exec_id = "exe-" + uuid.uuid4().hex
        row = execution_row(
            exec_id, "workflow", project_id, {"input": wf_input}, 2, self.deps.owner, workflow_id=wf["id"]
        )
        await self.deps.store.write(self.deps.repo.execution_insert_op(row))
        await self.deps.repo.mark_workflow_executed(wf["id"])
        coro = self.run(exec_id, project_id, wf["id"], plans, wf_input)
        if wait:
            return exec_id, await coro
        self.deps.tasks.spawn(coro, f"workflow-{exec_id}")
        return exec_id, None

    async def run(
        self, exec_id: str, project_id: str, workflow_id: str, plans: list[StepPlan], wf_input: dict[str, Any]
    ) -> dict[str, Any]:
        start = time.time()
        self.deps.executions.start(exec_id, start)
        state = _Run(self, exec_id, project_id, plans, wf_input)
        state.start()
        await state.done.wait()
        end = time.time()
        steps = [state.results[s] for s in state.order]
        failed = [s for s in steps if s["status"] != "completed"]
        status = "failed" if failed else "completed"
        result = {
            "id": exec_id,
            "workflowId": workflow_id,
            "status": status,
            "startTime": iso(start),
            "endTime": iso(end),
            "duration": int((end - start) * 1000),
            "steps": steps,
            "output": {s["stepId"]: s.get("output") for s in steps if s["status"] == "completed"},
            "maxConcurrency": state.max_concurrent,
        }
        error = f"{len(failed)} step(s) did not complete" if failed else None
        if error:
            result["error"] = error
        self.deps.executions.finish(exec_id, status, result, error, end)
        return result

    def progress(self, state: _Run) -> None:
        pct = int(100 * len(state.results) / max(1, len(state.plans)))
        if pct < 100:
            self.deps.executions.progress(state.exec_id, min(99, max(10, pct)))

    async def run_step(self, state: _Run, plan: StepPlan) -> dict[str, Any]:
        base = {"stepId": plan.id, "agent": plan.agent}
        agent = self.deps.registry.find(state.project_id, plan.agent)
        if agent is None:
            return {**base, "status": "failed", "error": f"agent {plan.agent!r} not found in project"}
        upstream = {d: state.results[d].get("output") for d in plan.deps if d in state.results}
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        params = {**state.input, **plan.input}
        ctx = {"workflowExecutionId": state.exec_id, "stepId": plan.id, "upstream": upstream}
        work = Work("step", agent.id, plan.action, params, ctx, 2, 30.0, future=future)
        for _ in range(MAILBOX_RETRIES):
            try:
                self.deps.bus.send(work, sender="workflow-engine")
                break
            except MailboxFull:
                await asyncio.sleep(0.05)
        else:
            return {**base, "status": "failed", "error": "agent mailbox full"}
        outcome = await future
        result = {
            **base,
            "agent": agent.id,
            "status": outcome["status"],
            "output": outcome.get("output") or {},
        }
        if outcome.get("error"):
            result["error"] = outcome["error"]
        return result
