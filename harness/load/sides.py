"""Which side of a duet pass (``harness ab``) each scheduled request goes to. Pure: no gevent.

``mirror``: every scheduled request goes to every side at the same intended instant (the order
the sends are spawned in is shuffled per request, so no side is always first). ``alternate``:
each request goes to one side, in a seeded, balanced random order (each block of len(sides)
requests is a random permutation of the sides: half the rate each, never more than one apart).
Closed model: user ``i`` of a process drives side ``i mod len(sides)``.
"""

from __future__ import annotations

import random

from harness.load.contract import Plan

ASSIGN_MODES = ("mirror", "alternate")


class Sides:
    def __init__(self, plan: Plan, seed: int) -> None:
        if plan.assign not in ASSIGN_MODES:
            raise ValueError(f"assign: {plan.assign!r} (choose from {', '.join(ASSIGN_MODES)})")
        self.names = sorted(plan.sides)
        self.urls = {name: plan.sides[name].url.rstrip("/") for name in self.names}
        self.assign = plan.assign
        self._random = random.Random(seed)
        self._block: list[str] = []

    def pick(self) -> tuple[str, ...]:
        """The sides the next scheduled request goes to, in the order to send."""
        if self.assign == "mirror":
            order = list(self.names)
            self._random.shuffle(order)
            return tuple(order)
        if not self._block:
            self._block = list(self.names)
            self._random.shuffle(self._block)
        return (self._block.pop(),)

    def url(self, side: str, path: str) -> str:
        return self.urls[side] + path

    def of_user(self, index: int) -> str:
        return self.names[index % len(self.names)]


def check_sides(plan: Plan) -> None:
    """Every side renders the same mix (labels and weights in one order): ValueError otherwise."""
    shapes = {name: [(o.label, o.weight) for o in side.ops] for name, side in plan.sides.items()}
    if len({tuple(v) for v in shapes.values()}) > 1:
        raise ValueError(f"the sides' mixes differ: {shapes}")
