"""Builds the plan the Locust driver executes (:class:`~harness.load.contract.Plan`) and runs the
scenario's setup steps.

Runs in the harness CLI process (plain urllib, no gevent).
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from harness.load.contract import OpSpec, Plan
from harness.scenario.loader import ResolvedScenario
from harness.scenario.operations import DYNAMIC, NAMED_OPERATIONS, dig, placeholders, render, request_template
from harness.scenario.schema import Scenario


class SetupError(Exception):
    """A setup step failed (the target refused to create what the mix needs)."""


def api_key_headers(scenario: Scenario, managed_key: str | None, base_dir: Path) -> dict[str, str]:
    spec = scenario.target.api_key
    key = managed_key
    header = spec.header if spec is not None else "X-API-Key"
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


def _call(base_url: str, method: str, path: str, body: Any, headers: dict[str, str], timeout: float) -> Any:
    data = json.dumps(body).encode() if body is not None else None
    hdrs = {**headers, **({"Content-Type": "application/json"} if data is not None else {})}
    request = urllib.request.Request(base_url.rstrip("/") + path, data=data, headers=hdrs, method=method)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            status, payload = int(response.status), response.read()
    except urllib.error.HTTPError as exc:
        status, payload = int(exc.code), exc.read()
    except (urllib.error.URLError, OSError) as exc:
        raise SetupError(f"{method} {path}: {exc}") from exc
    try:
        parsed = json.loads(payload) if payload else None
    except ValueError:
        parsed = None
    return status, parsed


def run_setup(resolved: ResolvedScenario, base_url: str, headers: dict[str, str]) -> dict[str, Any]:
    """Execute the setup steps in order; returns the context (saved variables)."""
    context: dict[str, Any] = {}
    for step in resolved.setup:
        path = render(step.path, context)
        status, body = _call(base_url, step.method, path, render(step.json, context), headers, 120.0)
        if status not in step.expect_status:
            detail = json.dumps(body)[:300] if body is not None else ""
            raise SetupError(f"setup step {step.name!r}: {step.method} {path} -> HTTP {status} {detail}")
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
        if item.operation is not None:
            named = NAMED_OPERATIONS[item.operation]
            method, expect = named.method, list(named.expect_status)
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
