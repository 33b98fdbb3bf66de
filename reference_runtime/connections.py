"""Connection hygiene: header-read timeout and connection cap, in uvicorn's protocol.

uvicorn does part of this itself and is configured for it in ``cli.py``: ``timeout_keep_alive``
closes a keep-alive connection that stays idle after a response. What it has no option for is
added here, in a small subclass of its httptools protocol (an ASGI middleware cannot see a
request before its headers are complete, nor a connection that never sends one):

- **header-read timeout** (nginx ``client_header_timeout``): a request's headers must be
  complete within ``server.header_timeout_s`` of its first byte, and a new connection must
  send them within that time of opening. Otherwise the connection is closed — with a 408 JSON
  body when part of a request had arrived (a slowloris), silently when nothing had.
- **connection cap**: a request on a connection opened beyond ``server.max_connections``
  gets 503 with ``Retry-After`` and the runtime's JSON error body, and the connection is
  closed (such a connection is still subject to the header timeout). uvicorn's
  ``limit_concurrency`` answers a plain-text 503 without ``Retry-After``, so it is not used.
"""

from __future__ import annotations

import asyncio
import logging
from asyncio import TimerHandle
from dataclasses import dataclass
from typing import Any

import orjson
import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.server import ServerState

from .errors import error_body

log = logging.getLogger(__name__)
PROTOCOL = "reference_runtime.connections:GuardedHttpToolsProtocol"


@dataclass(frozen=True)
class ConnectionGuard:
    header_timeout_s: float = 10.0
    max_connections: int = 2048
    retry_after_s: int = 1


class GuardedConfig(uvicorn.Config):
    """A uvicorn ``Config`` that carries the guard to the protocol (picklable, so it reaches
    ``--workers N`` processes too)."""

    def __init__(self, app: Any, *, guard: ConnectionGuard, **kwargs: Any) -> None:
        super().__init__(app, http=PROTOCOL, **kwargs)
        self.guard = guard


def _timeout_response(body: dict[str, Any]) -> bytes:
    payload = orjson.dumps(body)
    head = [
        b"HTTP/1.1 408 Request Timeout",
        b"content-type: application/json",
        b"content-length: " + str(len(payload)).encode(),
        b"connection: close",
    ]
    return b"\r\n".join(head) + b"\r\n\r\n" + payload


class GuardedHttpToolsProtocol(HttpToolsProtocol):
    def __init__(
        self,
        config: uvicorn.Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        guard = getattr(config, "guard", None)
        self.guard = guard if isinstance(guard, ConnectionGuard) else ConnectionGuard()
        self._header_timer: TimerHandle | None = None
        self._partial = False  # bytes of a request arrived, its headers are not complete yet

    # -- connection ----------------------------------------------------------------------------
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        if len(self.connections) > self.guard.max_connections:
            # Every request on this connection is answered by ``_over_capacity`` (the request is
            # read first: closing on a client still writing could reset away the answer).
            self.app = self._over_capacity
            log.debug(
                "connection over the cap: %d open (cap %d)", len(self.connections), self.guard.max_connections
            )
        self._arm_header_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_header_timer()
        super().connection_lost(exc)

    async def _over_capacity(self, scope: Any, receive: Any, send: Any) -> None:
        """503 + Retry-After with the runtime's JSON error body; ``connection: close``."""
        retry = self.guard.retry_after_s
        body = orjson.dumps(
            error_body(
                "service_unavailable",
                f"too many open connections (limit {self.guard.max_connections}); retry later",
                {"retryAfterSeconds": retry, "limit": "server.max_connections"},
            )
        )
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            (b"retry-after", str(retry).encode()),
            (b"connection", b"close"),
        ]
        await send({"type": "http.response.start", "status": 503, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    # -- header-read timeout -------------------------------------------------------------------
    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._partial = True
        self._arm_header_timer()

    def on_headers_complete(self) -> None:
        self._partial = False
        self._cancel_header_timer()
        super().on_headers_complete()

    def _arm_header_timer(self) -> None:
        if self._header_timer is None:
            self._header_timer = self.loop.call_later(self.guard.header_timeout_s, self._header_timeout)

    def _cancel_header_timer(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _header_timeout(self) -> None:
        self._header_timer = None
        transport = self.transport
        if transport.is_closing():
            return
        idle = self.cycle is None or self.cycle.response_complete
        if self._partial and idle:
            limit = self.guard.header_timeout_s
            body = error_body(
                "request_timeout",
                f"request headers not received within {limit:g} s",
                {"limit": "server.header_timeout_s"},
            )
            transport.write(_timeout_response(body))
        log.debug("closing connection %s: headers not complete in time", self.client)
        transport.close()
