"""Shared request helpers: body reading with a size limit, JSON parsing, small validators."""

from __future__ import annotations

import re
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response

from ..bus import parse_priority
from ..errors import ApiError, bad_request, not_found
from ..fields import LIST_MAX_ITEMS, MAX_ID_LEN, TEXT, Length
from ..jsonlimits import exceeds_depth
from ..runtime import Runtime
from ..services import Services

_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
#: An integer query parameter as OpenAPI writes one (``int()`` also takes "1_0", " 7", "٣").
_INTEGER = re.compile(r"-?[0-9]+")


def runtime(request: Request) -> Runtime:
    rt: Runtime = request.app.state.rt
    return rt


def services(request: Request) -> Services:
    return runtime(request).services


async def project_row(request: Request) -> dict[str, Any]:
    """The ``{project_id}`` path parameter's project row, or 404."""
    pid = path_id(request, "project_id", "project", uuid_format=True)
    row = await services(request).repo.get_project(pid)
    if row is None:
        raise not_found("project", pid)
    return row


async def existing_project_id(request: Request) -> str:
    """The ``{project_id}`` path parameter, after checking that the project exists (else 404)."""
    return str((await project_row(request))["id"])


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(body), status_code=status, media_type="application/json", headers=headers)


def check_declared_length(declared: str | None, limit: int) -> None:
    """400 for a Content-Length that is not a decimal number, 413 above ``limit``."""
    if declared is None:
        return
    if not (declared.isascii() and declared.isdigit()):  # '²'.isdigit() is True, int('²') fails
        raise bad_request("invalid Content-Length header")
    if int(declared) > limit:
        raise too_large(limit)


async def read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None:
        check_declared_length(declared, limit)
        return await request.body()
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise too_large(limit)
        chunks.append(chunk)
    return b"".join(chunks)


def too_large(limit: int) -> ApiError:
    return ApiError(413, "payload_too_large", f"request body exceeds {limit} bytes", {"limitBytes": limit})


async def read_json(request: Request, *, required: bool = True) -> tuple[dict[str, Any], int]:
    """Parse a JSON object body; returns (body, size in bytes)."""
    # Content-Type is not enforced: curl -d sends form-urlencoded; the body itself must be JSON.
    settings = runtime(request).settings
    raw = await read_body(request, settings.max_body_bytes)
    if not raw.strip() and not required:
        return {}, 0
    return parse_json_object(raw, settings.max_json_depth), len(raw)


def parse_json_object(raw: bytes, max_depth: int) -> dict[str, Any]:
    """The one body parser of every endpoint: a JSON object nested at most ``max_depth``
    levels (400 otherwise), so whatever is accepted can be written back (``jsonlimits``)."""
    if not raw.strip():
        raise bad_request("request body is required (JSON object)")
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise bad_request(f"malformed JSON: {exc}") from None
    if not isinstance(body, dict):
        raise bad_request("request body must be a JSON object")
    if exceeds_depth(raw, body, max_depth):
        raise bad_request(
            f"JSON nested deeper than {max_depth} levels", {"maxDepth": max_depth, "limit": "max_json_depth"}
        )
    return body


def opt_str(body: dict[str, Any], key: str, length: Length = TEXT) -> str | None:
    """``body[key]``: absent → None; present, it must be a string within ``length`` (400)."""
    if key not in body:  # an explicit null is a wrong type, as in the spec (no field is nullable)
        return None
    value = body[key]
    if not isinstance(value, str):
        raise bad_request(f"'{key}' must be a string", {"field": key})
    if not length.min <= len(value) <= length.max:
        raise bad_request(f"'{key}' length must be between {length.min} and {length.max}", {"field": key})
    return value


def req_str(body: dict[str, Any], key: str, length: Length) -> str:
    value = opt_str(body, key, length)
    if value is None:
        raise bad_request(f"'{key}' is required", {"field": key})
    return value


def opt_obj(body: dict[str, Any], key: str) -> dict[str, Any] | None:
    if key not in body:
        return None
    value = body[key]
    if not isinstance(value, dict):
        raise bad_request(f"'{key}' must be an object", {"field": key})
    return value


def opt_str_list(body: dict[str, Any], key: str, *, max_items: int = LIST_MAX_ITEMS) -> list[str] | None:
    if key not in body:
        return None
    value = body[key]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise bad_request(f"'{key}' must be an array of strings", {"field": key})
    if len(value) > max_items:
        raise bad_request(f"'{key}' has more than {max_items} items", {"field": key})
    return value


def as_integer(value: Any) -> int | None:
    """A JSON integer: an int (not a bool) or a number without a fraction (JSON Schema counts
    ``3.0`` as an integer); otherwise None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return None


def body_priority(body: dict[str, Any]) -> int:
    """``priority`` (extension): P1-P4 or 1-4, default P3; anything else (null too) is a 400."""
    if "priority" not in body:
        return parse_priority(None)
    value = body["priority"]
    number = as_integer(value)
    try:
        if value is None:
            raise ValueError("priority must be one of P1, P2, P3, P4")
        return parse_priority(value if number is None else number)
    except ValueError as exc:
        raise bad_request(str(exc), {"field": "priority"}) from None


def query_int(request: Request, key: str, default: int, bounds: Length) -> int:
    raw = request.query_params.get(key)
    if raw is None:
        return default
    if not _INTEGER.fullmatch(raw):
        raise bad_request(f"query parameter '{key}' must be an integer", {"parameter": key})
    value = int(raw) if len(raw) <= 20 else bounds.max + 1  # int() of 5000 digits raises
    if not bounds.min <= value <= bounds.max:
        raise bad_request(
            f"query parameter '{key}' must be between {bounds.min} and {bounds.max}", {"parameter": key}
        )
    return value


def path_id(request: Request, key: str, kind: str, *, uuid_format: bool = False) -> str:
    value = str(request.path_params[key])
    if len(value) > MAX_ID_LEN or (uuid_format and not _UUID.fullmatch(value)):
        raise not_found(kind, value[:MAX_ID_LEN])
    return value
