"""schemathesis against the real runtime with the runtime's own OpenAPI document (issue 12).

A fresh runtime on a free loopback port; schemathesis' CLI (``python -m schemathesis.cli``)
loads ``/v1/openapi.json`` and runs every phase with ``--checks all`` for about 1,000 requests.
0 failures and 0 server errors are required. ``POST /v1/admin/faults`` is excluded: fuzzing
fault injection would make the runtime fail on purpose. A guard proves the run can fail: the
same tool against a copy of the document with one response removed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from .helpers import Server, start_runtime

pytestmark = pytest.mark.slow
SEED = int(os.environ.get("MB_SCHEMATHESIS_SEED", "1"))
DEFAULT_EXAMPLES = 6  # per operation and phase: about 1,100 requests in all
EXAMPLES = int(os.environ.get("MB_SCHEMATHESIS_EXAMPLES", str(DEFAULT_EXAMPLES)))
RUN_TIMEOUT_S = 240


@pytest.fixture(scope="module")
def fresh(tmp_path_factory: pytest.TempPathFactory, backend: Server) -> Iterator[Server]:
    """A runtime of its own: the fuzzing creates hundreds of projects; no other test's state."""
    srv = start_runtime(tmp_path_factory.mktemp("schemathesis-rt"), "--model-url", backend.base_url)
    yield srv
    srv.stop()


def _run(server: Server, location: str, out: Path, *args: str) -> subprocess.CompletedProcess[str]:
    out.mkdir(parents=True, exist_ok=True)
    cmd = [
        sys.executable,
        "-m",
        "schemathesis.cli",
        "run",
        location,
        "--url",
        server.base_url + "/v1",
        "--header",
        f"X-API-Key: {server.key}",
        "--header",
        f"Authorization: Bearer {server.key}",  # activate takes only Bearer (the spec's security)
        "--checks",
        "all",
        "--seed",
        str(SEED),
        "--generation-database",
        "none",
        "--request-timeout",
        "30",
        "--no-color",
        "--report",
        "junit,ndjson",
        "--report-dir",
        str(out),
        *args,
    ]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.run(cmd, cwd=out, env=env, capture_output=True, text=True, timeout=RUN_TIMEOUT_S)


def _statuses(out: Path) -> Counter[int]:
    """Status codes of every request schemathesis sent (its NDJSON event stream)."""
    seen: Counter[int] = Counter()
    for path in out.glob("*.ndjson"):
        for line in path.read_text(encoding="utf-8").splitlines():
            event = json.loads(line)
            finished = event.get("ScenarioFinished")
            if finished is None:
                continue
            for interaction in finished["recorder"].get("interactions", {}).values():
                response = interaction.get("response")
                seen[response["status_code"] if response else 0] += 1
    return seen


def _junit_failures(out: Path) -> int:
    (path,) = out.glob("*.xml")
    root = ET.parse(path).getroot()
    return int(root.get("failures", "0")) + int(root.get("errors", "0"))


def test_schemathesis_finds_no_failure(fresh: Server, tmp_path: Path) -> None:
    out = tmp_path / "report"
    result = _run(
        fresh,
        fresh.base_url + "/v1/openapi.json",
        out,
        "--max-examples",
        str(EXAMPLES),
        "--exclude-operation-id",
        "setFaults",
    )
    tail = (result.stdout + result.stderr)[-6000:]
    statuses = _statuses(out)
    assert result.returncode == 0, f"schemathesis (seed {SEED}) found failures:\n{tail}"
    assert _junit_failures(out) == 0, tail
    assert not [s for s in statuses if s >= 500 or s == 0], statuses
    total = sum(statuses.values())
    print(f"schemathesis: {total} requests, statuses {dict(sorted(statuses.items()))}")
    if EXAMPLES == DEFAULT_EXAMPLES:
        assert 600 <= total <= 2500, f"{total} requests: the run is no longer about 1,000"
    # Every kind of answer was exercised: success, validation, auth, missing ids, wrong method.
    assert {200, 201, 204, 400, 401, 404, 405} <= set(statuses), statuses


def test_the_run_fails_on_an_undocumented_status(fresh: Server, tmp_path: Path) -> None:
    """Guard: with getProject's 404 taken out of the document, the same run must fail."""
    doc = httpx.get(fresh.base_url + "/v1/openapi.json", timeout=30).json()
    del doc["paths"]["/projects/{projectId}"]["get"]["responses"]["404"]
    path = tmp_path / "openapi.json"
    path.write_text(json.dumps(doc), encoding="utf-8")
    out = tmp_path / "report"
    result = _run(fresh, str(path), out, "--max-examples", "5", "--include-operation-id", "getProject")
    output = result.stdout + result.stderr
    assert result.returncode != 0, output[-3000:]
    assert "Undocumented status code" in output and "Received: 404" in output, output[-3000:]
