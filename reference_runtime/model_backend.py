"""Simulated model service, run as its own process (``reference-runtime model-backend``).

OpenAI-shaped ``POST /v1/chat/completions``. Each call waits a lognormal latency (median/p99),
burns a configurable amount of real CPU, fails with the configured error rate, and returns a
response of the configured size (scaled down when the caller asks for fewer ``max_tokens``).
``GET /stats`` reports calls, errors and distinct client connections (pooling tests use it);
``POST /admin/config`` changes the behaviour at run time (fault tests use it).
"""

from __future__ import annotations

import asyncio
import math
import random
import time
from dataclasses import dataclass, field
from typing import Any

import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from .config import ModelBackendSettings

Z99 = 2.3263478740408408  # standard normal 99th percentile
DEFAULT_TOKENS = 256
_WORDS = ("agent", "team", "plan", "role", "persona", "workflow", "context", "handoff", "quality", "value")


def _json(body: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(body), status_code=status, media_type="application/json")


def lognormal_params(median_ms: float, p99_ms: float) -> tuple[float, float]:
    """(mu, sigma) of a lognormal with the given median and 99th percentile."""
    median_ms = max(median_ms, 0.001)
    p99_ms = max(p99_ms, median_ms)
    return math.log(median_ms), (math.log(p99_ms) - math.log(median_ms)) / Z99


def burn_cpu(ms: float) -> int:
    """Real CPU work (not sleep) for about ``ms`` milliseconds."""
    deadline = time.perf_counter() + ms / 1000.0
    acc = 0
    while time.perf_counter() < deadline:
        for i in range(200):
            acc = (acc * 31 + i) % 1_000_003
    return acc


def make_text(n_bytes: int, rng: random.Random) -> str:
    words: list[str] = []
    size = 0
    while size < n_bytes:
        w = _WORDS[rng.randrange(len(_WORDS))]
        words.append(w)
        size += len(w) + 1
    return " ".join(words)[:n_bytes]


@dataclass
class BackendState:
    settings: ModelBackendSettings
    rng: random.Random = field(default_factory=random.Random)
    calls: int = 0
    errors: int = 0
    in_flight: int = 0
    peers: set[tuple[str, int]] = field(default_factory=set)
    stall_ms: float = 0.0

    def latency_ms(self, tokens: int) -> float:
        mu, sigma = lognormal_params(self.settings.latency_median_ms, self.settings.latency_p99_ms)
        base = self.rng.lognormvariate(mu, sigma) if sigma > 0 else math.exp(mu)
        # Smaller answers come back sooner (templates ask for fewer tokens).
        return base * max(0.2, min(1.0, tokens / DEFAULT_TOKENS)) + self.stall_ms


def _state(request: Request) -> BackendState:
    state: BackendState = request.app.state.backend
    return state


def _requested_tokens(body: dict[str, Any]) -> int:
    tokens = body.get("max_tokens", DEFAULT_TOKENS)
    return tokens if isinstance(tokens, int) and 0 < tokens <= 100_000 else DEFAULT_TOKENS


async def completions(request: Request) -> Response:
    state = _state(request)
    client = request.scope.get("client")
    if client and len(state.peers) < 1_000_000:
        state.peers.add((client[0], client[1]))  # distinct connections: what pooling tests count
    try:
        body = orjson.loads(await request.body())
    except orjson.JSONDecodeError:
        return _json({"error": {"message": "invalid JSON"}}, 400)
    if not isinstance(body, dict):
        return _json({"error": {"message": "body must be an object"}}, 400)
    tokens = _requested_tokens(body)
    state.calls += 1
    state.in_flight += 1
    try:
        await asyncio.sleep(state.latency_ms(tokens) / 1000.0)
        burn_cpu(state.settings.cpu_ms_per_call)
        if state.rng.random() < state.settings.error_rate:
            state.errors += 1
            return _json({"error": {"message": "simulated model failure", "type": "server_error"}}, 503)
    finally:
        state.in_flight -= 1
    return _json(_completion(state, body, tokens))


def _completion(state: BackendState, body: dict[str, Any], tokens: int) -> dict[str, Any]:
    size = max(16, int(state.settings.response_bytes * min(1.0, tokens / DEFAULT_TOKENS)))
    text = make_text(size, state.rng)
    return {
        "id": f"cmpl-{state.calls}",
        "object": "chat.completion",
        "model": str(body.get("model", "simulated")),
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
        "usage": {
            "prompt_tokens": len(str(body.get("messages", ""))) // 4,
            "completion_tokens": size // 4,
        },
    }


async def health(request: Request) -> Response:
    return _json({"status": "ok", "calls": _state(request).calls})


async def stats(request: Request) -> Response:
    state = _state(request)
    return _json(
        {
            "calls": state.calls,
            "errors": state.errors,
            "in_flight": state.in_flight,
            "connections": len(state.peers),
            "settings": state.settings.model_dump(),
            "stall_ms": state.stall_ms,
        }
    )


async def admin_config(request: Request) -> Response:
    """Change the behaviour at run time (fault tests): settings keys plus ``stall_ms``."""
    state = _state(request)
    try:
        body = orjson.loads(await request.body())
        if not isinstance(body, dict):
            raise ValueError("body must be an object")
        stall = float(body.pop("stall_ms", state.stall_ms))
        merged = {**state.settings.model_dump(), **body}
        state.settings = ModelBackendSettings.model_validate(merged)
        state.stall_ms = max(0.0, stall)
    except (ValueError, TypeError) as exc:
        return _json({"error": {"message": str(exc)}}, 400)
    return _json({"settings": state.settings.model_dump(), "stall_ms": state.stall_ms})


async def reset_stats(request: Request) -> Response:
    state = _state(request)
    state.calls = state.errors = 0
    state.peers.clear()
    return _json({"ok": True})


def create_backend_app(settings: ModelBackendSettings | None = None) -> Starlette:
    state = BackendState(settings or ModelBackendSettings())
    if state.settings.seed is not None:
        state.rng.seed(state.settings.seed)
    routes = [
        Route("/v1/chat/completions", completions, methods=["POST"]),
        Route("/health", health, methods=["GET"]),
        Route("/stats", stats, methods=["GET"]),
        Route("/admin/config", admin_config, methods=["POST"]),
        Route("/admin/reset", reset_stats, methods=["POST"]),
    ]
    app = Starlette(routes=routes)
    app.state.backend = state
    return app
