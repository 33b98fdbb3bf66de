"""Archival tiers: hot -> warm -> cold files -> purge, in batches, audited before deleting."""

from __future__ import annotations

import asyncio
import gzip
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import orjson
from sqlalchemy import select

from reference_runtime.archive import DAY, Archiver, seconds_until_next_run
from reference_runtime.config import load_settings
from reference_runtime.store import Repo, Store
from reference_runtime.store import schema as s

from .helpers import REPO


def _settings(tmp: Path) -> object:
    return load_settings(None, {"state_dir": str(tmp), "archive": {"batch_size": 7}}, environ={})


async def _seed(store: Store, now: float) -> None:
    repo = Repo(store)
    ops = []
    for age_days, n in ((1, 5), (10, 12), (45, 9)):
        for i in range(n):
            op = repo.message_op("agent-1", "result", 3, None, {"i": i, "age": age_days})
            op.params["timestamp"] = now - age_days * DAY
            ops.append(op)
    await store.write(*ops)


def test_archive_pass_moves_tiers_and_audits(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
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


def test_cold_files_hold_the_rows(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
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


def test_archive_cli_now(tmp_path: Path) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "reference_runtime", "archive", "--now", "--state-dir", str(tmp_path)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    report = orjson.loads(out.stdout.strip().splitlines()[-1])
    assert report["messages_to_warm"] == 0 and "cold_files_purged" in report
