"""Test hosts of our own, built from Linux network namespaces (``ip netns``).

A :class:`Lab` is one switch and N hosts: a namespace holding a bridge, and one namespace per host
joined to it by a veth pair (created directly inside the namespaces, so no interface ever appears
in the root namespace). Each host gets an address in a private /24 that the root namespace does not
use, and its own loopback. Processes run on a host through ``ip netns exec``.

Names carry a prefix and the creating process's pid (``hmh-<pid>-<n>-<host>``), so parallel runs do
not collide and :func:`clean_leftovers` can remove what a crashed run left behind (namespaces of a
pid that is no longer alive, and the processes still inside them).
"""

from __future__ import annotations

import contextlib
import itertools
import os
import signal
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.run.target import parent_death_argv, stop_group

PREFIX = "hmh"
#: the private range the labs take a /24 from: 10.213.N.0/24, first N the root namespace does not use
RANGE = "10.213"
_LABS = itertools.count()


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["ip", *args], capture_output=True, text=True, check=check, timeout=30)


def netns_unavailable() -> str | None:
    """Why this machine cannot build a lab (None when a trial ``ip netns add`` works)."""
    trial = f"{PREFIX}-{os.getpid()}-probe"
    try:
        added = _ip("netns", "add", trial, check=False)
    except OSError as exc:
        return f"`ip` cannot run here: {exc}"
    if added.returncode != 0:
        return f"`ip netns add` is not permitted here: {added.stderr.strip()}"
    _ip("netns", "del", trial, check=False)
    return None


def free_subnet() -> str:
    """``10.213.N`` for the first N that no address or route of the root namespace mentions."""
    used = _ip("-4", "-o", "addr").stdout + _ip("-4", "route").stdout
    for third in range(256):
        if f"{RANGE}.{third}." not in used:
            return f"{RANGE}.{third}"
    raise RuntimeError(f"every {RANGE}.N.0/24 is in use in the root namespace")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _namespaces() -> list[str]:
    listed = _ip("netns", "list", check=False).stdout.splitlines()
    return [line.split()[0] for line in listed if line.startswith(f"{PREFIX}-")]


def _kill_inside(namespace: str) -> None:
    """SIGKILL every process still in ``namespace`` (only ever one of our labs)."""
    pids = _ip("netns", "pids", namespace, check=False).stdout.split()
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, ValueError):
            os.kill(int(pid), signal.SIGKILL)


def _delete(namespace: str) -> None:
    _kill_inside(namespace)
    _ip("netns", "del", namespace, check=False)


def clean_leftovers() -> list[str]:
    """Delete the labs of earlier runs whose process is gone; the namespaces removed."""
    removed = []
    for namespace in _namespaces():
        owner = namespace.split("-")[1]
        if owner.isdigit() and not _alive(int(owner)):
            _delete(namespace)
            removed.append(namespace)
    return removed


@dataclass
class Lab:
    """A bridge and one host per name in ``hosts``; :meth:`up` builds it, :meth:`down` removes it."""

    hosts: Sequence[str]
    subnet: str = ""
    tag: str = field(default_factory=lambda: f"{PREFIX}-{os.getpid()}-{next(_LABS)}")
    created: list[str] = field(default_factory=list)
    processes: list[subprocess.Popen[str]] = field(default_factory=list)

    def namespace(self, host: str) -> str:
        return f"{self.tag}-{host}"

    def address(self, host: str) -> str:
        return f"{self.subnet}.{10 + list(self.hosts).index(host)}"

    def up(self) -> None:
        self.subnet = self.subnet or free_subnet()
        switch = self._add("switch")
        _ip("-n", switch, "link", "add", "br0", "type", "bridge")
        _ip("-n", switch, "link", "set", "br0", "up")
        for index, host in enumerate(self.hosts):
            namespace = self._add(host)
            port = f"p{index}"
            veth = ("type", "veth", "peer", "name", port, "netns", switch)
            _ip("link", "add", "eth0", "netns", namespace, *veth)
            _ip("-n", switch, "link", "set", port, "master", "br0", "up")
            _ip("-n", namespace, "addr", "add", f"{self.address(host)}/24", "dev", "eth0")
            _ip("-n", namespace, "link", "set", "eth0", "up")
            _ip("-n", namespace, "link", "set", "lo", "up")

    def _add(self, host: str) -> str:
        namespace = self.namespace(host)
        _ip("netns", "add", namespace)
        self.created.append(namespace)
        return namespace

    def down(self) -> None:
        """Stop the processes started here, kill what else still runs on the hosts, delete every
        namespace (hosts first, then the switch)."""
        for proc in self.processes:
            stop_group(proc, grace_s=10.0)
        self.processes.clear()
        for namespace in reversed(self.created):
            _delete(namespace)
        self.created.clear()

    def argv(self, host: str | None, command: Sequence[str]) -> list[str]:
        """``command`` run on ``host`` (None: in the root namespace, where the tests run)."""
        return ["ip", "netns", "exec", self.namespace(host), *command] if host else list(command)

    def popen(
        self, host: str | None, command: Sequence[str], log: Path, pipe_stdout: bool = False, **kwargs: Any
    ) -> subprocess.Popen[str]:
        """``command`` on ``host`` (see :meth:`argv`) in its own session (so ``stop_group`` ends its
        group) and stopped by :meth:`down`; its output appended to ``log`` (only stderr when
        ``pipe_stdout``: stdout is then read by the caller)."""
        # the parent-death stub: a test process killed outright takes what it started with it
        argv = parent_death_argv(self.argv(host, command), kwargs.get("env"))
        with open(log, "a") as out:
            proc = subprocess.Popen(
                argv,
                text=True,
                start_new_session=True,
                stdout=subprocess.PIPE if pipe_stdout else out,
                stderr=out if pipe_stdout else subprocess.STDOUT,
                **kwargs,
            )
        self.processes.append(proc)
        return proc
