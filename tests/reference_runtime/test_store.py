"""Store: group commit, batch planning, indexes switch (EXPLAIN QUERY PLAN), pooling switch."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from sqlalchemy import text

from reference_runtime.store import Repo, Store
from reference_runtime.store.db import WriteOp, plan_batch


def _exec_row(i: int) -> dict[str, object]:
    return {
        "id": f"e{i}",
        "type": "command",
        "project_id": "p",
        "agent_id": "a",
        "workflow_id": "w",
        "command": "c",
        "payload": "{}",
        "priority": 3,
        "status": "queued",
        "progress": 0,
        "result": None,
        "error": None,
        "owner": "o",
        "created_at": time.time(),
        "start_time": None,
        "end_time": None,
    }


def _store(tmp: Path, **kw: bool) -> Store:
    return Store(f"sqlite+aiosqlite:///{tmp / 'db.sqlite'}", **kw)


def test_group_commit_shares_transactions(tmp_path: Path) -> None:
    async def run(group: bool) -> tuple[int, int]:
        st = _store(tmp_path / str(group), group_commit=group)
        (tmp_path / str(group)).mkdir()
        await st.open()
        repo = Repo(st)
        await asyncio.gather(*(st.write(repo.execution_insert_op(_exec_row(i))) for i in range(200)))
        n = await st.count(__import__("reference_runtime.store.schema", fromlist=["x"]).executions)
        tx = st.stats.transactions
        await st.close()
        return n, tx

    n_on, tx_on = asyncio.run(run(True))
    n_off, tx_off = asyncio.run(run(False))
    assert n_on == n_off == 200
    assert tx_off == 200  # batching off: one transaction per write
    assert tx_on < 50  # group commit: concurrent writers share transactions


def test_plan_batch_orders_inserts_first_and_drops_superseded_start() -> None:
    repo = Repo.__new__(Repo)
    ops = [
        repo.execution_start_op("e1", 1.0),
        repo.execution_insert_op(_exec_row(2)),
        repo.execution_finish_op("e1", "completed", {}, None, 2.0),
        repo.execution_start_op("e2", 1.5),
        WriteOp("custom", repo.execution_insert_op(_exec_row(3)).stmt, _exec_row(3)),
    ]
    plan = plan_batch(ops)
    kinds = [str(stmt).split()[0] for stmt, _ in plan]
    assert kinds == ["INSERT", "UPDATE", "UPDATE", "INSERT"]
    start_params = plan[1][1]
    assert [p["b_id"] for p in start_params] == ["e2"]  # e1's start dropped (finished in same batch)


def test_indexes_switch_changes_query_plan(tmp_path: Path) -> None:
    async def plan(indexes: bool) -> str:
        st = _store(tmp_path, indexes=indexes)
        await st.open()
        stmt = Repo(st).recent_messages_stmt("a1", 10)
        sql = stmt.compile(st.engine.sync_engine, compile_kwargs={"literal_binds": True})
        async with st.engine.connect() as conn:
            rows = (await conn.execute(text(f"EXPLAIN QUERY PLAN {sql}"))).fetchall()
        await st.close()
        return " ".join(str(r[-1]) for r in rows)

    on = asyncio.run(plan(True))
    off = asyncio.run(plan(False))  # same file: the off run drops the indexes again
    assert "ix_messages_agent_ts" in on
    assert "ix_messages_agent_ts" not in off and "SCAN" in off


def test_pooling_switch_changes_connections_opened(tmp_path: Path) -> None:
    async def run(pooling: bool) -> int:
        st = _store(tmp_path, pooling=pooling)
        await st.open()
        repo = Repo(st)
        for _ in range(20):
            await repo.get_execution("missing")
        opened = st.stats.connections_opened
        await st.close()
        return opened

    assert asyncio.run(run(True)) <= 3
    assert asyncio.run(run(False)) >= 20


def test_list_projects_pages_over_several_statuses_in_sql(tmp_path: Path) -> None:
    statuses = ["initializing", "building", "completed", "failed", "discovery", "completed"]

    async def run() -> None:
        st = _store(tmp_path)
        await st.open()
        try:
            repo = Repo(st)
            for i, status in enumerate(statuses):
                row = {
                    "id": f"p{i}",
                    "name": f"project {i}",
                    "domain": "d",
                    "status": status,
                    "phase": "x",
                    "requirements": "{}",
                    "metadata": "{}",
                    "created_at": 1000.0 + i,
                    "updated_at": 1000.0 + i,
                }
                await repo.insert_project(row)
            active = ("initializing", "discovery", "building", "validating")
            everything, total = await repo.list_projects(active, 10, 0)
            assert [r["id"] for r in everything] == ["p0", "p1", "p4"] and total == 3  # oldest first
            page, total = await repo.list_projects(active, 1, 1)
            assert [r["id"] for r in page] == ["p1"] and total == 3
            beyond, total = await repo.list_projects(active, 5, 10)
            assert beyond == [] and total == 3
            done, total = await repo.list_projects(("completed",), 10, 1)
            assert [r["id"] for r in done] == ["p5"] and total == 2
            _, total = await repo.list_projects(None, 1, 0)
            assert total == len(statuses)
        finally:
            await st.close()

    asyncio.run(run())
