"""Operator endpoints (not in the spec): Prometheus metrics, fault injection, internal counters."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from ..errors import ApiError, bad_request, not_found
from ..faults import FaultConfigError
from ..fields import Length
from ..model_client import ModelClient
from ..services import Services
from ..telemetry import normalize_faults
from ..webhooks.policy import EVENTS, SECRET_MAX, SECRET_MIN, URL_MAX, check_destination
from ..webhooks.service import SubscriptionLimit
from .common import json_response, opt_str_list, path_id, read_json, req_str, runtime, services


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


# -- webhooks ----------------------------------------------------------------------------------
WEBHOOK_FIELDS = frozenset({"url", "secret", "events"})


async def list_webhooks(request: Request) -> Response:
    return json_response(await runtime(request).webhooks.describe())


async def add_webhook(request: Request) -> Response:
    """201 with the subscription (its secret is never shown again), 400 naming the bad field."""
    rt = runtime(request)
    body, _ = await read_json(request)
    unknown = sorted(set(body) - WEBHOOK_FIELDS)
    if unknown:
        raise bad_request(f"unknown field '{unknown[0]}'", {"field": unknown[0]})
    url = req_str(body, "url", Length(1, URL_MAX))
    problem = check_destination(url, rt.settings.webhooks.allow_remote)
    if problem is not None:
        raise bad_request(f"'url' {problem}", {"field": "url"})
    secret = req_str(body, "secret", Length(SECRET_MIN, SECRET_MAX))
    events = opt_str_list(body, "events", max_items=len(EVENTS))
    if events is not None and (not events or set(events) - set(EVENTS)):
        raise bad_request(f"'events' must be a non-empty subset of {list(EVENTS)}", {"field": "events"})
    try:
        sub = await rt.webhooks.subscribe(url, secret, sorted(set(events or EVENTS)))
    except SubscriptionLimit as exc:
        raise ApiError(409, "conflict", str(exc)) from None
    return json_response(sub.public(), 201)


async def delete_webhook(request: Request) -> Response:
    """204; 404 for an unknown id, 409 for a subscription from the config file."""
    sub_id = path_id(request, "subscription_id", "webhook subscription")
    sub = await runtime(request).webhooks.unsubscribe(sub_id)
    if sub is None:
        raise not_found("webhook subscription", sub_id)
    if sub.source != "admin":
        raise ApiError(409, "conflict", f"{sub_id!r} comes from the config file; remove it there")
    return Response(status_code=204)
