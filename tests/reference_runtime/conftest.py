"""Fixtures: one shared model backend and one shared runtime process for integration tests."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

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
def server(tmp_path_factory: pytest.TempPathFactory, backend: Server) -> Iterator[Server]:
    """The main runtime (optimized profile) for integration tests."""
    srv = start_runtime(tmp_path_factory.mktemp("runtime"), "--model-url", backend.base_url)
    yield srv
    srv.stop()


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
