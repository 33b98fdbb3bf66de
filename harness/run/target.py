"""The system under test: loopback guard, reachability, the managed reference runtime and any HTTP
service started from a command line (``harness ab --a-cmd``).

Every request made here goes through the egress policy (:mod:`harness.contract.egress`): the
health probes follow no redirect and carry no credentials. The managed runtime gets its API key
from the harness (``MOTHERBOX_API_KEY`` in its environment, never on its command line), so it
never prints one into ``target.log``; a key that still reaches the log (a runtime of another
version, e.g. a git worktree of ``harness ab``) is scrubbed when the runtime stops.

**A target never outlives the harness.** The runtime and a ``--cmd`` service run in their own
session (a Ctrl-C in the terminal reaches the harness only, which stops them in order), so a
SIGKILL of the harness would leave them running. Each is therefore started through
:func:`parent_death_argv`: a tiny ``python -I -S -c`` stub, the harness's direct child, that asks
the kernel for ``PR_SET_PDEATHSIG`` = SIGTERM (Linux; kept across ``exec``), exits at once if the
harness is already gone, then execs the real command under the same pid (what py-spy and the
monitor attach to). SIGTERM, not SIGKILL, so the runtime shuts down as it would on ``stop()`` and
ends its own children: the model backend, started by ``reference-runtime serve`` with the same
parent-death signal, and the uvicorn workers of ``--workers N``. A stub rather than a
``preexec_fn`` because the harness has threads when it starts a target (monitor, Locust readers),
and ``preexec_fn`` is not safe with threads. The kernel sends the signal when the *thread* that
started the child ends: targets are started from the main thread, which lives as long as the
harness. A command's own children are its business (the signal reaches the process the harness
started; ``stop()`` still ends the whole process group).
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.contract.atomic import atomic_path
from harness.contract.egress import Egress, EgressError, check_target, join

PORT_PLACEHOLDER = "{port}"
#: The runtime reads its API key from this variable (``reference_runtime.config``: MOTHERBOX_*).
API_KEY_ENV = "MOTHERBOX_API_KEY"
REDACTED = "(redacted)"


#: The stub run in front of a target's command (argv: harness pid, command...): parent-death
#: signal, a check that the parent is still the harness, then exec. Standard library only and
#: ``-I -S`` (no site, no cwd on the path: a git worktree's files are never imported here).
_PARENT_DEATH_STUB = """
import ctypes, os, signal, sys
parent, argv = int(sys.argv[1]), sys.argv[2:]
try:
    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM, 0, 0, 0)  # PR_SET_PDEATHSIG
except (OSError, AttributeError):
    pass
if os.getppid() != parent:
    os._exit(3)  # the harness died before the signal was armed
try:
    os.execvp(argv[0], argv)
except OSError as exc:
    sys.stderr.write(f"cannot start {argv[0]!r}: {exc}\\n")
    os._exit(127)
"""


def parent_death_argv(
    argv: list[str], env: dict[str, str] | None = None, cwd: Path | None = None
) -> list[str]:
    """``argv`` behind the parent-death stub (Linux; ``argv`` unchanged elsewhere). OSError when
    ``argv`` is empty or its program is not found (in ``env``'s PATH, relative to ``cwd``), as
    ``subprocess.Popen`` would raise it."""
    if not argv:
        raise OSError("empty command")
    program = argv[0]
    if cwd is not None and "/" in program and not os.path.isabs(program):
        program = os.path.join(cwd, program)
    if shutil.which(program, path=(env or os.environ).get("PATH")) is None:
        raise FileNotFoundError(2, "No such file or directory", argv[0])
    if not sys.platform.startswith("linux"):
        return argv
    return [sys.executable, "-I", "-S", "-c", _PARENT_DEATH_STUB, str(os.getpid()), *argv]


def runtime_module() -> str:
    """The module whose ``main()`` serves the reference runtime (tests substitute a stand-in)."""
    return os.environ.get("HARNESS_RUNTIME_MODULE", "reference_runtime.cli")


class TargetError(Exception):
    """The target cannot be used (refused, unreachable, failed to start)."""


def check_allowed(url: str, allow_remote: bool, name: str = "target") -> Egress:
    """The egress policy of a run against ``url`` (TargetError naming ``name`` when the URL is
    malformed, ends in ``/v1``, or is not loopback without ``allow_remote``)."""
    try:
        return check_target(url, allow_remote, name)
    except EgressError as exc:
        raise TargetError(str(exc)) from None


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def probe(url: str, egress: Egress, timeout: float = 2.0) -> int | None:
    """HTTP status of a GET of ``url`` under the run's ``egress`` policy (any status means
    reachable; a redirect is not followed), or None when nothing answered."""
    outcome = _attempt(url, egress, timeout)
    return outcome if isinstance(outcome, int) else None


def _attempt(url: str, egress: Egress, timeout: float) -> int | Exception:
    """The status of one GET of ``url``, or why there is none."""
    try:
        return egress.request("GET", url, field="health probe", timeout=timeout, limit=65_536).status
    except (OSError, EgressError) as exc:
        return exc


def wait_reachable(
    base_url: str, health_path: str, timeout_s: float = 10.0, egress: Egress | None = None
) -> int:
    """Wait until a running target (one the harness did not start) answers anything over HTTP.

    TargetError at once when the connection is refused (nothing listens there: waiting would not
    start it; a runtime the harness starts has its own startup grace) or the health URL is
    malformed; after ``timeout_s`` when the target accepts connections but does not answer."""
    deadline = time.monotonic() + timeout_s
    try:
        url = join(base_url, health_path, "target.health_path")
    except EgressError as exc:
        raise TargetError(str(exc)) from None
    policy = egress if egress is not None else Egress(target=base_url)
    while True:
        outcome = _attempt(url, policy, timeout=min(2.0, max(0.2, deadline - time.monotonic())))
        if isinstance(outcome, int):
            return outcome
        if isinstance(outcome, ConnectionRefusedError):
            raise TargetError(f"target {base_url} unreachable: connection refused (is the service running?)")
        if time.monotonic() >= deadline:
            raise TargetError(
                f"target {base_url} unreachable: no HTTP answer from {url} within {timeout_s:.0f}s"
            )
        time.sleep(0.2)


def scrub_file(path: Path | None, secret: str | None) -> None:
    """Replace every occurrence of ``secret`` in the file at ``path`` (in place, atomically)."""
    if path is None or not secret or not path.is_file():
        return
    data = path.read_bytes()
    needle = secret.encode()
    if needle not in data:
        return
    with atomic_path(path) as tmp:
        tmp.write_bytes(data.replace(needle, REDACTED.encode()))


def log_tail(path: Path | None, lines: int = 15) -> str:
    """The last lines of a started target's log, indented, for an error message ("" without one)."""
    if path is None or not path.is_file():
        return ""
    tail = path.read_text(errors="replace").splitlines()[-lines:]
    return "\n  " + "\n  ".join(tail) if tail else ""


def stop_group(proc: subprocess.Popen[Any], grace_s: float) -> None:
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
    _key: str | None = None

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
        # the harness picks the key: a runtime given one does not print it (a generated key is
        # printed on stdout, i.e. into target.log); the runtime also writes it to its state folder
        self._key = env.setdefault(API_KEY_ENV, "mbx_" + secrets.token_urlsafe(24))
        try:
            self.process = subprocess.Popen(
                parent_death_argv(self.command(), env, self.cwd),
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
                code = self.process.returncode
                self.stop()  # removes the temporary state folder, scrubs the key from the log
                raise TargetError(
                    f"reference runtime exited with code {code} during start-up" + log_tail(self.log_path)
                )
            if probe(self.url + "/v1/health", Egress(target=self.url), timeout=1.0) == 200:
                return
            time.sleep(0.2)
        self.stop()
        raise TargetError(
            f"reference runtime not healthy after {self.startup_timeout_s:.0f}s" + log_tail(self.log_path)
        )

    def api_key(self) -> str | None:
        """The key the runtime serves with: what its state folder says (a runtime that ignores
        ``MOTHERBOX_API_KEY`` generated its own), else the one the harness gave it."""
        if self.state_dir is None:
            return None
        path = self.state_dir / "api_key"
        deadline = time.monotonic() + 5
        while not path.is_file() and time.monotonic() < deadline:
            time.sleep(0.1)
        if path.is_file():
            self._key = path.read_text().strip() or self._key
        return self._key

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
            with contextlib.suppress(OSError):  # the key in force, to scrub it from the log
                self._key = (Path(self._tmp.name) / "api_key").read_text().strip() or self._key
            self._tmp.cleanup()
            self._tmp = None
        scrub_file(self.log_path, self._key)
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
                parent_death_argv(self.argv()),
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
        try:
            health = join(self.url, self.health_path, "target.health_path")
        except EgressError as exc:
            self.stop()
            raise TargetError(str(exc)) from None
        deadline = time.monotonic() + self.startup_timeout_s
        while time.monotonic() < deadline:
            code = self.process.poll()
            if code is not None:
                self.stop()
                message = f"{self.option}: exited with code {code} before it was ready"
                raise TargetError(message + log_tail(self.log_path))
            if probe(health, Egress(target=self.url), timeout=1.0) is not None:
                return
            time.sleep(0.1)
        self.stop()
        message = f"{self.option}: no HTTP answer on {self.url}{self.health_path}"
        raise TargetError(f"{message} after {self.startup_timeout_s:.0f}s" + log_tail(self.log_path))

    def stop(self) -> None:
        if self.process is not None and not self.stopped:
            stop_group(self.process, self.grace_s)
            self.stopped = True  # once: the group id is not ours any more
