"""The Starlette app: routes under ``/v1``, API-key gate, JSON errors, lifespan."""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import orjson
from starlette.applications import Starlette
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .auth import KeyChecker
from .config import Settings, settings_from_env
from .errors import ApiError, error_response
from .gctuning import GcPauses, tune_after_start
from .openapi import build_document
from .routes import admin, agents, projects, system, workflows
from .routes.common import check_declared_length, too_large
from .runtime import Runtime

log = logging.getLogger(__name__)
ACTIVATE_PATH = "/v1/admin/mother-box/activate"
OPENAPI_PATH = "/v1/openapi.json"
PUBLIC_PATHS = frozenset({"/v1/health", OPENAPI_PATH})
#: Not subject to the request-path faults (CPU hog, leak, CPU per request), so faults can
#: always be observed and cleared.
FAULT_EXEMPT = frozenset({"/v1/health", "/v1/metrics/prometheus", "/v1/admin/faults", "/v1/admin/stats"})
EXECUTE_ROUTE = "/v1/projects/{project_id}/agents/{agent_id}/execute"
_HTTP_ERRORS = {404: "not_found", 405: "method_not_allowed", 400: "bad_request"}
#: Recorded (request metrics) for a request whose client went away before its answer (nginx's 499).
CLIENT_CLOSED = 499


class _Disconnected(Exception):
    pass


async def _read_body(receive: Receive, headers: Headers, limit: int) -> bytes:
    check_declared_length(headers.get("content-length"), limit)
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise _Disconnected
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise too_large(limit)
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


class Gate:
    """Pure ASGI (no BaseHTTPMiddleware overhead): API key check, connection count, and a
    fast path for the command-ack endpoint that skips Starlette's routing and Request objects."""

    def __init__(self, app: ASGIApp, checker: KeyChecker, rt: Runtime) -> None:
        self.app = app
        self.checker = checker
        self.rt = rt
        self.services = rt.services  # built once with the runtime; one lookup less per request

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        headers = Headers(scope=scope)
        if path not in PUBLIC_PATHS:
            try:
                self.checker.check(headers, bearer_only=path == ACTIVATE_PATH)
            except ApiError as exc:
                await error_response(exc)(scope, receive, send)
                return
        rt = self.rt
        rt.active_connections += 1
        started = time.perf_counter()
        status = 500

        async def send_tracked(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        route = "unmatched"
        try:
            if path not in FAULT_EXEMPT:
                self.services.faults.on_request()  # CPU hog, leak, CPU-per-request faults: request path
            parts = path.split("/")
            if (
                scope["method"] == "POST"
                and len(parts) == 7
                and parts[6] == "execute"
                and parts[4] == "agents"
                and parts[2] == "projects"
                and parts[1] == "v1"
            ):
                route = EXECUTE_ROUTE
                await self._execute(scope, receive, send_tracked, headers, parts[3], parts[5])
            else:
                await self.app(scope, receive, send_tracked)
                route = getattr(scope.get("route"), "path", "unmatched")
        finally:
            rt.active_connections -= 1
            self.services.observe_request(scope["method"], route, status, time.perf_counter() - started)

    async def _execute(
        self, scope: Scope, receive: Receive, send: Send, headers: Headers, project_id: str, agent_id: str
    ) -> None:
        try:
            raw = await _read_body(receive, headers, self.rt.settings.max_body_bytes)
            status, body = await agents.execute_core(
                self.rt, project_id, agent_id, raw, headers.get("prefer", "")
            )
        except _Disconnected:
            log.debug("client disconnected before its request body was read: %s", scope["path"])
            return
        except ApiError as exc:
            await error_response(exc)(scope, receive, send)
            return
        except Exception as exc:  # same contract as the app: JSON body, never a bare 500
            log.exception("unhandled error", exc_info=exc)
            await error_response(ApiError(500, "internal_error", "unexpected server error"))(
                scope, receive, send
            )
            return
        # Raw ASGI messages: a Response object per ack is measurable overhead at this rate.
        payload = orjson.dumps(body)
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(payload)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": payload})


async def _api_error(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    return error_response(exc)


async def _http_error(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    code = _HTTP_ERRORS.get(exc.status_code, "http_error")
    message = {404: "no such endpoint", 405: "method not allowed on this endpoint"}.get(
        exc.status_code, exc.detail
    )
    return error_response(ApiError(exc.status_code, code, message, headers=dict(exc.headers or {})))


async def _client_gone(request: Request, _exc: Exception) -> Response:
    """A client that hangs up mid-request is routine (timeouts, Ctrl-C), not a server error:
    logged at debug; the answer goes nowhere (uvicorn drops writes to a closed connection)."""
    log.debug("client disconnected during %s %s", request.method, request.url.path)
    return Response(status_code=CLIENT_CLOSED)


async def _unexpected(_request: Request, exc: Exception) -> Response:
    log.exception("unhandled error", exc_info=exc)
    return error_response(ApiError(500, "internal_error", "unexpected server error"))


Endpoint = Callable[[Request], Awaitable[Response]]


def route_table() -> list[tuple[str, str, Endpoint]]:
    """(path, method, handler) of every endpoint; ``routes`` groups them by path."""
    p = "/v1/projects"
    a = p + "/{project_id}/agents"
    w = p + "/{project_id}/workflows"
    return [
        (p, "GET", projects.list_projects),
        (p, "POST", projects.create_project),
        (p + "/{project_id}", "GET", projects.get_project),
        (p + "/{project_id}", "PUT", projects.update_project),
        (p + "/{project_id}", "DELETE", projects.delete_project),
        (a, "GET", agents.list_agents),
        (a, "POST", agents.create_agent),
        (a + "/{agent_id}", "GET", agents.get_agent),
        (a + "/{agent_id}", "PUT", agents.update_agent),
        (a + "/{agent_id}", "DELETE", agents.delete_agent),
        (a + "/{agent_id}/execute", "POST", agents.execute_command),
        (w, "GET", workflows.list_workflows),
        (w, "POST", workflows.create_workflow),
        (w + "/{workflow_id}/execute", "POST", workflows.execute_workflow),
        (p + "/{project_id}/handoffs", "POST", workflows.create_handoff),
        (p + "/{project_id}/handoffs/{handoff_id}", "GET", workflows.get_handoff),
        ("/v1/executions/{execution_id}", "GET", system.get_execution),
        ("/v1/metrics", "GET", system.metrics),
        ("/v1/health", "GET", system.health),
        (ACTIVATE_PATH, "POST", system.activate),
        (OPENAPI_PATH, "GET", system.openapi_document),
        ("/v1/metrics/prometheus", "GET", admin.prometheus),
        ("/v1/admin/faults", "GET", admin.get_faults),
        ("/v1/admin/faults", "POST", admin.set_faults),
        ("/v1/admin/faults", "DELETE", admin.clear_faults),
        ("/v1/admin/stats", "GET", admin.stats),
        ("/v1/admin/webhooks", "GET", admin.list_webhooks),
        ("/v1/admin/webhooks", "POST", admin.add_webhook),
        ("/v1/admin/webhooks/{subscription_id}", "DELETE", admin.delete_webhook),
    ]


def _by_method(handlers: dict[str, Endpoint]) -> Endpoint:
    async def endpoint(request: Request) -> Response:
        method = request.method
        return await handlers["GET" if method == "HEAD" else method](request)

    return endpoint


def routes() -> list[Route]:
    """One Route per path with all its methods, so a wrong method gets 405 with an ``Allow``
    header naming every method of the path (one Route per method named only the first's)."""
    grouped: dict[str, dict[str, Endpoint]] = {}
    for path, method, handler in route_table():
        grouped.setdefault(path, {})[method] = handler
    return [Route(path, _by_method(h), methods=list(h)) for path, h in grouped.items()]


def create_app(settings: Settings, model_url: str, api_key: str) -> Starlette:
    rt = Runtime(settings, model_url)

    @contextlib.asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        pauses = GcPauses(rt.services.telemetry.registry)
        await rt.start()
        tune_after_start(settings.gc.freeze_after_start, settings.gc.gen0_threshold)
        try:
            yield
        finally:
            pauses.close()
            await rt.stop()

    handlers: dict[Any, Any] = {
        ApiError: _api_error,
        HTTPException: _http_error,
        ClientDisconnect: _client_gone,
        Exception: _unexpected,
    }
    app = RuntimeApp(routes=routes(), lifespan=lifespan, exception_handlers=handlers)
    app.state.rt = rt
    app.state.openapi = orjson.dumps(build_document(app.routes, settings))
    app.gate = Gate(functools.partial(Starlette.__call__, app), KeyChecker(api_key), rt)
    return app


class RuntimeApp(Starlette):
    """Starlette with the Gate in front of its whole middleware stack, so the ack fast path
    skips ServerErrorMiddleware/ExceptionMiddleware/Router entirely."""

    gate: Gate | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.gate is None:
            await super().__call__(scope, receive, send)
        else:
            await self.gate(scope, receive, send)


def app_from_env() -> Starlette:
    """Factory for uvicorn worker processes (``serve --workers N``)."""
    settings = settings_from_env()
    return create_app(settings, os.environ[MODEL_URL_ENV], os.environ[API_KEY_ENV])


MODEL_URL_ENV = "MOTHERBOX_RESOLVED_MODEL_URL"
API_KEY_ENV = "MOTHERBOX_RESOLVED_API_KEY"
