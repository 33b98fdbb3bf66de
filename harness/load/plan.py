"""Builds the plan the Locust driver executes (:class:`~harness.load.contract.Plan`) and runs the
scenario's setup steps.

Runs in the harness CLI process (no gevent). Every setup request goes through the egress policy
(:mod:`harness.contract.egress`): to the target's origin only, no redirect followed.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from harness.contract.egress import Egress, EgressError, base_url, join
from harness.load.contract import OpSpec, Plan
from harness.scenario.loader import ResolvedScenario
from harness.scenario.operations import DYNAMIC, NAMED_OPERATIONS, dig, placeholders, render, request_template
from harness.scenario.schema import Scenario


class SetupError(Exception):
    """A setup step failed (the target refused to create what the mix needs)."""


def api_key_headers(
    scenario: Scenario, managed_key: str | None, base_dir: Path, given_key: str | None = None
) -> dict[str, str]:
    """The key header: a target the harness did not start takes ``given_key`` (``--api-key`` or
    ``$HARNESS_API_KEY``) over the scenario's ``target.api_key``; a managed runtime its own key."""
    spec = scenario.target.api_key
    key = managed_key
    header = spec.header if spec is not None else "X-API-Key"
    if given_key and managed_key is None:
        return {header: given_key}
    if spec is not None:
        if spec.value is not None:
            key = spec.value
        elif spec.env is not None:
            key = os.environ.get(spec.env)
            if key is None:
                raise SetupError(f"target.api_key.env: environment variable {spec.env} is not set")
        elif spec.file is not None:
            path = Path(spec.file).expanduser()
            path = path if path.is_absolute() else base_dir / path
            try:
                key = path.read_text().strip()
            except OSError as exc:
                raise SetupError(f"target.api_key.file: {exc}") from exc
    return {header: key} if key else {}


def _call(
    egress: Egress, method: str, url: str, body: Any, headers: dict[str, str], timeout: float
) -> tuple[int, Any, str | None]:
    data = json.dumps(body).encode() if body is not None else None
    hdrs = {**headers, **({"Content-Type": "application/json"} if data is not None else {})}
    reply = egress.request(method, url, field="setup", headers=hdrs, body=data, timeout=timeout)
    try:
        parsed = json.loads(reply.body) if reply.body else None
    except ValueError:
        parsed = None
    return reply.status, parsed, reply.location


def _hint(status: int) -> str:
    """What to do about an authentication failure: the three ways to give the key."""
    if status not in (401, 403):
        return ""
    return " (give the target's key: --api-key KEY, $HARNESS_API_KEY, or target.api_key in the scenario)"


def run_setup(
    resolved: ResolvedScenario, base: str, headers: dict[str, str], egress: Egress | None = None
) -> dict[str, Any]:
    """Execute the setup steps in order against the target ``base``; returns the context (saved
    variables). ``egress``: the run's policy (default: ``base``'s origin, which the caller checked)."""
    policy = egress if egress is not None else Egress(target=base)
    context: dict[str, Any] = {}
    for index, step in enumerate(resolved.setup):
        path = render(step.path, context)
        try:
            url = join(base, path, f"setup[{index}].path")
            status, body, location = _call(
                policy, step.method, url, render(step.json, context), headers, 120.0
            )
        except EgressError as exc:
            raise SetupError(f"setup step {step.name!r}: {exc}") from None
        except OSError as exc:
            raise SetupError(f"setup step {step.name!r}: {step.method} {path}: {exc}") from None
        if status not in step.expect_status:
            detail = json.dumps(body)[:300] if body is not None else ""
            if location is not None:
                detail = f"redirect to {location!r} not followed {detail}".rstrip()
            raise SetupError(
                f"setup step {step.name!r}: {step.method} {path} -> HTTP {status} {detail}{_hint(status)}"
            )
        for var, field in step.save.items():
            try:
                context[var] = dig(body, field)
            except KeyError as exc:
                raise SetupError(f"setup step {step.name!r}: response has no field {field!r}") from exc
    return context


def provided_variables(resolved: ResolvedScenario) -> set[str]:
    return {var for step in resolved.setup for var in step.save}


def build_ops(resolved: ResolvedScenario, context: dict[str, Any], headers: dict[str, str]) -> list[OpSpec]:
    ops = []
    for item in resolved.scenario.mix:
        path, body = request_template(item)
        until = None
        if item.operation is not None:
            named = NAMED_OPERATIONS[item.operation]
            method, expect, until = named.method, list(named.expect_status), named.until
        else:
            method = item.method or ("POST" if item.json_body is not None else "GET")
            expect = []
        if item.expect_status is not None:
            expect = [item.expect_status] if isinstance(item.expect_status, int) else list(item.expect_status)
        path = render(path, context)
        body_text = json.dumps(render(body, context)) if body is not None else None
        op_headers = {**headers, **item.headers}
        if body_text is not None:
            op_headers.setdefault("Content-Type", "application/json")
        dynamic = bool((placeholders(path) | placeholders(body_text or "")) & DYNAMIC)
        ops.append(
            OpSpec(
                label=item.label,
                method=method,
                path=path,
                body=body_text,
                headers=op_headers,
                expect=expect,
                weight=item.weight,
                dynamic=dynamic,
                until=until,
            )
        )
    return ops


def build_plan(
    resolved: ResolvedScenario,
    *,
    run_id: str,
    target_url: str,
    ops: list[OpSpec],
    work_dir: Path,
    csv_prefix: Path | None,
) -> Plan:
    try:
        target_url = base_url(target_url, "target")
        for op in ops:  # rendered with values the target returned: still paths on the target
            join(target_url, op.path, f"mix {op.label!r} path")
    except EgressError as exc:
        raise SetupError(str(exc)) from None
    load = resolved.scenario.load
    wait = load.wait
    wait_pair = (float(wait), float(wait)) if isinstance(wait, float | int) else (wait.min, wait.max)
    return Plan(
        run_id=run_id,
        target_url=target_url,
        model=load.model,
        stages=[(s.start_s, s.end_s, s.rate_from, s.rate_to) for s in resolved.stages],
        duration_s=resolved.duration_s,
        max_in_flight=load.max_in_flight,
        timeout=load.timeout,
        drain=load.drain,
        queue_timeout=load.queue_timeout,
        users=load.users,
        spawn_rate=load.spawn_rate,
        wait=wait_pair,
        ops=ops,
        seed=load.seed,
        work_dir=str(work_dir),
        csv_prefix=str(csv_prefix) if csv_prefix else None,
    )
