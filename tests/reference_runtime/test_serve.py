"""``serve`` without a model URL owns a model-backend child and stops it on SIGTERM / SIGINT."""

from __future__ import annotations

import signal
import time
from pathlib import Path

import httpx
import psutil
import pytest

from .helpers import start_runtime

pytestmark = pytest.mark.slow


def _alive(proc: psutil.Process) -> bool:
    """Running and not a zombie; a child reaped between the two checks counts as gone."""
    try:
        return proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_child_model_backend_started_and_stopped(tmp_path: Path, sig: int) -> None:
    srv = start_runtime(tmp_path, api_key=None)  # no --model-url, generated key
    children = psutil.Process(srv.proc.pid).children(recursive=True)
    backend_port = int((tmp_path / "model_backend.port").read_text())
    assert httpx.get(f"http://127.0.0.1:{backend_port}/health").status_code == 200
    assert httpx.get(srv.base_url + "/v1/health").json()["components"]["model_backend"]["status"] in (
        "ok",
        "unknown",
    )
    assert srv.key.startswith("mbx_") and "API key" in (tmp_path / "runtime.log").read_text()
    srv.stop(sig)
    assert srv.proc.returncode is not None
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(_alive(c) for c in children):
        time.sleep(0.1)
    assert children and not any(_alive(c) for c in children)
    with pytest.raises(httpx.HTTPError):
        httpx.get(f"http://127.0.0.1:{backend_port}/health", timeout=2)
