"""The Starlette app: routes under ``/v1``, API-key gate, JSON errors, lifespan."""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import time
from collections.abc import AsyncIterator
from typing import Any

import orjson
from starlette.applications import Starlette
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .auth import KeyChecker
from .config import Settings, settings_from_env
from .errors import ApiError, error_response
from .routes import admin, agents, projects, system, workflows
from .routes.common import check_declared_length, too_large
from .runtime import Runtime

log = logging.getLogger(__name__)
PUBLIC_PATHS = frozenset({"/v1/health"})
#: Not subject to the request-path faults (CPU hog, leak, CPU per request), so faults can
#: always be observed and cleared.
FAULT_EXEMPT = frozenset({"/v1/health", "/v1/metrics/prometheus", "/v1/admin/faults", "/v1/admin/stats"})
EXECUTE_ROUTE = "/v1/projects/{project_id}/agents/{agent_id}/execute"
_HTTP_ERRORS = {404: "not_found", 405: "method_not_allowed", 400: "bad_request"}


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
                self.checker.check(headers)
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


async def _unexpected(_request: Request, exc: Exception) -> Response:
    log.exception("unhandled error", exc_info=exc)
    return error_response(ApiError(500, "internal_error", "unexpected server error"))


def routes() -> list[Route]:
    p = "/v1/projects"
    a = p + "/{project_id}/agents"
    w = p + "/{project_id}/workflows"
    return [
        Route(p, projects.list_projects, methods=["GET"]),
        Route(p, projects.create_project, methods=["POST"]),
        Route(p + "/{project_id}", projects.get_project, methods=["GET"]),
        Route(p + "/{project_id}", projects.update_project, methods=["PUT"]),
        Route(p + "/{project_id}", projects.delete_project, methods=["DELETE"]),
        Route(a, agents.list_agents, methods=["GET"]),
        Route(a, agents.create_agent, methods=["POST"]),
        Route(a + "/{agent_id}", agents.get_agent, methods=["GET"]),
        Route(a + "/{agent_id}", agents.update_agent, methods=["PUT"]),
        Route(a + "/{agent_id}", agents.delete_agent, methods=["DELETE"]),
        Route(a + "/{agent_id}/execute", agents.execute_command, methods=["POST"]),
        Route(w, workflows.list_workflows, methods=["GET"]),
        Route(w, workflows.create_workflow, methods=["POST"]),
        Route(w + "/{workflow_id}/execute", workflows.execute_workflow, methods=["POST"]),
        Route(p + "/{project_id}/handoffs", workflows.create_handoff, methods=["POST"]),
        Route(p + "/{project_id}/handoffs/{handoff_id}", workflows.get_handoff, methods=["GET"]),
        Route("/v1/executions/{execution_id}", system.get_execution, methods=["GET"]),
        Route("/v1/metrics", system.metrics, methods=["GET"]),
        Route("/v1/health", system.health, methods=["GET"]),
        Route("/v1/admin/mother-box/activate", system.activate, methods=["POST"]),
        Route("/v1/metrics/prometheus", admin.prometheus, methods=["GET"]),
        Route("/v1/admin/faults", admin.get_faults, methods=["GET"]),
        Route("/v1/admin/faults", admin.set_faults, methods=["POST"]),
        Route("/v1/admin/faults", admin.clear_faults, methods=["DELETE"]),
        Route("/v1/admin/stats", admin.stats, methods=["GET"]),
    ]


def create_app(settings: Settings, model_url: str, api_key: str) -> Starlette:
    rt = Runtime(settings, model_url)

    @contextlib.asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        await rt.start()
        try:
            yield
        finally:
            await rt.stop()

    handlers: dict[Any, Any] = {ApiError: _api_error, HTTPException: _http_error, Exception: _unexpected}
    app = RuntimeApp(routes=routes(), lifespan=lifespan, exception_handlers=handlers)
    app.state.rt = rt
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
