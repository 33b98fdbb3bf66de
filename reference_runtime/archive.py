"""Data archival: hot (7 days) / warm (30 days) / cold (1 year) tiers and the purge job.

- hot: the live tables (``messages``, finished ``executions``);
- warm: ``messages_warm`` / ``executions_warm`` in the same database (rows moved, ids kept);
- cold: gzip JSON-lines files under ``<state-dir>/archive/cold/`` (the object-storage stand-in);
- older than the cold retention: purged.

Every step works in batches of ``archive.batch_size`` (10,000) rows and writes an audit record
*before* it deletes anything. ``reference-runtime archive --now`` runs one pass; the runtime also
runs it on a schedule (daily at 02:00 UTC with the default interval) and on two triggers checked
every ``archive.check_interval_s``:

- size: the database's live bytes above ``archive.max_db_bytes`` move the oldest rows (warm tier
  first, then finished hot rows) straight to cold files until it is under 90% of the limit;
- age: each pass notes when the oldest remaining row of each tier (and the oldest cold file)
  passes its limit; the pass runs again ``archive.max_overdue_s`` after that moment, so no
  row stays in a tier longer than its limit plus that (and no pass runs when none is due).
"""

from __future__ import annotations

import asyncio
import gzip
import logging
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import Table, delete, func, select, text

from .config import Settings
from .store import Repo, Store
from .store import schema as s

log = logging.getLogger(__name__)
DAY = 86400.0
FINISHED = ("completed", "failed", "cancelled")
#: The size trigger stops once the live bytes are under this share of ``max_db_bytes``.
LOW_WATER = 0.9


def _tiers() -> list[tuple[str, Table, Table, Any, Any]]:
    """(name, hot table, warm table, time column in hot, extra filter) per archived table."""
    return [
        ("messages", s.messages, s.messages_warm, s.messages.c.timestamp, None),
        (
            "executions",
            s.executions,
            s.executions_warm,
            s.executions.c.created_at,
            s.executions.c.status.in_(FINISHED),
        ),
    ]


def _time_col(table: Table) -> Any:
    return table.c.timestamp if "timestamp" in table.c else table.c.created_at


def _evictable() -> list[tuple[str, Table, Any]]:
    """(name, table, extra filter) the size trigger may move out, warm tier first."""
    return [
        ("messages", s.messages_warm, None),
        ("executions", s.executions_warm, None),
        ("messages", s.messages, None),
        ("executions", s.executions, s.executions.c.status.in_(FINISHED)),
    ]


async def live_db_bytes(store: Store) -> int | None:
    """Bytes the database's rows and indexes occupy (pages in use; SQLite's free pages, which it
    reuses, not counted). ``None`` where not measured (PostgreSQL: see docs/runtime.md)."""
    if store.dialect != "sqlite":
        return None
    page_size = int(await store.scalar(text("PRAGMA page_size")) or 0)
    pages = int(await store.scalar(text("PRAGMA page_count")) or 0)
    free = int(await store.scalar(text("PRAGMA freelist_count")) or 0)
    return (pages - free) * page_size


class Archiver:
    def __init__(self, store: Store, settings: Settings) -> None:
        self.store = store
        self.repo = Repo(store)
        self.cfg = settings.archive
        self.cold_dir = settings.state_dir / "archive" / "cold"

    async def run_pass(self, now: float | None = None) -> dict[str, int]:
        now = time.time() if now is None else now
        report: dict[str, int] = {}
        for name, hot, warm, tcol, extra in _tiers():
            report[f"{name}_to_warm"] = await self._hot_to_warm(
                name, hot, warm, tcol, extra, now - self.cfg.hot_days * DAY
            )
            report[f"{name}_to_cold"] = await self._warm_to_cold(name, warm, now - self.cfg.warm_days * DAY)
        report["cold_files_purged"] = await self._purge_cold(now - self.cfg.cold_days * DAY)
        return report

    async def _audit(self, event: str, data: dict[str, Any]) -> None:
        await self.store.write(self.repo.audit_op(event, "archive", data.get("table", "cold"), data))

    async def _hot_to_warm(
        self, name: str, hot: Table, warm: Table, tcol: Any, extra: Any, cutoff: float
    ) -> int:
        moved = 0
        while True:
            stmt = select(hot).where(tcol < cutoff).order_by(tcol).limit(self.cfg.batch_size)
            if extra is not None:
                stmt = stmt.where(extra)
            rows = _plain_rows(await self.store.fetch_all(stmt))
            if not rows:
                return moved
            ids = [r["id"] for r in rows]
            await self._audit(
                "archive.warm",
                {"table": name, "rows": len(rows), "before": cutoff, "first_id": ids[0], "last_id": ids[-1]},
            )
            # Copy and delete in one transaction: a row is never in both tiers or in neither.
            await self.store.run_transaction(
                [(warm.insert(), rows), (delete(hot).where(hot.c.id.in_(ids)), {})]
            )
            moved += len(rows)

    async def _warm_to_cold(self, name: str, warm: Table, cutoff: float) -> int:
        moved = 0
        tcol = _time_col(warm)
        while True:
            stmt = select(warm).where(tcol < cutoff).order_by(tcol).limit(self.cfg.batch_size)
            rows = _plain_rows(await self.store.fetch_all(stmt))
            if not rows:
                return moved
            data = {"table": name, "rows": len(rows)}
            moved += await self._to_cold(name, warm, tcol, rows, "archive.cold", data)

    async def enforce_size(self, limit: int) -> int:
        """Size trigger: above ``limit`` live bytes, move the oldest rows out of the database (to
        cold files) until under ``LOW_WATER`` of it. Returns the rows moved."""
        size = await live_db_bytes(self.store)
        if size is None or limit <= 0 or size <= limit:
            return 0
        target, moved = int(limit * LOW_WATER), 0
        while size is not None and size > target:
            batch = await self._evict_oldest(size, limit)
            if batch == 0:
                log.warning("database at %d bytes (limit %d) and nothing left to archive", size, limit)
                break
            moved += batch
            size = await live_db_bytes(self.store)
        return moved

    async def _evict_oldest(self, size: int, limit: int) -> int:
        """One batch from each table of the oldest tier that still has rows."""
        moved = 0
        for warm in (True, False):
            for name, table, extra in _evictable()[:2] if warm else _evictable()[2:]:
                tcol = _time_col(table)
                stmt = select(table).order_by(tcol).limit(self.cfg.batch_size)
                if extra is not None:
                    stmt = stmt.where(extra)
                rows = _plain_rows(await self.store.fetch_all(stmt))
                if rows:
                    data = {"table": table.name, "rows": len(rows), "dbBytes": size, "limitBytes": limit}
                    moved += await self._to_cold(name, table, tcol, rows, "archive.size", data)
            if moved:
                return moved
        return 0

    async def _to_cold(
        self, name: str, table: Table, tcol: Any, rows: list[dict[str, Any]], event: str, data: dict[str, Any]
    ) -> int:
        """Write ``rows`` to a cold file, audit, then delete them from ``table``."""
        self.cold_dir.mkdir(parents=True, exist_ok=True)
        newest = max(float(r[tcol.name]) for r in rows)
        path = self.cold_dir / f"{name}-{int(newest)}-{rows[0]['id']}.jsonl.gz"
        await asyncio.to_thread(_write_cold, path, rows)
        await self._audit(event, {**data, "file": path.name})
        ids = [r["id"] for r in rows]
        await self.store.run_transaction([(delete(table).where(table.c.id.in_(ids)), {})])
        return len(rows)

    async def next_due(self) -> float | None:
        """Wall-clock time at which the oldest remaining row (or cold file) passes its tier's
        limit; ``None`` when there is nothing to age. One ``min()`` per table, after a pass."""
        cfg = self.cfg
        due: list[float] = []
        for _name, _hot, warm, tcol, extra in _tiers():
            stmt = select(func.min(tcol))
            oldest_hot = await self.store.scalar(stmt if extra is None else stmt.where(extra))
            oldest_warm = await self.store.scalar(select(func.min(_time_col(warm))))
            due += [float(oldest_hot) + cfg.hot_days * DAY] if oldest_hot is not None else []
            due += [float(oldest_warm) + cfg.warm_days * DAY] if oldest_warm is not None else []
        cold = [_cold_newest(p) for p in self.cold_dir.glob("*.jsonl.gz")] if self.cold_dir.exists() else []
        due += [min(cold) + cfg.cold_days * DAY] if cold else []
        return min(due) if due else None

    async def _purge_cold(self, cutoff: float) -> int:
        purged = 0
        if not self.cold_dir.exists():
            return 0
        for path in sorted(self.cold_dir.glob("*.jsonl.gz")):
            parts = path.name.split("-")
            newest = _cold_newest(path)
            if newest >= cutoff:
                continue
            await self._audit("archive.purge", {"table": parts[0], "file": path.name, "newest": newest})
            path.unlink(missing_ok=True)
            purged += 1
        return purged


def _cold_newest(path: Path) -> float:
    """A cold file's newest row time, from its name (``<table>-<newest>-<first id>``)."""
    parts = path.name.split("-")
    return float(parts[1]) if len(parts) > 2 and parts[1].isdigit() else path.stat().st_mtime


def _plain_rows(rows: list[Any]) -> list[dict[str, Any]]:
    # Column names of the tier copies are ``quoted_name`` (a str subclass) that orjson rejects.
    return [{str(k): v for k, v in r._mapping.items()} for r in rows]


def _write_cold(path: Path, rows: list[dict[str, Any]]) -> None:
    tmp = path.with_suffix(".tmp")
    with gzip.open(tmp, "wb") as fh:
        for row in rows:
            fh.write(orjson.dumps(row) + b"\n")
    tmp.replace(path)


def seconds_until_next_run(interval_s: float, now: datetime | None = None) -> float:
    """Daily interval: next 02:00 UTC (the guide's purge time); otherwise every interval."""
    if interval_s != DAY:
        return interval_s
    now = now or datetime.now(UTC)
    target = now.replace(hour=2, minute=0, second=0, microsecond=0)
    if target <= now:
        target += timedelta(days=1)
    return (target - now).total_seconds()


async def run_scheduled(store: Store, settings: Settings) -> None:
    """Inside the runtime, on its own store: the tier pass at every scheduled time (daily) and as
    soon as a row is ``max_overdue_s`` past its tier's limit (age trigger); the size trigger
    every ``check_interval_s``. A failed step is logged and tried again at the next check."""
    cfg = settings.archive
    archiver = Archiver(store, settings)
    loop = asyncio.get_running_loop()
    next_pass = loop.time() + seconds_until_next_run(cfg.interval_s)
    due: float | None = None  # wall clock; unknown until the first check
    checking = cfg.check_interval_s > 0
    first = True
    while True:
        step = next_pass - loop.time()
        if checking:
            step = 0.0 if first else min(step, cfg.check_interval_s)
        first = False
        await asyncio.sleep(max(0.0, step))
        try:
            scheduled = loop.time() >= next_pass
            if checking and due is None:
                due = await archiver.next_due()
            if scheduled or (due is not None and time.time() >= due + cfg.max_overdue_s):
                if scheduled:
                    next_pass = loop.time() + seconds_until_next_run(cfg.interval_s)
                await archiver.run_pass()
                due = await archiver.next_due() if checking else None
            if checking:
                await archiver.enforce_size(cfg.max_db_bytes)
        except Exception:  # the next check tries again; archival must never stop the runtime
            log.exception("archive step failed")


async def _run_once(settings: Settings) -> dict[str, int]:
    store = Store(settings.db_url(), indexes=settings.switches.indexes)
    await store.open()
    try:
        archiver = Archiver(store, settings)
        report = await archiver.run_pass()
        report["size_trigger_moved"] = await archiver.enforce_size(settings.archive.max_db_bytes)
        return report
    finally:
        await store.close()


def run_archive_cli(settings: Settings, now: bool) -> int:
    if now:
        print(orjson.dumps(asyncio.run(_run_once(settings))).decode())
        return 0

    async def loop() -> None:
        while True:
            delay = seconds_until_next_run(settings.archive.interval_s)
            print(f"next archive pass in {delay:.0f}s", flush=True)
            await asyncio.sleep(delay)
            print(orjson.dumps(await _run_once(settings)).decode(), flush=True)

    asyncio.run(loop())
    return 0
