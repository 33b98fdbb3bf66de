"""Command submission (the acknowledgment hot path) and the execution records runs write.

``CommandSubmitter.submit``: reserve a mailbox slot (full → 429 before anything is written),
insert the execution through the group-commit writer and await its commit, then put the work in
the mailbox. ``ExecutionLog``: start / progress / finish updates, fire-and-forget through the
status batcher (one transaction per batch, ordering kept).
"""

from __future__ import annotations

import asyncio
import itertools
import secrets
import time
from dataclasses import dataclass
from typing import Any

from .agents.mailbox import Mailbox, MailboxFull
from .agents.registry import AgentState, Work
from .batching import Batcher
from .bus import BusStats
from .errors import ApiError, overloaded
from .faults import FaultInjector
from .store import Repo, Store, WriteOp
from .store.repo import dumps

_BOOT = secrets.token_hex(10)  # random per process start: ids never repeat across restarts
_SEQ = itertools.count(1)


def new_execution_id() -> str:
    """``exe-`` + 32 hex chars; a counter under a random boot prefix (cheaper than uuid4)."""
    return f"exe-{_BOOT}{next(_SEQ):012x}"


def execution_row(
    exec_id: str,
    kind: str,
    project_id: str,
    payload: dict[str, Any],
    priority: int,
    owner: str,
    *,
    agent_id: str | None = None,
    workflow_id: str | None = None,
    command: str | None = None,
) -> dict[str, Any]:
    """A new ``queued`` row of the executions table (commands and workflow runs)."""
    return {
        "id": exec_id,
        "type": kind,
        "project_id": project_id,
        "agent_id": agent_id,
        "workflow_id": workflow_id,
        "command": command,
        "payload": dumps(payload),
        "priority": priority,
        "status": "queued",
        "progress": 0,
        "result": None,
        "error": None,
        "owner": owner,
        "created_at": time.time(),
        "start_time": None,
        "end_time": None,
    }


class ExecutionLog:
    """Status changes of executions; not awaited, so they never hold up the work itself."""

    def __init__(self, repo: Repo, status_batcher: Batcher[WriteOp]) -> None:
        self._repo = repo
        self._batcher = status_batcher

    def _write(self, *ops: WriteOp) -> None:
        for op in ops:
            self._batcher.put_nowait(op)

    def start(self, exec_id: str, started: float) -> None:
        self._write(self._repo.execution_start_op(exec_id, started))

    def progress(self, exec_id: str, percent: int) -> None:
        self._write(self._repo.execution_progress_op(exec_id, percent))

    def finish(self, exec_id: str, status: str, result: Any, error: str | None, ended: float) -> None:
        self._write(self._repo.execution_finish_op(exec_id, status, result, error, ended))

    def finish_command(
        self, exec_id: str, agent_id: str, priority: int, status: str, result: Any, error: str | None
    ) -> None:
        """The finish update plus the agent's result/error message (its history for ``*analyze``)."""
        kind = "result" if status == "completed" else "error"
        self._write(
            self._repo.execution_finish_op(exec_id, status, result, error, time.time()),
            self._repo.message_op(agent_id, kind, priority, exec_id, result),
        )


@dataclass(frozen=True)
class SubmissionDeps:
    store: Store
    repo: Repo
    bus_stats: BusStats
    faults: FaultInjector
    owner: str
    retry_after_s: int


class CommandSubmitter:
    def __init__(self, deps: SubmissionDeps) -> None:
        self._deps = deps

    async def submit(
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
        """Validate capacity, persist (group commit), enqueue. Returns after the row is durable;
        with ``wait`` also a future for the outcome."""
        faults = self._deps.faults
        if not faults.settings.slowdown:  # hot path: skip the context manager when unused
            return await self._submit(agent, command, parameters, context, timeout_s, priority, wait, nbytes)
        async with faults.slowdown("ack"):
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
        mailbox = self._reserve(agent)
        # From here every way out (bad payload, failed or cancelled commit, anything else) either
        # hands the reserved slot to the queued work or gives it back: a leaked reservation
        # would count against the capacity forever (issue 12: ~1000 bad requests locked an
        # agent out with 429 "mailbox is full" while nothing was queued).
        queued = False
        try:
            exec_id = new_execution_id()
            payload = {"parameters": parameters, "context": context, "timeout": timeout_s}
            row = execution_row(
                exec_id,
                "command",
                agent.project_id,
                payload,
                priority,
                self._deps.owner,
                agent_id=agent.id,
                command=command,
            )
            await self._persist(row)
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
            queued = True
        finally:
            if not queued:
                mailbox.release()
        mailbox.bytes_held += nbytes
        self._deps.bus_stats.sent[priority] += 1
        return exec_id, future

    def _reserve(self, agent: AgentState) -> Mailbox[Work]:
        mailbox = agent.mailbox
        try:
            mailbox.reserve()
        except MailboxFull:
            self._deps.bus_stats.rejected += 1
            raise overloaded(
                f"agent {agent.id} mailbox is full ({mailbox.capacity} queued); retry later",
                self._deps.retry_after_s,
            ) from None
        return mailbox

    async def _persist(self, row: dict[str, Any]) -> None:
        """Await the group commit; a failed commit is a 503 with ``Retry-After``."""
        try:
            await self._deps.store.write(self._deps.repo.execution_insert_op(row))
        except ApiError:  # the store refused the input itself (a 400), not a failed commit
            raise
        except Exception as exc:
            raise ApiError(
                503,
                "service_unavailable",
                f"could not persist the command: {type(exc).__name__}",
                headers={"Retry-After": "1"},
            ) from exc
