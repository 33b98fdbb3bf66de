"""Store: group commit, batch planning, indexes switch (query plans), pooling switch; each on
SQLite and on PostgreSQL (the ``db_url`` fixture: a fresh database per test)."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable

import pytest
from sqlalchemy import text

from reference_runtime.errors import ApiError
from reference_runtime.store import Repo, Store
from reference_runtime.store import schema as s
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


def test_group_commit_shares_transactions(new_db_url: Callable[[], str]) -> None:
    async def run(group: bool) -> tuple[int, int]:
        st = Store(new_db_url(), group_commit=group)
        await st.open()
        repo = Repo(st)
        await asyncio.gather(*(st.write(repo.execution_insert_op(_exec_row(i))) for i in range(200)))
        n = await st.count(s.executions)
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


def test_indexes_switch_changes_query_plan(db_url: str) -> None:
    async def plan(indexes: bool) -> str:
        st = Store(db_url, indexes=indexes)
        await st.open()
        stmt = Repo(st).recent_messages_stmt("a1", 10)
        sql = stmt.compile(st.engine.sync_engine, compile_kwargs={"literal_binds": True})
        async with st.engine.connect() as conn:
            if st.dialect == "sqlite":
                rows = (await conn.execute(text(f"EXPLAIN QUERY PLAN {sql}"))).fetchall()
            else:
                # An empty table: make the planner show whether an index is usable at all.
                await conn.execute(text("SET enable_seqscan = off"))
                rows = (await conn.execute(text(f"EXPLAIN {sql}"))).fetchall()
        await st.close()
        return " ".join(str(r[-1]) for r in rows)

    on = asyncio.run(plan(True))
    off = asyncio.run(plan(False))  # same database: the off run drops the indexes again
    assert "ix_messages_agent_ts" in on
    assert "ix_messages_agent_ts" not in off and ("SCAN" in off or "Seq Scan" in off)


def test_pooling_switch_changes_connections_opened(db_url: str) -> None:
    async def run(pooling: bool) -> int:
        st = Store(db_url, pooling=pooling)
        await st.open()
        repo = Repo(st)
        for _ in range(20):
            await repo.get_execution("missing")
        opened = st.stats.connections_opened
        await st.close()
        return opened

    assert asyncio.run(run(True)) <= 3
    assert asyncio.run(run(False)) >= 20


def test_list_projects_pages_over_several_statuses_in_sql(db_url: str) -> None:
    statuses = ["initializing", "building", "completed", "failed", "discovery", "completed"]

    async def run() -> None:
        st = Store(db_url)
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


def test_a_value_postgresql_cannot_hold_is_a_bad_request(db_url: str) -> None:
    """A NUL character: SQLite stores it; PostgreSQL refuses it, and the store says 400 (the
    client's input), not a server error, for writes and reads alike. Other writes still commit."""

    async def run() -> None:
        st = Store(db_url)
        await st.open()
        try:
            repo = Repo(st)
            bad, good = _exec_row(1), _exec_row(2)
            bad["command"] = "run\x00this"
            results = await asyncio.gather(
                st.write(repo.execution_insert_op(bad)),
                st.write(repo.execution_insert_op(good)),
                return_exceptions=True,
            )
            assert results[1] is None and await repo.get_execution("e2") is not None
            if st.dialect == "sqlite":
                assert results[0] is None
                assert await repo.get_execution("e\x001") is None
                return
            assert isinstance(results[0], ApiError) and results[0].status == 400
            assert "cannot be stored" in results[0].message
            with pytest.raises(ApiError) as read:
                await repo.get_execution("e\x001")
            assert read.value.status == 400
        finally:
            await st.close()

    asyncio.run(run())


def test_postgresql_connections_dropped_by_the_server_are_replaced(pg_server_url: str) -> None:
    """The server ends every session of the store (a restart, an idle timeout, an operator):
    the pool's pre-ping replaces dead read connections and a failed group commit is retried on a
    new writer connection, so no caller sees the drop."""
    from reference_runtime.store.pgserver import create_database, drop_database

    name = f"mbx_test_dropped_{os.getpid()}"
    url = create_database(pg_server_url, name)

    async def run() -> None:
        st = Store(url)
        await st.open()
        try:
            repo = Repo(st)
            await st.write(repo.execution_insert_op(_exec_row(1)))
            assert await repo.get_execution("e1") is not None
            opened = st.stats.connections_opened
            async with Store(url, pooling=False).engine.connect() as admin:
                killed = await admin.scalar(
                    text(
                        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                        "WHERE datname = current_database() AND pid <> pg_backend_pid()"
                    )
                )
            assert killed and killed >= 2  # the writer's and the pooled reader's sessions
            await st.write(repo.execution_insert_op(_exec_row(2)))
            assert await repo.get_execution("e2") is not None
            assert await st.count(s.executions) == 2
            assert st.stats.connections_opened > opened  # replaced, not reused dead
        finally:
            await st.close()

    try:
        asyncio.run(run())
    finally:
        drop_database(pg_server_url, name)
