"""Database benchmarks on SQLite and PostgreSQL: ``python -m bench.db_bench`` (also a phase of
``make bench-runtime``).

Through the runtime's own :class:`~reference_runtime.store.Store`, on a fresh database per
dialect (PostgreSQL: a throwaway local server, or the one in ``$MOTHERBOX_DATABASE_URL``):

1. pooling: a hot read (project by id), the guide's pool (max 20, pre-ping) vs a brand-new
   connection per query; sequential, so the figure is the per-query connection overhead.
2. indexes: the hot queries over a seeded table, the guide's indexes on vs off (dropped), with
   ``EXPLAIN`` of each query in both states.
3. batching: 1000 concurrent inserts, group commit (one transaction and one executemany per batch)
   vs one transaction per insert.

Every comparison runs its two sides in alternating blocks (ABBA order) with repeats, so drift of
the shared machine hits both; figures are the median over repeats with the min-max range.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import select, text

from bench.runtime_bench import Row
from reference_runtime.store import Repo, Store
from reference_runtime.store import schema as s
from reference_runtime.store.db import WriteOp

REPO = Path(__file__).resolve().parents[1]
SECTION = "## Database: pooling, indexes, batching (SQLite and PostgreSQL)"
#: The guide's claims (harness/roi/claims.yaml: pooling -70%, batching -90%; indexes: the
#: 100 ms slow-query line).
POOLING_CLAIM = 0.70
BATCHING_CLAIM = 0.90
SLOW_QUERY_MS = 100.0


@dataclass
class Paired:
    """Per-repeat values of two sides measured in alternating blocks."""

    a: list[float]
    b: list[float]

    def change(self) -> list[float]:
        """Per-repeat relative change of A against B (A/B - 1; -0.7 = A takes 70% less)."""
        return [x / y - 1 for x, y in zip(self.a, self.b, strict=True) if y > 0]

    def speedup(self) -> list[float]:
        """Per-repeat B/A (how many times faster A is)."""
        return [y / x for x, y in zip(self.a, self.b, strict=True) if x > 0]


def _spread(values: list[float], fmt: str = "{:.2f}") -> str:
    """Median [min, max] over the repeats."""
    med = statistics.median(values)
    return f"{fmt.format(med)} [{fmt.format(min(values))}, {fmt.format(max(values))}]"


def _verdict(ok: bool) -> str:
    return "holds" if ok else "does NOT hold"


async def _paired(
    repeats: int, side_a: Callable[[], Awaitable[float]], side_b: Callable[[], Awaitable[float]]
) -> Paired:
    """ABBA: A then B on even repeats, B then A on odd ones."""
    out = Paired([], [])
    for i in range(repeats):
        if i % 2 == 0:
            out.a.append(await side_a())
            out.b.append(await side_b())
        else:
            out.b.append(await side_b())
            out.a.append(await side_a())
    return out


# -- databases ---------------------------------------------------------------------------------
@contextlib.contextmanager
def databases(tmp: Path) -> Iterator[Callable[[str], str]]:
    """A factory ``new(dialect) -> url`` of fresh databases; PostgreSQL started on first use."""
    from reference_runtime.store import pgserver

    stack = contextlib.ExitStack()
    server_url: list[str] = []
    count = 0

    def new(dialect: str) -> str:
        nonlocal count
        count += 1
        if dialect == "sqlite":
            return f"sqlite+aiosqlite:///{tmp / f'bench{count}.sqlite'}"
        if not server_url:
            import os

            existing = os.environ.get(pgserver.DATABASE_URL_ENV)
            server_url.append(existing or stack.enter_context(pgserver.PgServer()).url())
        return pgserver.create_database(server_url[0], f"mbx_bench_{int(time.time())}_{count}")

    with stack:
        yield new


# -- 1. pooling --------------------------------------------------------------------------------
def _project_row(i: int) -> dict[str, Any]:
    now = time.time()
    return {
        "id": f"p{i}",
        "name": f"project {i}",
        "domain": "bench",
        "status": "building",
        "phase": "x",
        "requirements": "{}",
        "metadata": "{}",
        "created_at": now,
        "updated_at": now,
    }


async def bench_pooling(url: str, n: int, repeats: int) -> Paired:
    pooled = Store(url, pooling=True, pool_min=5, pool_max=20)
    fresh = Store(url, pooling=False)
    await pooled.open()
    await fresh.open()
    try:
        await Repo(pooled).insert_project(_project_row(0))

        def side(store: Store) -> Callable[[], Awaitable[float]]:
            repo = Repo(store)

            async def run() -> float:
                start = time.perf_counter()
                for _ in range(n):
                    assert await repo.get_project("p0") is not None
                return (time.perf_counter() - start) / n * 1000

            return run

        await side(pooled)()  # warm both (pool filled, statement caches)
        await side(fresh)()
        return await _paired(repeats, side(pooled), side(fresh))
    finally:
        await pooled.close()
        await fresh.close()


# -- 2. indexes --------------------------------------------------------------------------------
def hot_queries(repo: Repo) -> dict[str, Any]:
    """The read paths the guide's indexes are for (repo.py and the guide's list)."""
    m, e = s.messages, s.executions
    return {
        "agent history (agent_id + timestamp)": repo.recent_messages_stmt("agent-7", 20),
        "workflow runs by status (workflow_id + status)": select(e.c.id, e.c.status).where(
            e.c.workflow_id == "wf-3", e.c.status == "completed"
        ),
        "most urgent alerts (message_type + priority)": select(m.c.id, m.c.agent_id, m.c.priority)
        .where(m.c.message_type == "alert")
        .order_by(m.c.priority.desc())
        .limit(50),
    }


async def _seed_for_indexes(store: Store, rows: int) -> None:
    repo = Repo(store)
    kinds = ("result", "status", "alert", "task")
    ops: list[WriteOp] = []
    for i in range(rows):
        op = repo.message_op(f"agent-{i % 200}", kinds[i % 4], 1 + i % 5, None, {"i": i})
        op.params["timestamp"] = time.time() - i
        ops.append(op)
        row = _exec_row(i)
        ops.append(repo.execution_insert_op(row))
        if len(ops) >= 2000:
            await store.write(*ops)
            ops = []
    if ops:
        await store.write(*ops)


def _exec_row(i: int) -> dict[str, Any]:
    return {
        "id": f"e{i:07d}",
        "type": "command",
        "project_id": "p",
        "agent_id": f"agent-{i % 200}",
        "workflow_id": f"wf-{i % 100}",
        "command": "c",
        "payload": "{}",
        "priority": 3,
        "status": ("completed", "failed", "queued")[i % 3],
        "progress": 100,
        "result": None,
        "error": None,
        "owner": "o",
        "created_at": time.time() - i,
        "start_time": None,
        "end_time": None,
    }


async def _set_indexes(store: Store, on: bool) -> None:
    store.indexes = on
    async with store.engine.begin() as conn:
        await store._apply_indexes(conn)  # the runtime's own switch code
        await conn.execute(text("ANALYZE"))  # fresh statistics for the planner in both states


async def explain(store: Store, stmt: Any) -> str:
    sql = stmt.compile(store.engine.sync_engine, compile_kwargs={"literal_binds": True})
    prefix = "EXPLAIN QUERY PLAN" if store.dialect == "sqlite" else "EXPLAIN"
    async with store.engine.connect() as conn:
        rows = (await conn.execute(text(f"{prefix} {sql}"))).fetchall()
    return "\n".join(str(r[-1]) for r in rows)


async def bench_indexes(
    url: str, rows: int, n: int, repeats: int
) -> tuple[dict[str, Paired], dict[str, tuple[str, str]]]:
    store = Store(url, indexes=True)
    await store.open()
    try:
        await _seed_for_indexes(store, rows)
        results: dict[str, Paired] = {}
        plans: dict[str, tuple[str, str]] = {}
        for name, stmt in hot_queries(Repo(store)).items():

            def side(on: bool, stmt: Any = stmt) -> Callable[[], Awaitable[float]]:
                async def run() -> float:
                    await _set_indexes(store, on)
                    await store.fetch_all(stmt)  # warm
                    start = time.perf_counter()
                    for _ in range(n):
                        await store.fetch_all(stmt)
                    return (time.perf_counter() - start) / n * 1000

                return run

            results[name] = await _paired(repeats, side(True), side(False))
            await _set_indexes(store, True)
            plan_on = await explain(store, stmt)
            await _set_indexes(store, False)
            plans[name] = (plan_on, await explain(store, stmt))
        return results, plans
    finally:
        await store.close()


# -- 3. batching -------------------------------------------------------------------------------
async def bench_batching(new_url: Callable[[], str], writes: int, repeats: int) -> Paired:
    batched = Store(new_url(), group_commit=True)
    single = Store(new_url(), group_commit=False)
    await batched.open()
    await single.open()
    counter = iter(range(10**9))
    try:

        def side(store: Store) -> Callable[[], Awaitable[float]]:
            repo = Repo(store)

            async def run() -> float:
                ops = [repo.execution_insert_op(_exec_row(next(counter))) for _ in range(writes)]
                start = time.perf_counter()
                await asyncio.gather(*(store.write(op) for op in ops))  # concurrent acks
                return (time.perf_counter() - start) / writes * 1000

            return run

        await side(batched)()
        await side(single)()
        return await _paired(repeats, side(batched), side(single))
    finally:
        await batched.close()
        await single.close()


# -- one dialect -------------------------------------------------------------------------------
@dataclass
class DialectResult:
    dialect: str
    pooling: Paired
    indexes: dict[str, Paired]
    plans: dict[str, tuple[str, str]]
    batching: Paired


def _run_dialect(new: Callable[[str], str], dialect: str, quick: bool) -> DialectResult:
    repeats = 4 if quick else 8
    pooling = asyncio.run(bench_pooling(new(dialect), 50 if quick else 150, repeats))
    index_rows = 20_000 if quick else 100_000
    indexes, plans = asyncio.run(bench_indexes(new(dialect), index_rows, 20 if quick else 50, repeats))
    batching = asyncio.run(bench_batching(lambda: new(dialect), 500 if quick else 1000, repeats))
    return DialectResult(dialect, pooling, indexes, plans, batching)


def rows_for(res: DialectResult, index_rows: int) -> list[Row]:
    d = res.dialect
    pool_change = res.pooling.change()
    rows = [
        Row(
            f"db pooling ({d})",
            "hot read, pooled (max 20, pre-ping) vs new connection per query, ms/query",
            f"{_spread(res.pooling.a)} vs {_spread(res.pooling.b)}: {_spread(pool_change, '{:+.0%}')}",
            f"-{POOLING_CLAIM:.0%} connection overhead",
            _verdict(statistics.median(pool_change) <= -POOLING_CLAIM),
        )
    ]
    for name, paired in res.indexes.items():
        slowest_on = max(paired.a)
        speedup = paired.speedup()
        rows.append(
            Row(
                f"db indexes ({d})",
                f"{name}, {index_rows:,} rows: on vs off, ms/query",
                f"{_spread(paired.a, '{:.3f}')} vs {_spread(paired.b, '{:.3f}')}: "
                f"{_spread(speedup, '{:.1f}')}x faster",
                f"queries < {SLOW_QUERY_MS:.0f} ms (guide; no speed-up figure)",
                _verdict(slowest_on < SLOW_QUERY_MS),
            )
        )
    batch_change = res.batching.change()
    rows.append(
        Row(
            f"db batching ({d})",
            "concurrent inserts, group commit vs a transaction each, ms/insert",
            f"{_spread(res.batching.a, '{:.3f}')} vs {_spread(res.batching.b, '{:.3f}')}: "
            f"{_spread(batch_change, '{:+.0%}')}",
            f"-{BATCHING_CLAIM:.0%} overhead (message batching)",
            _verdict(statistics.median(batch_change) <= -BATCHING_CLAIM),
        )
    )
    return rows


def plans_text(results: list[DialectResult]) -> str:
    out = []
    for res in results:
        for name, (on, off) in res.plans.items():
            out.append(f"{res.dialect} · {name}\n  indexes on:\n    " + on.replace("\n", "\n    "))
            out.append("  indexes off:\n    " + off.replace("\n", "\n    "))
    return "\n".join(out)


def run_all(quick: bool = False, dialects: tuple[str, ...] = ("sqlite", "postgresql")) -> list[Row]:
    rows, _ = measure(quick, dialects)
    return rows


def measure(quick: bool, dialects: tuple[str, ...]) -> tuple[list[Row], list[DialectResult]]:
    index_rows = 20_000 if quick else 100_000
    results: list[DialectResult] = []
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="db-bench-") as tmp, databases(Path(tmp)) as new:
        for dialect in dialects:
            try:
                res = _run_dialect(new, dialect, quick)
            except Exception as exc:  # e.g. no PostgreSQL here: say so, keep the other rows
                rows.append(
                    Row(f"db ({dialect})", "phase failed", f"{type(exc).__name__}: {exc}"[:160], "-", "error")
                )
                continue
            results.append(res)
            rows += rows_for(res, index_rows)
    return rows, results


def markdown(rows: list[Row], results: list[DialectResult], note: str) -> str:
    out = [SECTION, "", "(`python -m bench.db_bench`; also a phase of `make bench-runtime`)", "", note, ""]
    out += ["| benchmark | metric | measured: median [min, max] over repeats | guide claim | verdict |"]
    out += ["| --- | --- | --- | --- | --- |"]
    out += [f"| {r.benchmark} | {r.metric} | {r.measured} | {r.claim} | {r.verdict} |" for r in rows]
    out += [
        "",
        "Query plans of the hot queries (indexes on, then off):",
        "",
        "```",
        plans_text(results),
        "```",
    ]
    return "\n".join(out) + "\n"


def main(argv: list[str] | None = None) -> int:
    import os

    from bench.docs_section import replace_section
    from bench.runtime_bench import format_table

    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer rows and repeats")
    parser.add_argument("--docs", action="store_true", help="write the section of docs/benchmarks.md")
    parser.add_argument("--dialects", default="sqlite,postgresql")
    args = parser.parse_args(argv)
    load = os.getloadavg()[0]
    started = time.time()
    rows, results = measure(args.quick, tuple(args.dialects.split(",")))
    print(format_table(rows))  # type: ignore[arg-type]
    print("\n" + plans_text(results))
    repeats = 4 if args.quick else 8
    note = (
        f"Run {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime(started))}"
        f"{' (--quick)' if args.quick else ''}, "
        f"{time.time() - started:.0f} s, {repeats} repeats per comparison in ABBA order, 1-min load average "
        f"at start {load:.1f} on {os.cpu_count()} CPUs (shared machine: other work was running, so "
        "absolute times are noisy; the paired ratios less so). PostgreSQL 15, local, fsync on; "
        "SQLite in WAL mode with synchronous=NORMAL (no fsync per commit)."
    )
    print("\n" + note)
    if args.docs:
        replace_section(markdown(rows, results, note))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
