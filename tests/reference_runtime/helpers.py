"""Start the REAL runtime / model-backend processes on free loopback ports (port 0 + port file)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[2]
SHARED_MB = (REPO / ".." / "shared" / "mother-box").resolve()
START_TIMEOUT_S = 30.0


@dataclass
class Server:
    proc: subprocess.Popen[bytes]
    base_url: str
    state_dir: Path
    key: str = ""
    log: Path | None = None
    extra: dict[str, str] = field(default_factory=dict)

    def client(self, timeout: float = 30.0, key: str | None = None) -> httpx.Client:
        headers = {"X-API-Key": self.key if key is None else key} if (key or self.key) else {}
        return httpx.Client(base_url=self.base_url, headers=headers, timeout=timeout)

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)


def _wait_for_file(path: Path, proc: subprocess.Popen[bytes], log: Path) -> str:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
        if path.exists() and path.read_text().strip():
            return path.read_text().strip()
        time.sleep(0.05)
    _kill(proc)
    raise RuntimeError(f"timed out waiting for {path}:\n{log.read_text()[-3000:]}")


def _kill(proc: subprocess.Popen[bytes]) -> None:
    """A process that failed to start is not left running (or as a zombie) behind the test."""
    proc.kill()
    proc.wait(timeout=10)


def _wait_healthy(url: str, proc: subprocess.Popen[bytes], log: Path) -> None:
    """Until ``url`` answers 200; kills the process when it never does."""
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    _kill(proc)
    raise RuntimeError(f"{url} not healthy in time:\n{log.read_text()[-3000:]}")


def start_runtime(
    state_dir: Path, *args: str, env: dict[str, str] | None = None, api_key: str | None = "test-key-123"
) -> Server:
    """``python -m reference_runtime serve --port 0`` and wait until /v1/health is 200."""
    state_dir.mkdir(parents=True, exist_ok=True)
    (state_dir / "port").unlink(missing_ok=True)
    log = state_dir / "runtime.log"
    cmd = [
        sys.executable,
        "-m",
        "reference_runtime",
        "serve",
        "--host",
        "127.0.0.1",
        "--port",
        "0",
        "--state-dir",
        str(state_dir),
        *args,
    ]
    if api_key:
        cmd += ["--api-key", api_key]
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("MOTHERBOX_")}
    full_env.update(env or {})
    with log.open("ab") as fh:
        proc = subprocess.Popen(cmd, cwd=REPO, env=full_env, stdout=fh, stderr=subprocess.STDOUT)
    port = _wait_for_file(state_dir / "port", proc, log)
    url = f"http://127.0.0.1:{port}"
    _wait_healthy(url + "/v1/health", proc, log)
    key = (state_dir / "api_key").read_text().strip()
    return Server(proc, url, state_dir, key, log)


def start_backend(tmp: Path, *args: str) -> Server:
    tmp.mkdir(parents=True, exist_ok=True)
    ready = tmp / "backend.port"
    ready.unlink(missing_ok=True)
    log = tmp / "backend.log"
    cmd = [
        sys.executable,
        "-m",
        "reference_runtime",
        "model-backend",
        "--host",
        "127.0.0.1",
        "--port",
        "0",
        "--ready-file",
        str(ready),
        *args,
    ]
    env = {k: v for k, v in os.environ.items() if not k.startswith("MOTHERBOX_")}
    with log.open("ab") as fh:
        proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=fh, stderr=subprocess.STDOUT)
    port = _wait_for_file(ready, proc, log)
    url = f"http://127.0.0.1:{port}"
    _wait_healthy(url + "/health", proc, log)
    return Server(proc, url, tmp, "", log)


def make_project(client: httpx.Client, team_size: int = 0, name: str = "test project") -> dict[str, object]:
    resp = client.post(
        "/v1/projects",
        json={
            "name": name,
            "domain": "testing",
            "requirements": {"description": "d"},
            "metadata": {"teamSize": team_size},
        },
    )
    assert resp.status_code == 201, resp.text
    body: dict[str, object] = resp.json()
    return body


def make_agent(
    client: httpx.Client, project_id: str, name: str = "agent", role: str = "analyst"
) -> dict[str, object]:
    resp = client.post(f"/v1/projects/{project_id}/agents", json={"name": name, "role": role})
    assert resp.status_code == 201, resp.text
    body: dict[str, object] = resp.json()
    return body


def wait_execution(client: httpx.Client, exec_id: str, timeout_s: float = 30.0) -> dict[str, object]:
    deadline = time.monotonic() + timeout_s
    body: dict[str, object] = {}
    while time.monotonic() < deadline:
        body = client.get(f"/v1/executions/{exec_id}").json()
        if body.get("status") in ("completed", "failed", "cancelled"):
            return body
        time.sleep(0.05)
    raise AssertionError(f"execution {exec_id} did not finish: {body}")
