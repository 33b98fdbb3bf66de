"""Operator endpoints (not in the spec): Prometheus metrics, fault injection, internal counters."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from ..errors import bad_request
from ..faults import FaultConfigError
from ..model_client import ModelClient
from ..services import Services
from ..telemetry import normalize_faults
from .common import json_response, read_json, runtime, services


async def prometheus(request: Request) -> Response:
    s = services(request)
    await s.metrics_batcher.flush()  # batched observations are due at scrape time
    body, content_type = s.telemetry.render()
    return Response(body, media_type=content_type.split(";")[0], headers={"Content-Type": content_type})


async def get_faults(request: Request) -> Response:
    return json_response(services(request).faults.snapshot())


async def set_faults(request: Request) -> Response:
    """Merge the given faults into the active set (``{"clear": true}`` first turns all off)."""
    faults = services(request).faults
    body, _ = await read_json(request)
    clear = body.pop("clear", False)
    if not isinstance(clear, bool):
        raise bad_request("'clear' must be a boolean", {"field": "clear"})
    try:
        update = normalize_faults(body)
        if clear:
            faults.clear()
        faults.update(update)
    except FaultConfigError as exc:
        raise bad_request(str(exc), {"field": exc.field} if exc.field else None) from None
    return json_response(faults.snapshot())


async def clear_faults(request: Request) -> Response:
    faults = services(request).faults
    released = faults.clear()
    return json_response({**faults.snapshot(), "released_bytes": released})


async def stats(request: Request) -> Response:
    """Internal counters the switch tests and benchmarks read (JSON, not in the spec)."""
    rt = runtime(request)
    s = rt.services
    body: dict[str, Any] = {
        "switches": s.settings.switches.model_dump(),
        "model": _model_stats(s.model),
        "db": {
            "connections_opened": s.store.stats.connections_opened,
            "transactions": s.store.stats.transactions,
            "writes": s.store.stats.writes,
            "pool_waits": s.store.stats.pool_waits,
        },
        "batches": {
            "status": s.status_batcher.stats.as_dict(),
            "metrics": s.metrics_batcher.stats.as_dict(),
        },
        "cache": s.cache.stats().as_dict(),
        "decisions": s.decisions.counters.as_dict(),
        "channels": {
            "opened": s.channels.opened,
            "reused": s.channels.reused,
            "idle": s.channels.idle,
            "health_checks": s.channels.health_checks,
        },
        "bus": {
            "sent": {f"P{p}": n for p, n in s.bus.stats.sent.items()},
            "rejected": s.bus.stats.rejected,
        },
        "handoffs": dict(rt.handoffs.counts),
        "agents": _agent_stats(s),
        "memory_by_agent": s.metrics.accounting.memory_bytes(),
    }
    return json_response(body)


def _model_stats(model: ModelClient) -> dict[str, Any]:
    return {
        "calls": model.calls,
        "failures": model.failures,
        "retries": model.retries,
        "clients_opened": model.clients_opened,
        "breaker": model.breaker.state,
        "breaker_opened": model.breaker.times_opened,
        "pool_waits": model.pool_waits,
    }


def _agent_stats(s: Services) -> dict[str, dict[str, Any]]:
    cpu = s.metrics.accounting.cpu_seconds
    return {
        a.id: {
            "cpu_s": round(cpu.get(a.id, 0.0), 6),
            "mailbox_bytes": a.mailbox.bytes_held,
            "processed": a.processed,
        }
        for a in s.registry
    }
