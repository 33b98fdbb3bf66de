"""The two targets of ``harness ab``: what a side is, the checks before anything starts, a git
ref's worktree, and :class:`DuetTargets`, which starts (or probes) both sides, knows the process
of each and stops them.

A side is one of four kinds (:class:`SideTarget`): a running service (``--a URL``), the reference
runtime started with a profile or config file (``--a-config``), the reference runtime of a git ref
(``--a-ref``: a detached ``git worktree`` of that ref, served by this venv's python with the
worktree as cwd, removed at the end; :class:`GitWorktree`), or any HTTP service started from a
command line with a ``{port}`` placeholder (``--a-cmd``; :class:`CommandService`).
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from harness.contract import rundir
from harness.contract.meta import REPO
from harness.run.target import (
    PORT_PLACEHOLDER,
    CommandService,
    ManagedRuntime,
    TargetError,
    check_allowed,
    wait_reachable,
)

__all__ = [
    "CommandService",
    "DuetTargets",
    "GitWorktree",
    "SideTarget",
    "check_side",
    "known_configs",
    "resolve_ref",
]


@dataclass
class SideTarget:
    """One side, exactly one of: a running service (``url``, optionally its ``pid`` to monitor), the
    reference runtime with ``config`` (a profile name or a YAML file), the reference runtime of the
    git ``ref``, or the HTTP service started by ``cmd`` (``{port}`` is replaced by the port)."""

    url: str | None = None
    config: str | None = None
    pid: int | None = None
    ref: str | None = None
    cmd: str | None = None

    def kinds(self) -> list[str]:
        return [k for k in ("url", "config", "ref", "cmd") if getattr(self, k) is not None]


def known_configs() -> list[str]:
    return sorted(p.stem for p in (REPO / "reference_runtime" / "config").glob("*.yaml"))


def resolve_ref(repo: Path, ref: str) -> str | None:
    """The commit ``ref`` names in ``repo``, or None."""
    if not ref or ref.startswith("-"):
        return None
    try:
        out = subprocess.run(
            ["git", "-C", str(repo), "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}"],
            capture_output=True,
            text=True,
            timeout=30,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() if out.returncode == 0 and out.stdout.strip() else None


def check_command(option: str, cmd: str) -> None:
    try:
        argv = shlex.split(cmd)
    except ValueError as exc:
        raise TargetError(f"{option}: cannot parse the command line: {exc}") from exc
    if not argv:
        raise TargetError(f"{option}: empty command")
    if PORT_PLACEHOLDER not in cmd:
        raise TargetError(f"{option}: the command must contain {PORT_PLACEHOLDER} (the harness picks it)")


def check_side(name: str, side: SideTarget, allow_remote: bool, repo: Path = REPO) -> str | None:
    """A usable side, before anything starts (TargetError naming the option); the commit of a ref."""
    if len(side.kinds()) != 1:
        raise TargetError(
            f"side {name}: give exactly one of --{name} URL, --{name}-config NAME|FILE, "
            f"--{name}-ref GITREF and --{name}-cmd CMD"
        )
    if side.pid is not None and side.url is None:
        raise TargetError(f"--{name}-pid: the process the harness starts is monitored already")
    if side.url is not None:
        check_allowed(side.url, allow_remote)
    elif side.config is not None:
        if side.config not in known_configs() and not Path(side.config).is_file():
            raise TargetError(
                f"--{name}-config {side.config!r}: not a profile ({', '.join(known_configs())}) nor a file"
            )
    elif side.ref is not None:
        commit = resolve_ref(repo, side.ref)
        if commit is None:
            raise TargetError(f"--{name}-ref: unknown git ref {side.ref!r}")
        return commit
    elif side.cmd is not None:
        check_command(f"--{name}-cmd", side.cmd)
    return None


@dataclass
class GitWorktree:
    """A detached ``git worktree`` of ``commit`` in a temporary folder, removed by :meth:`remove`."""

    repo: Path
    ref: str
    commit: str
    path: Path | None = None
    _tmp: Path | None = None

    def add(self) -> Path:
        self._tmp = Path(tempfile.mkdtemp(prefix="motherbox-ab-ref-"))
        path = self._tmp / "src"
        out = subprocess.run(
            ["git", "-C", str(self.repo), "worktree", "add", "--detach", str(path), self.commit],
            capture_output=True,
            text=True,
        )
        if out.returncode != 0:
            shutil.rmtree(self._tmp, ignore_errors=True)
            self._tmp = None
            raise TargetError(f"git worktree add {self.ref!r} failed: {out.stderr.strip()}")
        self.path = path
        return path

    def runtime(self, log_path: Path | None) -> ManagedRuntime:
        """``python -m reference_runtime serve ...`` with the worktree as cwd (and first on the path),
        so the worktree's ``reference_runtime`` is imported, not the one installed in the venv."""
        assert self.path is not None
        path = os.pathsep.join(p for p in (str(self.path), os.environ.get("PYTHONPATH", "")) if p)
        return ManagedRuntime(
            log_path=log_path,
            launcher=[sys.executable, "-m", "reference_runtime"],
            extra_env={"PYTHONPATH": path},
            cwd=self.path,
        )

    def remove(self) -> None:
        if self.path is not None:
            git = ["git", "-C", str(self.repo), "worktree"]
            removed = subprocess.run([*git, "remove", "--force", str(self.path)], capture_output=True)
            if removed.returncode != 0:
                shutil.rmtree(self.path, ignore_errors=True)
                subprocess.run([*git, "prune"], capture_output=True)
            self.path = None
        if self._tmp is not None:
            shutil.rmtree(self._tmp, ignore_errors=True)
            self._tmp = None


class DuetTargets:
    """Both sides up for the whole duet run (every repeat): started by the harness or probed."""

    def __init__(
        self, sides: dict[str, SideTarget], repo: Path, commits: dict[str, str], say: Callable[[str], None]
    ) -> None:
        self.sides, self.repo, self.commits, self.say = sides, repo, commits, say
        self.runtimes: dict[str, ManagedRuntime] = {}
        self.services: dict[str, CommandService] = {}
        self.worktrees: dict[str, GitWorktree] = {}
        self.urls: dict[str, str] = {}

    def start(self, name: str, health_path: str, log_path: Path) -> tuple[str, str | None]:
        """One side up: its base URL and the API key of a reference runtime the harness started."""
        side = self.sides[name]
        if side.url is not None:
            url = side.url.rstrip("/")
            wait_reachable(url, health_path, timeout_s=10.0)
        elif side.cmd is not None:
            self.say(f"starting side {name}: {side.cmd}")
            service = CommandService(side.cmd, health_path, log_path, option=f"--{name}-cmd")
            self.services[name] = service
            service.start()
            url = service.url
        else:
            runtime = self._runtime(name, side, log_path)
            self.runtimes[name] = runtime
            runtime.start()
            self.urls[name] = runtime.url
            return runtime.url, runtime.api_key()
        self.urls[name] = url
        return url, None

    def _runtime(self, name: str, side: SideTarget, log_path: Path) -> ManagedRuntime:
        if side.ref is None:
            self.say(f"starting the reference runtime for side {name} ...")
            return ManagedRuntime(config=side.config, log_path=log_path)
        commit = self.commits[name]
        self.say(f"starting the reference runtime of {side.ref} ({commit[:12]}) for side {name} ...")
        worktree = GitWorktree(self.repo, side.ref, commit)
        self.worktrees[name] = worktree
        worktree.add()
        return worktree.runtime(log_path)

    def pid(self, name: str) -> int | None:
        """The process the harness can see: the one it started, or ``--X-pid``."""
        if name in self.runtimes:
            return self.runtimes[name].pid
        if name in self.services:
            return self.services[name].pid
        return self.sides[name].pid

    def is_runtime(self, name: str) -> bool:
        """A reference runtime the harness started (it has Prometheus metrics)."""
        return name in self.runtimes

    def info(self, name: str) -> rundir.TargetInfo:
        runtime = self.runtimes.get(name)
        pid = self.pid(name)
        ref = self.sides[name].ref
        return rundir.TargetInfo(
            url=self.urls.get(name, ""),
            managed=runtime is not None or name in self.services,
            config_profile=(runtime.config or "default") if runtime is not None else None,
            pids=[pid] if pid else [],
            version=f"git {ref} {self.commits[name][:12]}" if ref is not None else None,
        )

    def stop(self) -> None:
        """Every process the harness started, then the worktrees they ran from (idempotent)."""
        for runtime in self.runtimes.values():
            runtime.stop()
        for service in self.services.values():
            service.stop()
        for worktree in self.worktrees.values():
            worktree.remove()
