"""Where and from what code a run ran: the machine and the git checkout (one place for both).

``manifest.json`` records them as ``machine`` and ``git``; history and baselines key on the
machine's :attr:`MachineInfo.fingerprint`, so runs of different machines are never compared by
default.
"""

from __future__ import annotations

import hashlib
import platform
import socket
import subprocess
from pathlib import Path

import psutil
from pydantic import BaseModel, ConfigDict

#: The checkout the harness runs from (git metadata is read here).
REPO = Path(__file__).resolve().parents[2]


class MachineInfo(BaseModel):
    """Every field is optional: old manifests recorded fewer of them."""

    model_config = ConfigDict(frozen=True, extra="allow")

    hostname: str | None = None
    platform: str | None = None
    python: str | None = None
    cpu: str | None = None
    cpu_count: int | None = None
    memory_bytes: int | None = None
    #: hash of hostname, cpu, cpu count and whole GiB of memory: stable across reboots and
    #: kernel updates, different when the hardware changes
    fingerprint: str | None = None


class GitInfo(BaseModel):
    model_config = ConfigDict(frozen=True, extra="allow")

    commit: str | None = None
    branch: str | None = None
    dirty: bool = False  # tracked files modified (untracked files do not count)


def machine_fingerprint(hostname: str, cpu: str, cpu_count: int | None, memory_bytes: int) -> str:
    key = f"{hostname}|{cpu}|{cpu_count}|{memory_bytes // 2**30}"
    return hashlib.sha256(key.encode()).hexdigest()[:16]


def machine_info() -> MachineInfo:
    """This machine, as recorded in the manifest of a run started here."""
    hostname = socket.gethostname()
    cpu = platform.processor() or platform.machine()
    cpu_count = psutil.cpu_count(logical=True)
    memory = psutil.virtual_memory().total
    return MachineInfo(
        hostname=hostname,
        platform=platform.platform(),
        python=platform.python_version(),
        cpu=cpu,
        cpu_count=cpu_count,
        memory_bytes=memory,
        fingerprint=machine_fingerprint(hostname, cpu, cpu_count, memory),
    )


def _git(repo: Path, *args: str) -> str | None:
    try:
        out = subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def git_info(repo: Path = REPO) -> GitInfo:
    """The checkout's commit, branch and dirty flag; None fields when git is unavailable."""
    return GitInfo(
        commit=_git(repo, "rev-parse", "HEAD"),
        branch=_git(repo, "rev-parse", "--abbrev-ref", "HEAD"),
        dirty=bool(_git(repo, "status", "--porcelain", "-uno")),
    )
