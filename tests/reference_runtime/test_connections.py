"""Connection hygiene (issue 12): slowloris and idle connections are closed, a connection cap
answers 503 + Retry-After, a client that hangs up is not an error in the log."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator

import httpx
import orjson
import pytest

from reference_runtime.cli import runtime_server_config
from reference_runtime.config import load_settings
from reference_runtime.connections import GuardedConfig

from .helpers import Server, make_project, start_runtime

#: Generous bound for "closed by the server" on a loaded 2-core machine; the timeouts are 1 s.
CLOSE_WITHIN_S = 15.0


def _address(srv: Server) -> tuple[str, int]:
    host, port = srv.base_url.removeprefix("http://").split(":")
    return host, int(port)


def _read_until_closed(sock: socket.socket, within_s: float = CLOSE_WITHIN_S) -> tuple[bytes, float]:
    """Everything the server sends until it closes the connection, and how long that took."""
    sock.settimeout(within_s)
    started = time.monotonic()
    data = b""
    while True:
        try:
            chunk = sock.recv(65536)
        except TimeoutError:
            raise AssertionError(f"connection still open after {within_s} s; got {data!r}") from None
        except ConnectionResetError:
            break
        if not chunk:
            break
        data += chunk
    return data, time.monotonic() - started


@pytest.fixture(scope="module")
def strict(tmp_path_factory: pytest.TempPathFactory, backend: Server) -> Iterator[Server]:
    srv = start_runtime(
        tmp_path_factory.mktemp("strict"),
        "--model-url",
        backend.base_url,
        "--set",
        "server.header_timeout_s=1",
        "--set",
        "server.keep_alive_timeout_s=1",
    )
    yield srv
    srv.stop()


def test_slowloris_is_disconnected_after_the_header_timeout(strict: Server) -> None:
    with socket.create_connection(_address(strict)) as slow:
        slow.sendall(b"GET /v1/health HTTP/1.1\r\nHost: x\r\nX-Slow: ")  # ...and never finishes
        with httpx.Client(base_url=strict.base_url) as other:  # others are served meanwhile
            assert other.get("/v1/health").status_code == 200
        data, _ = _read_until_closed(slow)
    head, _, body = data.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 408")
    assert orjson.loads(body)["error"] == "request_timeout"


def test_connection_that_sends_nothing_is_closed(strict: Server) -> None:
    with socket.create_connection(_address(strict)) as silent:
        data, _ = _read_until_closed(silent)
    assert data == b""  # nothing was asked, nothing is answered


def test_idle_keep_alive_connection_is_closed(strict: Server) -> None:
    with socket.create_connection(_address(strict)) as conn:
        conn.sendall(b"GET /v1/health HTTP/1.1\r\nHost: x\r\n\r\n")
        data, _ = _read_until_closed(conn)
    assert data.startswith(b"HTTP/1.1 200")  # served, kept alive, then closed when idle
    assert b"connection: close" not in data.lower()


def test_client_disconnect_is_not_logged_as_an_error(strict: Server) -> None:
    with strict.client() as api:
        pid = str(make_project(api)["id"])
    host, port = _address(strict)
    for path in (f"/v1/projects/{pid}/agents", f"/v1/projects/{pid}/agents/x/execute"):
        with socket.create_connection((host, port)) as conn:
            head = (
                f"POST {path} HTTP/1.1\r\nHost: x\r\nX-API-Key: {strict.key}\r\nContent-Length: 500\r\n\r\n"
            )
            conn.sendall(head.encode() + b'{"name": "half a bo')  # ...and hang up mid-body
        time.sleep(0.3)
    with strict.client() as api:  # the runtime is fine and the log has no error for it
        assert api.get("/v1/health").status_code == 200
    assert strict.log is not None
    log = strict.log.read_text()
    assert "unhandled error" not in log and "Traceback" not in log and "Exception in ASGI" not in log


@pytest.fixture(scope="module")
def capped(tmp_path_factory: pytest.TempPathFactory, backend: Server) -> Iterator[Server]:
    srv = start_runtime(
        tmp_path_factory.mktemp("capped"),
        "--model-url",
        backend.base_url,
        "--set",
        "server.max_connections=3",
        "--set",
        "server.retry_after_s=2",
        "--set",
        "server.keep_alive_timeout_s=60",
    )
    yield srv
    srv.stop()


def test_connections_beyond_the_cap_get_503_with_retry_after(capped: Server) -> None:
    held = []
    try:
        for _ in range(3):  # three kept-alive connections: the cap
            conn = socket.create_connection(_address(capped))
            conn.sendall(b"GET /v1/health HTTP/1.1\r\nHost: x\r\n\r\n")
            assert conn.recv(65536).startswith(b"HTTP/1.1 200")
            held.append(conn)
        with httpx.Client(base_url=capped.base_url) as extra:
            refused = extra.get("/v1/health")
        assert refused.status_code == 503
        assert refused.headers["Retry-After"] == "2"
        assert refused.json()["error"] == "service_unavailable"
        assert refused.json()["details"]["retryAfterSeconds"] == 2
    finally:
        for conn in held:
            conn.close()
    deadline = time.monotonic() + CLOSE_WITHIN_S  # the server sees the closes, then serves again
    status = 0
    while time.monotonic() < deadline and status != 200:
        with httpx.Client(base_url=capped.base_url) as again:
            status = again.get("/v1/health").status_code
        time.sleep(0.05)
    assert status == 200


def test_uvicorn_options_come_from_the_settings() -> None:
    overrides = {"server": {"header_timeout_s": 2.5, "keep_alive_timeout_s": 7, "max_connections": 9}}
    settings = load_settings(None, overrides, environ={})
    config = runtime_server_config(object(), settings)
    assert isinstance(config, GuardedConfig)
    assert config.timeout_keep_alive == 7 and config.limit_concurrency is None
    assert (config.guard.header_timeout_s, config.guard.max_connections) == (2.5, 9)
    defaults = load_settings(None, {}, environ={}).server
    assert defaults.header_timeout_s == 10.0 and defaults.keep_alive_timeout_s == 5
    assert defaults.max_connections == 2048
