"""Open-model arrival schedule: intended send times from constant or linearly ramping stages.

Pure arithmetic, no clock: slot ``k`` (0-based, counted over all processes) is sent when the
cumulative number of scheduled arrivals N(t) = integral of rate reaches ``k``.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class StagePlan:
    start_s: float
    end_s: float
    rate_from: float
    rate_to: float

    @property
    def length(self) -> float:
        return self.end_s - self.start_s

    @property
    def arrivals(self) -> float:
        return (self.rate_from + self.rate_to) / 2.0 * self.length

    def offset_of(self, n: float) -> float | None:
        """Seconds into the stage at which its ``n``-th arrival (0-based, fractional) falls."""
        if n < 0 or n >= self.arrivals - 1e-9 or self.length <= 0:
            return None
        a = (self.rate_to - self.rate_from) / (2.0 * self.length)
        b = self.rate_from
        disc = b * b + 4.0 * a * n
        if disc < 0:
            return None
        root = b + math.sqrt(disc)
        if root <= 0:
            return 0.0 if n == 0 else None
        # 2n / (b + sqrt(b^2 + 4an)) solves a t^2 + b t = n without cancellation, for any sign of a.
        return 2.0 * n / root


class ArrivalSchedule:
    def __init__(self, stages: Sequence[StagePlan]) -> None:
        self.stages = list(stages)
        self.cumulative: list[float] = []
        total = 0.0
        for stage in self.stages:
            self.cumulative.append(total)
            total += stage.arrivals
        self.total_arrivals = total

    @property
    def duration_s(self) -> float:
        return self.stages[-1].end_s if self.stages else 0.0

    def rate_at(self, t: float) -> float:
        for stage in self.stages:
            if stage.start_s <= t < stage.end_s:
                frac = (t - stage.start_s) / stage.length if stage.length > 0 else 0.0
                return stage.rate_from + (stage.rate_to - stage.rate_from) * frac
        return 0.0

    def stage_at(self, t: float) -> int:
        for index, stage in enumerate(self.stages):
            if stage.start_s <= t < stage.end_s:
                return index
        return max(0, len(self.stages) - 1)

    def offsets(self, first: int = 0, step: int = 1) -> Iterator[float]:
        """Offsets (seconds from the window start) of slots first, first+step, ... in order."""
        k, index = first, 0
        while index < len(self.stages):
            stage = self.stages[index]
            offset = stage.offset_of(k - self.cumulative[index])
            if offset is None:
                if k >= self.cumulative[index] + stage.arrivals - 1e-9:
                    index += 1
                    continue
                return
            yield stage.start_s + offset
            k += step


def schedule_from(stages: Sequence[tuple[float, float, float, float]]) -> ArrivalSchedule:
    return ArrivalSchedule([StagePlan(*s) for s in stages])
