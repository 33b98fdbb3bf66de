"""The system under test: loopback guard, reachability, the managed reference runtime and any HTTP
service started from a command line (``harness ab --a-cmd``)."""

from __future__ import annotations

import contextlib
import ipaddress
import os
import shlex
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

LOOPBACK_NAMES = {"localhost", "localhost.localdomain", "ip6-localhost"}
PORT_PLACEHOLDER = "{port}"


def runtime_module() -> str:
    """The module whose ``main()`` serves the reference runtime (tests substitute a stand-in)."""
    return os.environ.get("HARNESS_RUNTIME_MODULE", "reference_runtime.cli")


class TargetError(Exception):
    """The target cannot be used (refused, unreachable, failed to start)."""


def host_of(url: str) -> str:
    return (urlsplit(url).hostname or "").lower()


def is_loopback(url: str) -> bool:
    host = host_of(url)
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_allowed(url: str, allow_remote: bool) -> None:
    if not is_loopback(url) and not allow_remote:
        raise TargetError(
            f"refusing to send load to non-loopback target {host_of(url)!r}: "
            "pass --allow-remote if you own that service and mean it"
        )


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def probe(url: str, timeout: float = 2.0) -> int | None:
    """HTTP status of a GET (any status means reachable), or None when nothing answered."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)
    except (urllib.error.URLError, OSError, ValueError):
        return None


def wait_reachable(base_url: str, health_path: str, timeout_s: float = 10.0) -> int:
    """Wait until the target answers anything over HTTP; TargetError after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    url = base_url.rstrip("/") + health_path
    while True:
        status = probe(url, timeout=min(2.0, max(0.2, deadline - time.monotonic())))
        if status is not None:
            return status
        if time.monotonic() >= deadline:
            raise TargetError(
                f"target {base_url} unreachable: no HTTP answer from {url} within {timeout_s:.0f}s"
            )
        time.sleep(0.2)


def log_tail(path: Path | None, lines: int = 15) -> str:
    """The last lines of a started target's log, indented, for an error message ("" without one)."""
    if path is None or not path.is_file():
        return ""
    tail = path.read_text(errors="replace").splitlines()[-lines:]
    return "\n  " + "\n  ".join(tail) if tail else ""


def stop_group(proc: subprocess.Popen[bytes], grace_s: float) -> None:
    """SIGTERM to the process group, SIGKILL to what is left after ``grace_s``."""
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=grace_s)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)  # the leader's children too, even when it exited
    if proc.poll() is None:
        proc.wait(timeout=5)


@dataclass(kw_only=True)
class LoopbackProcess:
    """A process the harness started, serving HTTP on a free loopback ``port``."""

    port: int = 0
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process is not None else None


@dataclass
class ManagedRuntime(LoopbackProcess):
    """``reference-runtime serve`` on a free loopback port with a temporary state folder."""

    config: str | None = None
    log_path: Path | None = None
    launcher: list[str] | None = None  # replaces ``python -c ...``: e.g. memray/scalene + a script
    extra_env: dict[str, str] = field(default_factory=dict)
    cwd: Path | None = None  # e.g. a git worktree whose ``reference_runtime`` the launcher imports
    startup_timeout_s: float = 60.0
    state_dir: Path | None = None
    _tmp: tempfile.TemporaryDirectory[str] | None = None

    def command(self) -> list[str]:
        assert self.state_dir is not None
        code = f"import sys; from {runtime_module()} import main; sys.exit(main())"
        base = self.launcher if self.launcher else [sys.executable, "-c", code]
        cmd = [*base, "serve", "--host", "127.0.0.1", "--port", str(self.port)]
        cmd += ["--state-dir", str(self.state_dir)]
        if self.config:
            cmd += ["--config", self.config]
        return cmd

    def start(self) -> None:
        self._tmp = tempfile.TemporaryDirectory(prefix="motherbox-perf-state-")
        self.state_dir = Path(self._tmp.name)
        self.port = free_port()
        log = open(self.log_path, "ab") if self.log_path else subprocess.DEVNULL  # noqa: SIM115
        env = {**os.environ, **self.extra_env}
        try:
            self.process = subprocess.Popen(
                self.command(),
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                env=env,
                cwd=self.cwd,
            )
        except OSError as exc:
            raise TargetError(f"cannot start the reference runtime: {exc}") from exc
        finally:
            if log is not subprocess.DEVNULL:
                log.close()  # type: ignore[union-attr]
        self._wait_healthy()

    def _wait_healthy(self) -> None:
        deadline = time.monotonic() + self.startup_timeout_s
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                message = (
                    f"reference runtime exited with code {self.process.returncode} during start-up"
                    + log_tail(self.log_path)
                )
                self.stop()  # removes the temporary state folder
                raise TargetError(message)
            if probe(self.url + "/v1/health", timeout=1.0) == 200:
                return
            time.sleep(0.2)
        self.stop()
        raise TargetError(
            f"reference runtime not healthy after {self.startup_timeout_s:.0f}s" + log_tail(self.log_path)
        )

    def api_key(self) -> str | None:
        if self.state_dir is None:
            return None
        path = self.state_dir / "api_key"
        deadline = time.monotonic() + 5
        while not path.is_file() and time.monotonic() < deadline:
            time.sleep(0.1)
        return path.read_text().strip() if path.is_file() else None

    def stop(self, timeout_s: float = 15.0) -> int | None:
        proc = self.process
        if proc is not None and proc.poll() is None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=5)
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None
        return proc.returncode if proc is not None else None

    def __enter__(self) -> ManagedRuntime:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


@dataclass
class CommandService(LoopbackProcess):
    """Any HTTP service from a command line: ``{port}`` replaced by a free loopback port, started
    without a shell in its own session, ready when ``health_path`` answers any HTTP status."""

    command: str
    health_path: str = "/"
    log_path: Path | None = None
    option: str = "--cmd"
    startup_timeout_s: float = 60.0
    grace_s: float = 10.0
    stopped: bool = False

    def argv(self) -> list[str]:
        return [part.replace(PORT_PLACEHOLDER, str(self.port)) for part in shlex.split(self.command)]

    def start(self) -> None:
        self.port = free_port()
        log = open(self.log_path, "ab") if self.log_path else subprocess.DEVNULL  # noqa: SIM115
        try:
            self.process = subprocess.Popen(
                self.argv(),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        except OSError as exc:
            raise TargetError(f"{self.option}: cannot start {self.command!r}: {exc}") from exc
        finally:
            if log is not subprocess.DEVNULL:
                log.close()  # type: ignore[union-attr]
        self._wait_ready()

    def _wait_ready(self) -> None:
        assert self.process is not None
        deadline = time.monotonic() + self.startup_timeout_s
        while time.monotonic() < deadline:
            code = self.process.poll()
            if code is not None:
                self.stop()
                message = f"{self.option}: exited with code {code} before it was ready"
                raise TargetError(message + log_tail(self.log_path))
            if probe(self.url + self.health_path, timeout=1.0) is not None:
                return
            time.sleep(0.1)
        self.stop()
        message = f"{self.option}: no HTTP answer on {self.url}{self.health_path}"
        raise TargetError(f"{message} after {self.startup_timeout_s:.0f}s" + log_tail(self.log_path))

    def stop(self) -> None:
        if self.process is not None and not self.stopped:
            stop_group(self.process, self.grace_s)
            self.stopped = True  # once: the group id is not ours any more
