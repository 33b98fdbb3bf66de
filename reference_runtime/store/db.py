"""The store: one async engine, a group-commit writer, and parameterized read helpers.

Every write goes through :class:`GroupCommitWriter`: callers await a future that resolves only
after the transaction holding their row has committed, so a 202 is never sent for a command
that is not on disk. Concurrent writers share one transaction (group commit); with the
``batching`` switch off each write gets its own transaction.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Executable, event, func, select, text
from sqlalchemy.engine import Row
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool

from ..errors import ApiError
from . import schema
from .sqlite_writer import SqliteBatchExecutor, sqlite_path

QueryObserver = Callable[[float, str], None]
#: Called after each DB call with its elapsed seconds (fault injection adds latency here).
DelayHook = Callable[[float], Awaitable[Any]]


@dataclass(slots=True)
class WriteOp:
    key: str  # ops with the same key share one executemany
    stmt: Executable
    params: dict[str, Any]
    future: asyncio.Future[None] | None = None
    #: Ops that must commit in this op's transaction (a status change's webhook outbox rows).
    extra: tuple[WriteOp, ...] = ()


@dataclass
class StoreStats:
    connections_opened: int = 0
    pool_waits: int = 0
    transactions: int = 0
    writes: int = 0
    batch_sizes: list[int] = field(default_factory=list)

    def record_batch(self, size: int) -> None:
        self.transactions += 1
        self.writes += size
        if len(self.batch_sizes) < 10_000:  # bounded: only used by tests and benches
            self.batch_sizes.append(size)


#: Fixed-shape ops are grouped into one executemany each, in this order (inserts before the
#: updates that may target the same row). Ops with other keys run afterwards in arrival order.
KEY_ORDER = {
    k: i
    for i, k in enumerate(
        (
            "project_ins",
            "agent_ins",
            "wf_ins",
            "ho_ins",
            "exec_ins",
            "exec_start",
            "exec_progress",
            "exec_finish",
            "msg_ins",
            "audit_ins",
            "agent_status",
        )
    )
}


def plan_batch(ops: Sequence[WriteOp]) -> list[tuple[Executable, list[dict[str, Any]]]]:
    return [(stmt, params) for _key, stmt, params in plan_batch_keyed(ops)]


#: Ops whose statement is a module-level constant (safe to cache the compiled SQL by identity).
CONSTANT_STATEMENT_KEYS = frozenset(
    {"exec_ins", "exec_start", "exec_progress", "exec_finish", "msg_ins", "audit_ins", "agent_status"}
)


def plan_batch_keyed(ops: Sequence[WriteOp]) -> list[tuple[str, Executable, list[dict[str, Any]]]]:
    """Group a batch into as few statements as possible.

    A ``processing`` mark whose ``finish`` is in the same batch is dropped: it would be
    overwritten in the same transaction anyway.
    """
    if any(op.extra for op in ops):
        ops = [one for op in ops for one in (op, *op.extra)]
    finished = {op.params["b_id"] for op in ops if op.key == "exec_finish"}
    grouped: dict[str, list[WriteOp]] = {}
    tail: list[WriteOp] = []
    for op in ops:
        if op.key == "exec_start" and op.params["b_id"] in finished:
            continue
        if op.key in KEY_ORDER:
            grouped.setdefault(op.key, []).append(op)
        else:
            tail.append(op)
    ordered = sorted(grouped.items(), key=lambda kv: KEY_ORDER[kv[0]])
    plan = [(key, g[0].stmt, [o.params for o in g]) for key, g in ordered]
    plan.extend((op.key, op.stmt, [op.params]) for op in tail)
    return plan


#: SQLSTATE class 22, "data exception": a value the database cannot hold (PostgreSQL: a NUL
#: character in text, a string longer than its column). SQLite stores these as given.
DATA_EXCEPTION_CLASS = "22"


@contextlib.contextmanager
def unstorable_values_are_bad_requests() -> Iterator[None]:
    """A value PostgreSQL refuses is the client's input, not a server fault: 400, not 500."""
    try:
        yield
    except DBAPIError as exc:
        sqlstate = str(getattr(exc.orig, "sqlstate", None) or "")
        if not sqlstate.startswith(DATA_EXCEPTION_CLASS):
            raise
        reason = str(exc.orig).splitlines()[0][:200] if exc.orig is not None else sqlstate
        raise ApiError(400, "bad_request", f"a value cannot be stored: {reason}") from None


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    # WAL + NORMAL survives a process kill (only an OS crash can lose the last commits).
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA busy_timeout=10000")
    cur.execute("PRAGMA foreign_keys=OFF")
    cur.close()


def make_engine(url: str, pooling: bool, pool_min: int, pool_max: int, idle_timeout_s: float) -> AsyncEngine:
    """Pooling on: the guide's pool (min 5, max 20, recycle at the idle timeout, pre-ping).
    Pooling off: a brand-new connection for every checkout."""
    kwargs: dict[str, Any] = {}
    if pooling:
        kwargs.update(
            pool_size=pool_min,
            max_overflow=max(0, pool_max - pool_min),
            pool_recycle=idle_timeout_s,
            pool_pre_ping=True,
            pool_timeout=30,
        )
    else:
        kwargs["poolclass"] = NullPool
    engine = create_async_engine(url, **kwargs)
    if engine.dialect.name == "sqlite":
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
    return engine


class GroupCommitWriter:
    """Single writer task; drains whatever is queued into one transaction."""

    def __init__(self, store: Store, max_batch: int) -> None:
        self._store = store
        self._max_batch = max(1, max_batch)
        self._queue: asyncio.Queue[WriteOp] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="group-commit-writer")

    async def stop(self) -> None:
        # Flush what is queued so nothing acknowledged is dropped at shutdown.
        while not self._queue.empty():
            await asyncio.sleep(0.01)
            if self._task is None or self._task.done():
                break
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def pending(self) -> int:
        return self._queue.qsize()

    def submit(self, op: WriteOp) -> None:
        self._queue.put_nowait(op)

    async def write(self, ops: Sequence[WriteOp]) -> None:
        loop = asyncio.get_running_loop()
        if len(ops) == 1:  # the ack path: skip gather's bookkeeping
            op = ops[0]
            op.future = loop.create_future()
            self._queue.put_nowait(op)
            await op.future
            return
        futures = []
        for op in ops:
            op.future = loop.create_future()
            futures.append(op.future)
            self._queue.put_nowait(op)
        await asyncio.gather(*futures)

    async def _run(self) -> None:
        while True:
            batch = [await self._queue.get()]
            while len(batch) < self._max_batch and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            try:
                await self._store.commit_ops(batch)
            except Exception:  # isolate a bad op so the others still commit
                await self._commit_one_by_one(batch)
                continue
            for op in batch:
                if op.future is not None and not op.future.done():
                    op.future.set_result(None)

    async def _commit_one_by_one(self, batch: list[WriteOp]) -> None:
        for op in batch:
            try:
                await self._store.commit_ops([op])
            except Exception as exc:
                if op.future is not None and not op.future.done():
                    op.future.set_exception(exc)
            else:
                if op.future is not None and not op.future.done():
                    op.future.set_result(None)


class Store:
    def __init__(
        self,
        url: str,
        *,
        pooling: bool = True,
        group_commit: bool = True,
        indexes: bool = True,
        pool_min: int = 5,
        pool_max: int = 20,
        idle_timeout_s: float = 300.0,
        max_batch: int = 512,
    ) -> None:
        self.url = url
        self.indexes = indexes
        self.pooling = pooling
        self.pool_max = pool_max
        self.on_batch: Callable[[int], None] | None = None
        self._writer_conn: AsyncConnection | None = None
        self.engine = make_engine(url, pooling, pool_min, pool_max, idle_timeout_s)
        self.stats = StoreStats()
        self.query_observer: QueryObserver | None = None
        self.delay_hook: DelayHook | None = None
        self.writer = GroupCommitWriter(self, max_batch if group_commit else 1)
        path = sqlite_path(url)
        self._sqlite = SqliteBatchExecutor(path, pooling, self._count_connect) if path is not None else None
        event.listen(self.engine.sync_engine, "connect", self._on_connect)
        event.listen(self.engine.sync_engine, "before_cursor_execute", self._before_exec)
        event.listen(self.engine.sync_engine, "after_cursor_execute", self._after_exec)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    # -- instrumentation ---------------------------------------------------------------------
    def _on_connect(self, _dbapi: Any, _record: Any) -> None:
        self._count_connect()

    def _count_connect(self) -> None:
        self.stats.connections_opened += 1

    def _before_exec(self, conn: Any, _cur: Any, _stmt: str, _p: Any, _ctx: Any, _many: bool) -> None:
        conn.info["mb_t0"] = time.perf_counter()

    def _after_exec(self, conn: Any, _cur: Any, stmt: str, _p: Any, _ctx: Any, _many: bool) -> None:
        t0 = conn.info.pop("mb_t0", None)
        if t0 is not None and self.query_observer is not None:
            self.query_observer(time.perf_counter() - t0, stmt)

    async def _delay(self, started: float, stmt: Any = None) -> None:
        if self.delay_hook is None:
            return
        added = await self.delay_hook(time.perf_counter() - started)
        if added and self.query_observer is not None:
            # Injected latency is part of what callers see: report the whole call (slow-query log).
            label = str(stmt)[:300] if stmt is not None else "COMMIT (group commit batch)"
            self.query_observer(time.perf_counter() - started, label)

    # -- lifecycle ---------------------------------------------------------------------------
    async def open(self) -> None:
        async with self.engine.begin() as conn:
            await conn.run_sync(schema.metadata.create_all)
            await self._apply_indexes(conn)
        self.writer.start()

    async def _apply_indexes(self, conn: AsyncConnection) -> None:
        for name, table, cols in schema.GUIDE_INDEXES:
            if self.indexes:
                # Names are constants from schema.py, never user input.
                await conn.execute(text(f"CREATE INDEX IF NOT EXISTS {name} ON {table} ({', '.join(cols)})"))
            else:
                await conn.execute(text(f"DROP INDEX IF EXISTS {name}"))

    async def close(self) -> None:
        await self.writer.stop()
        await self._drop_writer_conn()
        if self._sqlite is not None:
            await asyncio.to_thread(self._sqlite.close)
        await self.engine.dispose()

    # -- writes ------------------------------------------------------------------------------
    async def commit_ops(self, ops: Sequence[WriteOp]) -> None:
        started = time.perf_counter()
        if self._sqlite is not None:
            plan = [
                (stmt, params, key in CONSTANT_STATEMENT_KEYS) for key, stmt, params in plan_batch_keyed(ops)
            ]
            timings = await self._sqlite.commit(plan)
            if self.query_observer is not None:
                for secs, sql in timings:
                    self.query_observer(secs, sql)
            self._batch_done(len(ops))
            await self._delay(started)
            return
        if self._writer_conn is None or self._writer_conn.closed:
            # The writer keeps its own connection when pooling is on: no checkout, pre-ping
            # and reset per transaction (each is a thread hop with aiosqlite).
            self._writer_conn = await self.engine.connect() if self.pooling else None
        conn_cm = contextlib.nullcontext(self._writer_conn) if self._writer_conn else self.engine.connect()
        try:
            with unstorable_values_are_bad_requests():
                async with conn_cm as conn, conn.begin():
                    for stmt, params in plan_batch(ops):
                        await conn.execute(stmt, params if len(params) > 1 else params[0])
        except Exception:
            await self._drop_writer_conn()
            raise
        self._batch_done(len(ops))
        await self._delay(started)

    def _batch_done(self, size: int) -> None:
        self.stats.record_batch(size)
        if self.on_batch is not None:
            self.on_batch(size)

    async def _drop_writer_conn(self) -> None:
        conn, self._writer_conn = self._writer_conn, None
        if conn is not None:
            with contextlib.suppress(Exception):
                await conn.close()

    async def write(self, *ops: WriteOp) -> None:
        await self.writer.write(ops)

    async def run_transaction(self, steps: Sequence[tuple[Executable, Any]]) -> None:
        """Background jobs (archival): several statements (executemany allowed) atomically."""
        async with self.engine.begin() as conn:
            for stmt, params in steps:
                await conn.execute(stmt, params)

    def write_nowait(self, *ops: WriteOp) -> None:
        """Fire-and-forget write (status updates); ordering with awaited writes is kept."""
        for op in ops:
            self.writer.submit(op)

    # -- reads -------------------------------------------------------------------------------
    def _connect(self) -> Any:
        pool = self.engine.pool
        checked_out = getattr(pool, "checkedout", None)
        if self.pooling and checked_out is not None and checked_out() >= self.pool_max:
            self.stats.pool_waits += 1  # every pooled connection busy: this checkout waits
        return self.engine.connect()

    async def fetch_all(self, stmt: Executable) -> list[Any]:
        started = time.perf_counter()
        with unstorable_values_are_bad_requests():
            async with self._connect() as conn:
                rows = list((await conn.execute(stmt)).fetchall())
        await self._delay(started, stmt)
        return rows

    async def fetch_one(self, stmt: Executable) -> Row[Any] | None:
        started = time.perf_counter()
        with unstorable_values_are_bad_requests():
            async with self._connect() as conn:
                row: Row[Any] | None = (await conn.execute(stmt)).first()
        await self._delay(started, stmt)
        return row

    async def scalar(self, stmt: Executable) -> Any:
        started = time.perf_counter()
        with unstorable_values_are_bad_requests():
            async with self._connect() as conn:
                value = (await conn.execute(stmt)).scalar()
        await self._delay(started, stmt)
        return value

    def pool_status(self) -> tuple[int, int]:
        """(in use, idle) connections of the DB pool."""
        pool = self.engine.pool
        in_use = getattr(pool, "checkedout", lambda: 0)()
        idle = getattr(pool, "checkedin", lambda: 0)()
        return int(in_use), int(idle)

    async def ping(self) -> None:
        async with self.engine.connect() as conn:
            await conn.execute(select(1))

    async def count(self, table: Any, *where: Any) -> int:
        stmt = select(func.count()).select_from(table)
        for clause in where:
            stmt = stmt.where(clause)
        return int(await self.scalar(stmt) or 0)


def rows_to_dicts(rows: Iterable[Row[Any]]) -> list[dict[str, Any]]:
    return [row_dict(r) for r in rows]


def row_dict(row: Any) -> dict[str, Any]:
    """Plain-``str`` keys: SQLAlchemy's ``quoted_name`` keys are rejected by orjson (cache, JSON)."""
    return {str(k): v for k, v in row._mapping.items()}
