"""In-process message bus: routes work to agent mailboxes with priority P1-P4 (always on).

``send`` delivers one message; ``send_many`` delivers a batch, grouped per mailbox, with one
wake-up per mailbox (the ``batching`` switch decides which one callers use for fan-out).
"""

from __future__ import annotations

from collections import defaultdict
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
    def __init__(self, registry: Registry) -> None:
        self.registry = registry
        self.stats = BusStats()

    def send(self, work: Work) -> None:
        agent = self.registry.by_id(work.agent_id)
        if agent is None:
            raise UnknownAgent(work.agent_id)
        try:
            agent.mailbox.put_nowait(work, work.priority)
        except MailboxFull:
            self.stats.rejected += 1
            raise
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
            for _work, prio in items[:n]:
                self.stats.sent[prio] += 1
        self.stats.batches += 1
        return accepted
