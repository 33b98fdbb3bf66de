"""Data archival: hot (7 days) / warm (30 days) / cold (1 year) tiers and the purge job.

- hot: the live tables (``messages``, finished ``executions``);
- warm: ``messages_warm`` / ``executions_warm`` in the same database (rows moved, ids kept);
- cold: gzip JSON-lines files under ``<state-dir>/archive/cold/`` (the object-storage stand-in);
- older than the cold retention: purged.

Every step works in batches of ``archive.batch_size`` (10,000) rows and writes an audit record
*before* it deletes anything. ``reference-runtime archive --now`` runs one pass; the runtime also
runs it on a schedule (daily at 02:00 UTC with the default interval).
"""

from __future__ import annotations

import asyncio
import gzip
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import Table, delete, select

from .config import Settings
from .store import Repo, Store
from .store import schema as s

DAY = 86400.0
FINISHED = ("completed", "failed", "cancelled")


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
        self.cold_dir.mkdir(parents=True, exist_ok=True)
        while True:
            stmt = select(warm).where(tcol < cutoff).order_by(tcol).limit(self.cfg.batch_size)
            rows = _plain_rows(await self.store.fetch_all(stmt))
            if not rows:
                return moved
            newest = max(float(r[tcol.name]) for r in rows)
            path = self.cold_dir / f"{name}-{int(newest)}-{rows[0]['id']}.jsonl.gz"
            await asyncio.to_thread(_write_cold, path, rows)
            await self._audit("archive.cold", {"table": name, "rows": len(rows), "file": path.name})
            ids = [r["id"] for r in rows]
            await self.store.run_transaction([(delete(warm).where(warm.c.id.in_(ids)), {})])
            moved += len(rows)

    async def _purge_cold(self, cutoff: float) -> int:
        purged = 0
        if not self.cold_dir.exists():
            return 0
        for path in sorted(self.cold_dir.glob("*.jsonl.gz")):
            parts = path.name.split("-")
            newest = float(parts[1]) if len(parts) > 2 and parts[1].isdigit() else path.stat().st_mtime
            if newest >= cutoff:
                continue
            await self._audit("archive.purge", {"table": parts[0], "file": path.name, "newest": newest})
            path.unlink(missing_ok=True)
            purged += 1
        return purged


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
    """Inside the runtime: a pass at every scheduled time, on the runtime's own store."""
    archiver = Archiver(store, settings)
    while True:
        await asyncio.sleep(seconds_until_next_run(settings.archive.interval_s))
        await archiver.run_pass()


async def _run_once(settings: Settings) -> dict[str, int]:
    store = Store(settings.db_url(), indexes=settings.switches.indexes)
    await store.open()
    try:
        return await Archiver(store, settings).run_pass()
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
