"""JSON error bodies ``{error, message, details?, requestId, timestamp}`` for every 4xx/5xx."""

from __future__ import annotations

import itertools
import os
import time
from datetime import UTC, datetime
from typing import Any

import orjson
from starlette.responses import Response

_PREFIX = f"{os.getpid():x}-{int(time.time()):x}"
_counter = itertools.count(1)


def new_request_id() -> str:
    # A counter is cheaper than uuid4 and unique per process start.
    return f"req-{_PREFIX}-{next(_counter):x}"


def iso_now() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


def iso(ts: float | None) -> str | None:
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, UTC).isoformat().replace("+00:00", "Z")


class ApiError(Exception):
    """Raised anywhere in a handler; rendered as a JSON error response."""

    def __init__(
        self,
        status: int,
        error: str,
        message: str,
        details: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.error = error
        self.message = message
        self.details = details
        self.headers = headers or {}


def error_body(error: str, message: str, details: dict[str, Any] | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"error": error, "message": message}
    if details:
        body["details"] = details
    body["requestId"] = new_request_id()
    body["timestamp"] = iso_now()
    return body


def error_response(exc: ApiError) -> Response:
    return Response(
        orjson.dumps(error_body(exc.error, exc.message, exc.details)),
        status_code=exc.status,
        media_type="application/json",
        headers=exc.headers,
    )


def bad_request(message: str, details: dict[str, Any] | None = None) -> ApiError:
    return ApiError(400, "bad_request", message, details)


def not_found(kind: str, ident: str) -> ApiError:
    return ApiError(404, "not_found", f"{kind} {ident!r} not found", {"kind": kind, "id": ident})


def overloaded(message: str, retry_after_s: int, status: int = 429) -> ApiError:
    return ApiError(
        status,
        "too_many_requests" if status == 429 else "service_unavailable",
        message,
        {"retryAfterSeconds": retry_after_s},
        {"Retry-After": str(retry_after_s)},
    )
