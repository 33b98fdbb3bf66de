"""Archival tiers: hot -> warm -> cold files -> purge, in batches, audited before deleting.

The tier tests run on SQLite and PostgreSQL (``db_url``: a fresh database each); the size
trigger measures SQLite's live pages only (on PostgreSQL it is off: docs/runtime.md)."""

from __future__ import annotations

import asyncio
import gzip
import os
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import select

from reference_runtime.archive import DAY, Archiver, live_db_bytes, run_scheduled, seconds_until_next_run
from reference_runtime.commands import execution_row
from reference_runtime.config import load_settings
from reference_runtime.store import Repo, Store
from reference_runtime.store import schema as s

from .helpers import REPO


def _settings(tmp: Path, db_url: str) -> object:
    overrides = {"state_dir": str(tmp), "archive": {"batch_size": 7}, "database": {"url": db_url}}
    return load_settings(None, overrides, environ={})


async def _seed(store: Store, now: float) -> None:
    repo = Repo(store)
    ops = []
    for age_days, n in ((1, 5), (10, 12), (45, 9)):
        for i in range(n):
            op = repo.message_op("agent-1", "result", 3, None, {"i": i, "age": age_days})
            op.params["timestamp"] = now - age_days * DAY
            ops.append(op)
    await store.write(*ops)


def test_archive_pass_moves_tiers_and_audits(tmp_path: Path, db_url: str) -> None:
    settings = _settings(tmp_path, db_url)
    now = time.time()

    async def run() -> tuple[dict[str, int], dict[str, int], list[str]]:
        store = Store(settings.db_url())  # type: ignore[attr-defined]
        await store.open()
        try:
            await _seed(store, now)
            archiver = Archiver(store, settings)  # type: ignore[arg-type]
            first = await archiver.run_pass(now)
            counts = {
                "hot": await store.count(s.messages),
                "warm": await store.count(s.messages_warm),
            }
            second = await archiver.run_pass(now + 400 * DAY)  # everything ages past the cold retention
            counts["warm_after"] = await store.count(s.messages_warm)
            events = [r[0] for r in await store.fetch_all(select(s.audit.c.event).order_by(s.audit.c.id))]
            first.update({f"second_{k}": v for k, v in second.items()})
            return first, counts, events
        finally:
            await store.close()

    report, counts, events = asyncio.run(run())
    assert report["messages_to_warm"] == 21  # 12 (10 days) + 9 (45 days) left the hot table
    assert report["messages_to_cold"] == 9  # the 45-day-old rows went on to cold files
    assert counts == {"hot": 5, "warm": 12, "warm_after": 0}
    assert report["second_cold_files_purged"] >= 2  # cold files from both passes, past 1 year
    assert not list((tmp_path / "archive" / "cold").glob("*.jsonl.gz"))
    # Batches of 7: 21 rows -> 3 warm batches, each audited before its delete.
    assert events.count("archive.warm") >= 3
    assert events.index("archive.warm") < events.index("archive.cold") < events.index("archive.purge")


def test_cold_files_hold_the_rows(tmp_path: Path, db_url: str) -> None:
    settings = _settings(tmp_path, db_url)
    now = time.time()

    async def run() -> None:
        store = Store(settings.db_url())  # type: ignore[attr-defined]
        await store.open()
        try:
            await _seed(store, now)
            await Archiver(store, settings).run_pass(now)  # type: ignore[arg-type]
        finally:
            await store.close()

    asyncio.run(run())
    rows = []
    for path in (tmp_path / "archive" / "cold").glob("*.jsonl.gz"):
        with gzip.open(path) as fh:
            rows += [orjson.loads(line) for line in fh]
    assert len(rows) == 9 and all(orjson.loads(r["body"])["age"] == 45 for r in rows)


def test_schedule_is_daily_at_two_utc() -> None:
    at = datetime(2026, 1, 1, 1, 0, tzinfo=UTC)
    assert seconds_until_next_run(DAY, at) == 3600
    assert seconds_until_next_run(60.0, at) == 60.0


def test_archive_cli_now(tmp_path: Path, db_url: str) -> None:
    """One pass on the given database: by ``--database-url`` (SQLite) or by
    ``$MOTHERBOX_DATABASE_URL`` (PostgreSQL), so both ways of naming it are exercised."""

    async def seed() -> None:
        store = Store(db_url)
        await store.open()
        try:
            await _seed(store, time.time())  # 21 messages older than the hot tier's 7 days
        finally:
            await store.close()

    asyncio.run(seed())
    argv = ["archive", "--now", "--state-dir", str(tmp_path / "state")]
    env = {k: v for k, v in os.environ.items() if not k.startswith("MOTHERBOX_")}
    if db_url.startswith("sqlite"):
        argv += ["--database-url", db_url]
    else:
        env["MOTHERBOX_DATABASE_URL"] = db_url
    out = subprocess.run(
        [sys.executable, "-m", "reference_runtime", *argv],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    report = orjson.loads(out.stdout.strip().splitlines()[-1])
    assert report["messages_to_warm"] == 21 and report["messages_to_cold"] == 9  # that database's rows


async def _seed_recent(store: Store, now: float, n: int) -> None:
    """``n`` recent messages and finished executions (~600 B each): nothing is old enough for
    the age tiers, so only the size trigger can move them."""
    repo = Repo(store)
    ops = []
    for i in range(n):
        ts = now - 3600 + i  # oldest first, all within the last hour
        msg = repo.message_op("agent-1", "result", 3, None, {"i": i, "text": "x" * 500})
        msg.params["timestamp"] = ts
        row = execution_row(f"exe-{i:06d}", "command", "p", {"text": "y" * 500}, 3, "o", command="*c")
        row.update(status="completed", created_at=ts)
        ops += [msg, repo.execution_insert_op(row)]
    await store.write(*ops)


def test_size_trigger_archives_when_the_database_passes_the_limit(tmp_path: Path) -> None:
    settings: Any = load_settings(
        None, {"state_dir": str(tmp_path), "archive": {"batch_size": 100}}, environ={}
    )
    now = time.time()

    async def run() -> tuple[int, int, int, int, int, int, list[float]]:
        store = Store(settings.db_url())
        await store.open()
        try:
            await _seed_recent(store, now, 2000)
            before = await live_db_bytes(store)
            assert before is not None
            archiver = Archiver(store, settings)
            assert await archiver.run_pass(now) == {  # the age tiers see nothing to do
                "messages_to_warm": 0,
                "messages_to_cold": 0,
                "executions_to_warm": 0,
                "executions_to_cold": 0,
                "cold_files_purged": 0,
            }
            assert await archiver.enforce_size(before * 2) == 0  # under the limit: nothing moves
            limit = before // 2
            moved = await archiver.enforce_size(limit)
            after = await live_db_bytes(store)
            assert after is not None
            left = [r[0] for r in await store.fetch_all(select(s.messages.c.timestamp))]
            sized = await store.count(s.audit, s.audit.c.event == "archive.size")
            return before, limit, moved, after, await store.count(s.executions), sized, left
        finally:
            await store.close()

    before, limit, moved, after, executions_left, audited, left = asyncio.run(run())
    assert after <= limit < before and moved > 0
    assert 0 < executions_left < 2000 and 0 < len(left) < 2000
    assert audited >= 2  # one audit record per batch, written before the delete
    cold = []
    for path in (tmp_path / "archive" / "cold").glob("*.jsonl.gz"):
        with gzip.open(path) as fh:
            cold += [orjson.loads(line) for line in fh]
    assert len(cold) == moved == (2000 - len(left)) + (2000 - executions_left)  # nothing lost
    moved_ts = [r["timestamp"] for r in cold if "timestamp" in r]
    assert max(moved_ts) < min(left)  # the oldest went first


def test_runtime_schedule_applies_the_size_trigger(tmp_path: Path) -> None:
    """Inside the runtime the trigger is checked every ``check_interval_s``, not once a day."""
    overrides = {
        "state_dir": str(tmp_path),
        "archive": {"batch_size": 200, "check_interval_s": 0.05, "max_db_bytes": 200_000},
    }
    settings: Any = load_settings(None, overrides, environ={})

    async def run() -> tuple[int, int]:
        store = Store(settings.db_url())
        await store.open()
        try:
            await _seed_recent(store, time.time(), 1500)
            size = await live_db_bytes(store)
            assert size is not None and size > 200_000
            task = asyncio.create_task(run_scheduled(store, settings))
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline and (await live_db_bytes(store) or 0) > 200_000:
                await asyncio.sleep(0.05)
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            return size, await live_db_bytes(store) or 0
        finally:
            await store.close()

    before, after = asyncio.run(run())
    assert after <= 200_000 < before


def test_age_trigger_runs_the_pass_once_a_row_is_overdue(tmp_path: Path, db_url: str) -> None:
    """Rows past their tier's age move within ``max_overdue_s`` of it, not at the daily run."""
    overrides = {
        "state_dir": str(tmp_path),
        "database": {"url": db_url},
        "archive": {"check_interval_s": 0.05, "max_overdue_s": 0, "batch_size": 7},
    }
    settings: Any = load_settings(None, overrides, environ={})

    async def run() -> tuple[float | None, int, int]:
        store = Store(settings.db_url())
        await store.open()
        try:
            now = time.time()
            await _seed(store, now)  # 5 rows of 1 day, 12 of 10 days, 9 of 45 days
            due = await Archiver(store, settings).next_due()
            task = asyncio.create_task(run_scheduled(store, settings))
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline and (
                await store.count(s.messages) > 5 or await store.count(s.messages_warm) != 12
            ):
                await asyncio.sleep(0.05)
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            return due and due - now, await store.count(s.messages), await store.count(s.messages_warm)
        finally:
            await store.close()

    due_in, hot, warm = asyncio.run(run())
    assert due_in is not None and due_in < 0  # the 45-day rows were already overdue
    assert (hot, warm) == (5, 12)  # the daily timer (default) would not have run for hours
