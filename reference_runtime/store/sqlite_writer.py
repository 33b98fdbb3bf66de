"""One thread hop per group commit on SQLite.

Through SQLAlchemy's async engine every step of a transaction (begin, each execute, cursor
close, commit) is a separate hop to aiosqlite's thread, and each hop waits for a turn of a busy
event loop: under load a commit took 10-20 ms of mostly waiting. Here the SQLAlchemy Core
statements are compiled once (cached per op shape) to SQLite SQL and the whole batch runs in a
single call on a dedicated thread with its own ``sqlite3`` connection. Parameterized statements
only; the SQL text comes from SQLAlchemy's compiler, values are always bound.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from sqlalchemy import Executable
from sqlalchemy.dialects import sqlite as sqlite_dialect

DIALECT = sqlite_dialect.dialect(paramstyle="qmark")


def sqlite_path(url: str) -> Path | None:
    """File path of a ``sqlite+aiosqlite:///path`` URL (None for anything else / in-memory)."""
    prefix = "sqlite+aiosqlite:///"
    if not url.startswith(prefix) or url.endswith(":memory:"):
        return None
    return Path(url[len(prefix) :])


class SqliteBatchExecutor:
    def __init__(self, path: Path, keep_connection: bool, on_connect: Callable[[], None]) -> None:
        self.path = path
        self.keep_connection = keep_connection  # pooling off: a new connection per commit
        self._on_connect = on_connect
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite-writer")
        self._conn: sqlite3.Connection | None = None
        self._compiled: dict[tuple[Any, ...], tuple[str, tuple[str, ...], dict[str, Any]]] = {}

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("PRAGMA busy_timeout=10000")
        self._on_connect()
        return conn

    def _compile(
        self, stmt: Executable, keys: tuple[str, ...], cacheable: bool
    ) -> tuple[str, tuple[str, ...], dict[str, Any]]:
        cache_key = (id(stmt), keys)
        hit = self._compiled.get(cache_key) if cacheable else None
        if hit is not None:
            return hit
        compiled = stmt.compile(dialect=DIALECT, column_keys=list(keys))  # type: ignore[attr-defined]
        names = tuple(compiled.positiontup or ())
        entry = (str(compiled), names, dict(compiled.params))
        if cacheable:
            self._compiled[cache_key] = entry
        return entry

    def _run(self, plan: Sequence[tuple[Executable, list[dict[str, Any]], bool]]) -> list[tuple[float, str]]:
        conn = self._conn if self._conn is not None else self._connect()
        timings: list[tuple[float, str]] = []
        try:
            conn.execute("BEGIN IMMEDIATE")
            try:
                for stmt, params, cacheable in plan:
                    sql, names, defaults = self._compile(stmt, tuple(params[0]), cacheable)
                    rows = [tuple({**defaults, **p}[n] for n in names) for p in params]
                    t0 = time.perf_counter()
                    if len(rows) == 1:
                        conn.execute(sql, rows[0])
                    else:
                        conn.executemany(sql, rows)
                    timings.append((time.perf_counter() - t0, sql))
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
        finally:
            if self.keep_connection:
                self._conn = conn
            else:
                conn.close()
        return timings

    async def commit(
        self, plan: Sequence[tuple[Executable, list[dict[str, Any]], bool]]
    ) -> list[tuple[float, str]]:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, self._run, plan)

    def close(self) -> None:
        def _close() -> None:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

        self._executor.submit(_close).result(timeout=10)
        self._executor.shutdown(wait=True)
