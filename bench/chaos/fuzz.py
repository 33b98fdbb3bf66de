"""Fuzzed requests: schemathesis against the running runtime, every response counted by status.

The spec is the runtime's own ``/v1/openapi.json`` when it serves one, else the upstream
``../shared/mother-box/api/openapi-spec.yaml`` (relative to the repository) when present; without
either the row is skipped. Requests and statuses come from schemathesis's HAR report (every
request it sent), so the 5xx count does not depend on which checks it was asked to run; its own
check failures (conformance drift included) are listed beside it.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import httpx

from bench.chaos.common import ROOT, Row, runtime, skipped

UPSTREAM_SPEC = ROOT.parent / "shared" / "mother-box" / "api" / "openapi-spec.yaml"
PROBE = "fuzz"
WHAT = "schemathesis requests -> 5xx answers"
EXPECT = "0 5xx"


def spec_location(base_url: str) -> tuple[list[str], str] | None:
    """schemathesis's LOCATION (+ ``--url``) and a label, or None when no spec is available."""
    try:
        served = httpx.get(base_url + "/v1/openapi.json", timeout=10).status_code == 200
    except httpx.HTTPError:
        served = False
    if served:
        return [base_url + "/v1/openapi.json"], "runtime /v1/openapi.json"
    if UPSTREAM_SPEC.is_file():
        return [str(UPSTREAM_SPEC), "--url", base_url], "upstream openapi-spec.yaml"
    return None


def statuses(har: Path) -> list[int]:
    if not har.is_file():
        return []
    entries = json.loads(har.read_text()).get("log", {}).get("entries", [])
    return [int(e.get("response", {}).get("status") or 0) for e in entries]


def failures_line(text: str) -> str:
    """schemathesis's summary line about failures/errors (the last such line), or ''."""
    lines = [ln.strip() for ln in text.splitlines() if "failure" in ln.lower() or "error" in ln.lower()]
    return lines[-1][:120] if lines else ""


def probe(tmp: Path, budget_s: int) -> Row:
    started = time.monotonic()
    with runtime(tmp / "fuzz", backend_args=("--latency-median-ms", "2", "--latency-p99-ms", "5")) as srv:
        location = spec_location(srv.base_url)
        if location is None:
            return skipped(PROBE, WHAT, EXPECT, f"no /v1/openapi.json and no {UPSTREAM_SPEC}")
        args, label = location
        har = tmp / "fuzz" / "fuzz.har"
        cmd = [str(Path(sys.executable).with_name("schemathesis")), "run", *args]
        cmd += ["-H", f"X-API-Key: {srv.key}", "--checks", "all", "--max-time", str(budget_s)]
        cmd += ["--seed", "12", "--workers", "2", "--request-timeout", "15", "--no-color"]
        cmd += ["--report", "har", "--report-har-path", str(har)]
        out = subprocess.run(cmd, cwd=tmp, capture_output=True, text=True, timeout=budget_s + 240)
        codes = statuses(har)
        har.unlink(missing_ok=True)  # it holds the (throwaway) key in its request headers
    five = sum(1 for c in codes if c >= 500)
    detail = f"spec: {label}; schemathesis exit {out.returncode}"
    summary = failures_line(out.stdout + out.stderr)
    if summary:
        detail += f" ({summary})"
    if not codes:
        detail += "; no requests recorded: " + (out.stderr or out.stdout).strip()[-200:]
    ok = bool(codes) and five == 0
    count = f"{len(codes)} requests, {five} 5xx"
    return Row(PROBE, WHAT, count, EXPECT, ok, detail, time.monotonic() - started)
