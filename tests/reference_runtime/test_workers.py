"""``serve --workers 2``: two processes share one SQLite store; agents created through one
worker are found by the other (registry miss falls back to the database)."""

from __future__ import annotations

from pathlib import Path

import httpx
import psutil
import pytest

from .helpers import Server, make_agent, make_project, start_runtime

pytestmark = pytest.mark.slow


def test_two_workers_serve_the_same_agents(tmp_path: Path, backend: Server) -> None:
    srv = start_runtime(tmp_path, "--workers", "2", "--model-url", backend.base_url)
    try:
        with srv.client() as api:
            pid = str(make_project(api)["id"])
            aid = str(make_agent(api, pid)["id"])
            url = f"{srv.base_url}/v1/projects/{pid}/agents/{aid}/execute"
            headers = {"X-API-Key": srv.key}
            # A new connection per request, so the kernel spreads them over both workers.
            codes = [
                httpx.post(url, json={"command": f"*research {i}"}, headers=headers).status_code
                for i in range(12)
            ]
            assert codes == [200] * 12
            assert [a["id"] for a in api.get(f"/v1/projects/{pid}/agents").json()["agents"]] == [aid]
        # Really two serving processes (and both still alive after the traffic), not one.
        workers = [
            child
            for child in psutil.Process(srv.proc.pid).children()
            if any("spawn_main" in part for part in child.cmdline())
        ]
        assert len(workers) == 2 and all(w.is_running() for w in workers)
        log = (tmp_path / "runtime.log").read_text()
        assert "Traceback" not in log
    finally:
        srv.stop()
    assert srv.proc.returncode is not None
