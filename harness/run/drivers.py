"""The Locust processes of one load pass, seen from the run stage.

``python -m harness.load.driver`` runs as a child process (Locust's gevent patching stays out of
the harness): one local process, or a master plus N workers. The plan (with the API key in its
headers) goes to the local/master process on its stdin, never through a file; the master hands it
to its workers over Locust's own connection. The run stage reads the master's progress lines
(``@@HARNESS {json}`` on stdout) and stops the processes; the samples come back as files
(:mod:`harness.load.contract`).

A driver never outlives the harness: each process runs in its own process group, which
:meth:`Drivers.kill` ends (SIGTERM, then SIGKILL); and each is started with
:func:`harness.contract.lifecycle.child_env`, so it asks the kernel to kill it when the harness
dies, even by SIGKILL (:func:`harness.contract.lifecycle.die_with_parent`).
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

from harness.contract import lifecycle
from harness.contract.meta import REPO
from harness.load.contract import PROGRESS_PREFIX, Plan
from harness.run.options import EXIT_ABORTED, RunOptions
from harness.run.target import free_port

DRIVER = [sys.executable, "-m", "harness.load.driver"]
#: How long the processes get to stop on SIGTERM before their process groups are killed.
KILL_GRACE_S = 10.0


class Drivers:
    """The Locust master/local process (+ local workers); reads its progress lines."""

    def __init__(
        self,
        plan: Plan,
        work_dir: Path,
        options: RunOptions,
        on_progress: Callable[[dict[str, Any]], None],
    ):
        self.procs: list[subprocess.Popen[str]] = []
        self.main: subprocess.Popen[str] | None = None
        self.plan, self.work_dir, self.options = plan, work_dir, options
        self.on_progress = on_progress
        self.t0: float | None = None
        self.errors: list[str] = []
        self._reader: threading.Thread | None = None

    def start(self) -> None:
        opts = self.options
        log = open(self.work_dir.parent / "locust.log", "a")  # noqa: SIM115 (kept open by the children)
        env = lifecycle.child_env({**os.environ, "PYTHONUNBUFFERED": "1"})
        cmd = [*DRIVER, "--role", "local", "--plan", "-"]
        if opts.workers > 0:
            host, port = _bind(opts.master_bind)
            cmd = [*DRIVER, "--role", "master", "--plan", "-", "--master-bind-host", host]
            cmd += ["--master-port", str(port), "--expect-workers", str(opts.workers)]
        self.main = subprocess.Popen(
            cmd,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=log,
            text=True,
            cwd=REPO,
            env=env,
            start_new_session=True,
        )
        self.procs.append(self.main)
        feeder = threading.Thread(target=_feed, args=(self.main, self.plan.model_dump_json()), daemon=True)
        feeder.start()
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
            stdin=subprocess.DEVNULL,
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
        self._signal_groups(signal.SIGTERM)

    def _signal_groups(self, sig: signal.Signals) -> None:
        """``sig`` to the process group of each process not yet reaped (its own session's group)."""
        for proc in self.procs:
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(proc.pid, sig)

    def wait(self, timeout_s: float) -> bool:
        assert self.main is not None
        try:
            self.main.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            return False
        return True

    def kill(self) -> None:
        """Never leave a Locust process behind: SIGTERM to each process group, SIGKILL after
        :data:`KILL_GRACE_S`."""
        self._signal_groups(signal.SIGTERM)
        deadline = time.monotonic() + KILL_GRACE_S
        for proc in self.procs:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
        self._signal_groups(signal.SIGKILL)
        for proc in self.procs:
            proc.wait()
        if self._reader is not None:
            self._reader.join(timeout=2)


def _feed(proc: subprocess.Popen[str], text: str) -> None:
    """Write the plan to the driver's stdin and close it (a driver that died early reads nothing)."""
    assert proc.stdin is not None
    with contextlib.suppress(OSError):  # BrokenPipeError: the driver exited; its exit code tells
        proc.stdin.write(text)
    with contextlib.suppress(OSError):
        proc.stdin.close()


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
        return subprocess.call(cmd, cwd=REPO, env=lifecycle.child_env())
    except KeyboardInterrupt:
        return EXIT_ABORTED
