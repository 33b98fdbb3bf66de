"""Issue-4 endpoints: Prometheus metrics, fault injection, internal counters."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from ..errors import bad_request
from ..faults import FaultConfigError
from ..telemetry import normalize_faults
from .common import json_response, read_json, runtime


async def prometheus(request: Request) -> Response:
    rt = runtime(request)
    await rt.metrics_batcher.flush()  # batched observations are due at scrape time
    body, content_type = rt.telemetry.render(rt)
    return Response(body, media_type=content_type.split(";")[0], headers={"Content-Type": content_type})


async def get_faults(request: Request) -> Response:
    return json_response(runtime(request).faults.snapshot())


async def set_faults(request: Request) -> Response:
    """Merge the given faults into the active set (``{"clear": true}`` first turns all off)."""
    rt = runtime(request)
    body, _ = await read_json(request)
    clear = body.pop("clear", False)
    if not isinstance(clear, bool):
        raise bad_request("'clear' must be a boolean", {"field": "clear"})
    try:
        update = normalize_faults(body)
        if clear:
            rt.faults.clear()
        rt.faults.update(update)
    except FaultConfigError as exc:
        raise bad_request(str(exc)) from None
    return json_response(rt.faults.snapshot())


async def clear_faults(request: Request) -> Response:
    rt = runtime(request)
    released = rt.faults.clear()
    return json_response({**rt.faults.snapshot(), "released_bytes": released})


async def stats(request: Request) -> Response:
    """Internal counters the switch tests and benchmarks read (JSON, not in the spec)."""
    rt = runtime(request)
    body: dict[str, Any] = {
        "switches": rt.settings.switches.model_dump(),
        "model": {
            "calls": rt.model.calls,
            "failures": rt.model.failures,
            "retries": rt.model.retries,
            "clients_opened": rt.model.clients_opened,
            "breaker": rt.model.breaker.state,
            "breaker_opened": rt.model.breaker.times_opened,
            "pool_waits": rt.model.pool_waits,
        },
        "db": {
            "connections_opened": rt.store.stats.connections_opened,
            "transactions": rt.store.stats.transactions,
            "writes": rt.store.stats.writes,
            "pool_waits": rt.store.stats.pool_waits,
        },
        "batches": {
            "status": rt.status_batcher.stats.as_dict(),
            "metrics": rt.metrics_batcher.stats.as_dict(),
        },
        "cache": rt.cache.stats().as_dict(),
        "decisions": rt.decisions.counters.as_dict(),
        "channels": {
            "opened": rt.channels.opened,
            "reused": rt.channels.reused,
            "idle": rt.channels.idle,
            "health_checks": rt.channels.health_checks,
        },
        "bus": {
            "sent": {f"P{p}": n for p, n in rt.bus.stats.sent.items()},
            "rejected": rt.bus.stats.rejected,
        },
        "handoffs": dict(rt.handoffs.counts),
        "agents": {
            a.id: {
                "cpu_s": round(rt.metrics.accounting.cpu_seconds.get(a.id, 0.0), 6),
                "mailbox_bytes": a.mailbox.bytes_held,
                "processed": a.processed,
            }
            for a in rt.registry
        },
        "memory_by_agent": rt.metrics.accounting.memory_bytes(),
    }
    return json_response(body)
