"""The Locust processes of one load pass, seen from the run stage.

``python -m harness.load.driver`` runs as a child process (Locust's gevent patching stays out of
the harness): one local process, or a master plus N workers. The run stage reads the master's
progress lines (``@@HARNESS {json}`` on stdout) and stops the processes; the samples come back as
files (:mod:`harness.load.contract`).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from harness.contract.meta import REPO
from harness.load.contract import PROGRESS_PREFIX
from harness.run.options import EXIT_ABORTED, RunOptions
from harness.run.target import free_port

DRIVER = [sys.executable, "-m", "harness.load.driver"]


class Drivers:
    """The Locust master/local process (+ local workers); reads its progress lines."""

    def __init__(
        self,
        plan_path: Path,
        work_dir: Path,
        options: RunOptions,
        on_progress: Callable[[dict[str, Any]], None],
    ):
        self.procs: list[subprocess.Popen[str]] = []
        self.main: subprocess.Popen[str] | None = None
        self.plan_path, self.work_dir, self.options = plan_path, work_dir, options
        self.on_progress = on_progress
        self.t0: float | None = None
        self.errors: list[str] = []
        self._reader: threading.Thread | None = None

    def start(self) -> None:
        opts = self.options
        log = open(self.work_dir.parent / "locust.log", "a")  # noqa: SIM115 (kept open by the children)
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        cmd = [*DRIVER, "--role", "local", "--plan", str(self.plan_path)]
        if opts.workers > 0:
            host, port = _bind(opts.master_bind)
            cmd = [*DRIVER, "--role", "master", "--plan", str(self.plan_path), "--master-bind-host", host]
            cmd += ["--master-port", str(port), "--expect-workers", str(opts.workers)]
        self.main = subprocess.Popen(
            cmd, stdout=subprocess.PIPE, stderr=log, text=True, cwd=REPO, env=env, start_new_session=True
        )
        self.procs.append(self.main)
        for _ in range(self._local_workers()):
            self.procs.append(self._start_worker(log, env))
        log.close()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _local_workers(self) -> int:
        opts = self.options
        if opts.workers <= 0:
            return 0
        if opts.local_workers is not None:
            return opts.local_workers
        return 0 if opts.master_bind else opts.workers

    def _start_worker(self, log: Any, env: dict[str, str]) -> subprocess.Popen[str]:
        host, port = _bind(self.options.master_bind)
        connect = "127.0.0.1" if host in ("0.0.0.0", "*", "") else host
        worker = [*DRIVER, "--role", "worker", "--master-host", connect, "--master-port", str(port)]
        return subprocess.Popen(
            worker,
            stdout=subprocess.DEVNULL,
            stderr=log,
            text=True,
            cwd=REPO,
            env=env,
            start_new_session=True,
        )

    def _read(self) -> None:
        assert self.main is not None and self.main.stdout is not None
        for line in self.main.stdout:
            if not line.startswith(PROGRESS_PREFIX):
                continue
            try:
                msg = json.loads(line[len(PROGRESS_PREFIX) :])
            except ValueError:
                continue
            if msg.get("kind") == "start":
                self.t0 = float(msg["t0"])
            elif msg.get("kind") == "error":
                self.errors.append(str(msg.get("message")))
            self.on_progress(msg)

    def terminate(self) -> None:
        """Ask the Locust processes to stop the load and write what they collected."""
        for proc in self.procs:
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    proc.send_signal(signal.SIGTERM)

    def wait(self, timeout_s: float) -> bool:
        assert self.main is not None
        try:
            self.main.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            return False
        return True

    def kill(self) -> None:
        """Never leave a Locust process behind."""
        for proc in self.procs:
            if proc.poll() is None:
                proc.terminate()
        deadline = time.monotonic() + 10
        for proc in self.procs:
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if self._reader is not None:
            self._reader.join(timeout=2)


def _bind(spec: str | None) -> tuple[str, int]:
    if not spec:
        return "127.0.0.1", _BIND_PORT.setdefault("port", free_port())
    host, _, port = spec.partition(":")
    return host or "127.0.0.1", int(port) if port else 5557


_BIND_PORT: dict[str, int] = {}


def run_worker(master_host: str, master_port: int) -> int:
    """``harness run --worker``: a Locust worker process serving a (possibly remote) master."""
    cmd = [*DRIVER, "--role", "worker", "--master-host", master_host, "--master-port", str(master_port)]
    try:
        return subprocess.call(cmd, cwd=REPO)
    except KeyboardInterrupt:
        return EXIT_ABORTED
