"""Shared request helpers: body reading with a size limit, JSON parsing, small validators."""

from __future__ import annotations

import re
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response

from ..errors import ApiError, bad_request, not_found
from ..runtime import Runtime
from ..services import Services

_UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
MAX_ID_LEN = 128


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
    raw = await read_body(request, runtime(request).settings.max_body_bytes)
    if not raw.strip() and not required:
        return {}, 0
    return parse_json_object(raw), len(raw)


def parse_json_object(raw: bytes) -> dict[str, Any]:
    if not raw.strip():
        raise bad_request("request body is required (JSON object)")
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise bad_request(f"malformed JSON: {exc}") from None
    if not isinstance(body, dict):
        raise bad_request("request body must be a JSON object")
    return body


def opt_str(body: dict[str, Any], key: str, *, max_len: int = 10_000, min_len: int = 0) -> str | None:
    value = body.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise bad_request(f"'{key}' must be a string", {"field": key})
    if not min_len <= len(value) <= max_len:
        raise bad_request(f"'{key}' length must be between {min_len} and {max_len}", {"field": key})
    return value


def req_str(body: dict[str, Any], key: str, *, max_len: int = 10_000, min_len: int = 1) -> str:
    value = opt_str(body, key, max_len=max_len, min_len=min_len)
    if value is None:
        raise bad_request(f"'{key}' is required", {"field": key})
    return value


def opt_obj(body: dict[str, Any], key: str) -> dict[str, Any] | None:
    value = body.get(key)
    if value is None:
        return None
    if not isinstance(value, dict):
        raise bad_request(f"'{key}' must be an object", {"field": key})
    return value


def opt_str_list(body: dict[str, Any], key: str, *, max_items: int = 200) -> list[str] | None:
    value = body.get(key)
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise bad_request(f"'{key}' must be an array of strings", {"field": key})
    if len(value) > max_items:
        raise bad_request(f"'{key}' has more than {max_items} items", {"field": key})
    return value


def query_int(request: Request, key: str, default: int, lo: int, hi: int) -> int:
    raw = request.query_params.get(key)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise bad_request(f"query parameter '{key}' must be an integer", {"parameter": key}) from None
    if not lo <= value <= hi:
        raise bad_request(f"query parameter '{key}' must be between {lo} and {hi}", {"parameter": key})
    return value


def path_id(request: Request, key: str, kind: str, *, uuid_format: bool = False) -> str:
    value = str(request.path_params[key])
    if len(value) > MAX_ID_LEN or (uuid_format and not _UUID.match(value)):
        raise not_found(kind, value[:MAX_ID_LEN])
    return value
