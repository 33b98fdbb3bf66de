"""Fixtures: one shared model backend and one shared runtime process for integration tests, and
the database the store tests run on: SQLite, and PostgreSQL (one server per session, a fresh
database per test)."""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from reference_runtime.store.pgserver import PgServer, create_database, drop_database

from .helpers import Server, start_backend, start_runtime


@pytest.fixture(scope="session")
def backend(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A shared simulated model service (fast: median 5 ms)."""
    srv = start_backend(
        tmp_path_factory.mktemp("backend"),
        "--latency-median-ms",
        "5",
        "--latency-p99-ms",
        "30",
        "--cpu-ms",
        "0.1",
    )
    yield srv
    srv.stop()


@pytest.fixture(scope="session")
def server(
    tmp_path_factory: pytest.TempPathFactory, backend: Server, request: pytest.FixtureRequest
) -> Iterator[Server]:
    """The main runtime (optimized profile) for integration tests; on SQLite, or on a fresh
    PostgreSQL database with MOTHERBOX_TEST_RUNTIME_DATABASE=postgresql (the API suite on it)."""
    args = ["--model-url", backend.base_url]
    on_postgres = os.environ.get(RUNTIME_DATABASE_ENV) == "postgresql"
    server_url = request.getfixturevalue("pg_server_url") if on_postgres else ""
    database = f"mbx_runtime_{os.getpid()}"
    if on_postgres:
        args += ["--database-url", create_database(server_url, database)]
    srv = start_runtime(tmp_path_factory.mktemp("runtime"), *args)
    yield srv
    srv.stop()
    if on_postgres:
        drop_database(server_url, database)


@pytest.fixture()
def api(server: Server) -> Iterator[httpx.Client]:
    with server.client() as client:
        yield client


@pytest.fixture()
def faulty(server: Server) -> Iterator[httpx.Client]:
    """The shared runtime; every fault is cleared afterwards so other tests are unaffected."""
    with server.client() as api:
        try:
            yield api
        finally:
            assert api.delete("/v1/admin/faults").status_code == 200


# -- databases ---------------------------------------------------------------------------------
#: An existing server to test against instead of starting one (any database of it; each test
#: gets its own new database there, dropped afterwards).
TEST_DATABASE_URL_ENV = "MOTHERBOX_TEST_DATABASE_URL"
#: ``postgresql``: the shared runtime of the API tests runs on PostgreSQL (default SQLite).
RUNTIME_DATABASE_ENV = "MOTHERBOX_TEST_RUNTIME_DATABASE"
DIALECTS = ("sqlite", "postgresql")
_db_numbers = itertools.count()


def _postgres_required() -> bool:
    """In CI (and with MOTHERBOX_REQUIRE_POSTGRES=1) no PostgreSQL is an error, never a skip."""
    return os.environ.get("CI") == "true" or os.environ.get("MOTHERBOX_REQUIRE_POSTGRES") == "1"


@pytest.fixture(scope="session")
def pg_server_url() -> Iterator[str]:
    """The URL of a PostgreSQL server for this session: $MOTHERBOX_TEST_DATABASE_URL, or a
    throwaway local one (stopped and removed at the end of the session)."""
    existing = os.environ.get(TEST_DATABASE_URL_ENV)
    if existing:
        yield existing
        return
    try:
        import asyncpg  # noqa: F401  # the postgres extra
    except ImportError:
        reason = "asyncpg not installed (pip install -e '.[dev]')"
        if _postgres_required():
            pytest.fail(f"PostgreSQL tests required: {reason}", pytrace=False)
        pytest.skip(reason)
    try:
        server = PgServer().start()
    except Exception as exc:  # no binaries, no postgres user, failed start
        reason = f"no PostgreSQL could be started: {exc}"
        if _postgres_required():
            pytest.fail(f"PostgreSQL tests required (CI): {reason}", pytrace=False)
        pytest.skip(f"{reason} (set ${TEST_DATABASE_URL_ENV} to use an existing server)")
    try:
        yield server.url()
    finally:
        server.stop()


@pytest.fixture(params=DIALECTS)
def dialect(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture()
def new_db_url(dialect: str, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Callable[[], str]]:
    """A factory of fresh, empty databases of the test's dialect (each call: another one)."""
    made: list[str] = []
    server_url = request.getfixturevalue("pg_server_url") if dialect == "postgresql" else ""

    def make() -> str:
        number = next(_db_numbers)
        if dialect == "sqlite":
            folder = tmp_path / f"db{number}"
            folder.mkdir()
            return f"sqlite+aiosqlite:///{folder / 'db.sqlite'}"
        name = f"mbx_test_{os.getpid()}_{number}"
        made.append(name)
        return create_database(server_url, name)

    yield make
    for name in made:
        drop_database(server_url, name)


@pytest.fixture()
def db_url(new_db_url: Callable[[], str]) -> str:
    """One fresh database of the test's dialect."""
    return new_db_url()
