"""In-process message bus: routes work to agent mailboxes with priority P1-P4 (always on).

``send`` delivers one message; ``send_many`` delivers a batch, grouped per mailbox, with one
wake-up per mailbox. Every runtime path sends one message at a time today; ``send_many`` is
measured against ``send`` by ``make bench-runtime`` (the ``batching`` switch does not select it).
"""

from __future__ import annotations

import hashlib
import time
from collections import Counter, OrderedDict, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

from .agents.mailbox import MailboxFull
from .agents.registry import Registry, Work

PRIORITY_NAMES = {"P1": 1, "P2": 2, "P3": 3, "P4": 4}


def parse_priority(value: object, default: int = 3) -> int:
    """``"P2"`` / ``2`` -> 2; anything else -> ValueError."""
    if value is None:
        return default
    if isinstance(value, bool):
        raise ValueError("priority must be P1-P4")
    if isinstance(value, int) and 1 <= value <= 4:
        return value
    if isinstance(value, str) and value.upper() in PRIORITY_NAMES:
        return PRIORITY_NAMES[value.upper()]
    raise ValueError("priority must be one of P1, P2, P3, P4")


@dataclass
class BusStats:
    sent: dict[int, int] = field(default_factory=lambda: {1: 0, 2: 0, 3: 0, 4: 0})
    rejected: int = 0
    batches: int = 0


class UnknownAgent(KeyError):
    pass


class Bus:
    def __init__(self, registry: Registry, channels: ChannelPool | None = None) -> None:
        self.registry = registry
        self.stats = BusStats()
        self.channels = channels or ChannelPool()

    def send(self, work: Work, sender: str = "runtime") -> None:
        agent = self.registry.by_id(work.agent_id)
        if agent is None:
            raise UnknownAgent(work.agent_id)
        chan = self.channels.acquire(sender, work.agent_id)
        try:
            agent.mailbox.put_nowait(work, work.priority)
        except MailboxFull:
            self.stats.rejected += 1
            raise
        finally:
            self.channels.release(chan)
        self.stats.sent[work.priority] += 1

    def send_many(self, works: Iterable[Work]) -> int:
        """Deliver a batch; returns how many were accepted (the rest did not fit)."""
        grouped: dict[str, list[tuple[Work, int]]] = defaultdict(list)
        for work in works:
            grouped[work.agent_id].append((work, work.priority))
        accepted = 0
        for agent_id, items in grouped.items():
            agent = self.registry.by_id(agent_id)
            if agent is None:
                self.stats.rejected += len(items)
                continue
            n = agent.mailbox.put_many(items)
            accepted += n
            self.stats.rejected += len(items) - n
            sent = self.stats.sent
            for prio, count in Counter(p for _w, p in items[:n]).items():
                sent[prio] += count
        self.stats.batches += 1
        return accepted


@dataclass
class Channel:
    """An inter-agent connection: a handshake (both ends' identities checked and a session
    token agreed) then any number of sends."""

    sender: str
    receiver: str
    token: str
    created: float
    last_check: float
    uses: int = 0


class ChannelPool:
    """The guide's inter-agent pool (50 channels, reused, health check every 30 s).

    Pooling off: every message opens (handshakes) and closes its own channel."""

    def __init__(self, size: int = 50, pooling: bool = True, health_check_s: float = 30.0) -> None:
        self.size = size
        self.pooling = pooling
        self.health_check_s = health_check_s
        self._idle: OrderedDict[tuple[str, str], Channel] = OrderedDict()
        self.opened = 0
        self.reused = 0
        self.health_checks = 0
        self.in_use = 0

    def _open(self, sender: str, receiver: str) -> Channel:
        self.opened += 1
        now = time.monotonic()
        # Handshake: both identities hashed into a session token (real work, like a TLS-less hello).
        token = hashlib.sha256(f"{sender}->{receiver}:{now}:{self.opened}".encode()).hexdigest()
        return Channel(sender, receiver, token, now, now)

    def acquire(self, sender: str, receiver: str) -> Channel:
        self.in_use += 1
        if not self.pooling:
            return self._open(sender, receiver)
        chan = self._idle.pop((sender, receiver), None)
        if chan is None:
            return self._open(sender, receiver)
        self.reused += 1
        if time.monotonic() - chan.last_check >= self.health_check_s:
            self.health_checks += 1  # re-validate a channel idle for a while
            chan.last_check = time.monotonic()
        return chan

    def release(self, chan: Channel) -> None:
        self.in_use = max(0, self.in_use - 1)
        chan.uses += 1
        if not self.pooling:
            return
        self._idle[(chan.sender, chan.receiver)] = chan
        self._idle.move_to_end((chan.sender, chan.receiver))
        while len(self._idle) > self.size:
            self._idle.popitem(last=False)

    @property
    def idle(self) -> int:
        return len(self._idle)
