"""The open-model pacer: sends at intended times, never waits for responses (no coordinated omission).

Clock, sleep and the send/drop actions are injected, so this runs under gevent in Locust and
under a fake clock in tests. When ``max_in_flight`` requests are outstanding, a send waits for a
free slot at most ``queue_timeout_s`` (as wrk2 does, the wait counts in its latency from the
intended time but not in its service time); past that it is dropped and counted, like k6's
dropped_iterations. While the pacer waits it falls behind; later slots then go out as soon as
possible (late) or, if already older than the queue timeout, are dropped at once.

A send is "late" when it goes out more than :data:`~harness.contract.columns.LATE_TOLERANCE_S`
after its intended time: the same tolerance summary.json's ``late`` applies to the samples.
"""

from __future__ import annotations

import bisect
import random
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from harness.contract.columns import LATE_TOLERANCE_S


class WeightedChoice:
    """O(log n) weighted pick with its own seeded RNG (reproducible mixes)."""

    def __init__(self, items: Sequence[object], weights: Sequence[float], seed: int) -> None:
        if not items or len(items) != len(weights):
            raise ValueError("need one weight per item")
        self.items = list(items)
        self.cumulative: list[float] = []
        total = 0.0
        for weight in weights:
            total += weight
            self.cumulative.append(total)
        self.total = total
        self._random = random.Random(seed).random

    def pick(self) -> object:
        if len(self.items) == 1:
            return self.items[0]
        return self.items[bisect.bisect_right(self.cumulative, self._random() * self.total)]


@dataclass
class PacerStats:
    scheduled: int = 0
    sent: int = 0
    dropped: int = 0
    late: int = 0
    max_lag_s: float = 0.0


class Pacer:
    def __init__(
        self,
        offsets: Iterable[float],
        t0: float,
        *,
        clock: Callable[[], float],
        sleep: Callable[[float], None],
        can_send: Callable[[], bool],
        send: Callable[[object, float], None],
        drop: Callable[[object, float], None],
        choose: Callable[[], object],
        wait_free: Callable[[float], bool] = lambda timeout: False,
        queue_timeout_s: float = 0.0,
        stopped: Callable[[], bool] = lambda: False,
        early_s: float = 0.0,
        yield_: Callable[[], None] = lambda: None,
    ) -> None:
        self.offsets = offsets
        self.t0 = t0
        self.clock, self.sleep = clock, sleep
        self.can_send, self.send, self.drop = can_send, send, drop
        self.choose, self.stopped = choose, stopped
        self.wait_free, self.queue_timeout_s = wait_free, queue_timeout_s
        # Event-loop timers fire ~1 ms late (epoll's ms resolution): wake ``early_s`` ahead and
        # yield cooperatively until the exact time, so the send is not late by the timer's slack.
        self.early_s, self.yield_ = early_s, yield_
        self.stats = PacerStats()

    def run(self) -> PacerStats:
        stats = self.stats
        for offset in self.offsets:
            if self.stopped():
                break
            intended = self.t0 + offset
            now = self.clock()
            if intended > now:
                if intended - now > self.early_s:
                    self.sleep(intended - now - self.early_s)
                if self.early_s > 0:
                    while self.clock() < intended:
                        self.yield_()
                if self.stopped():
                    break
            stats.scheduled += 1
            operation = self.choose()
            if self.can_send() or self._wait_for_slot(intended):
                lag = self.clock() - intended
                if lag > LATE_TOLERANCE_S:
                    stats.late += 1
                    stats.max_lag_s = max(stats.max_lag_s, lag)
                stats.sent += 1
                self.send(operation, intended)
            else:
                stats.dropped += 1
                self.drop(operation, intended)
        return stats

    def _wait_for_slot(self, intended: float) -> bool:
        remaining = intended + self.queue_timeout_s - self.clock()
        return remaining > 0 and self.wait_free(remaining)
