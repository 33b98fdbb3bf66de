"""Garbage-collector settings and GC pause metrics (the guide's "GC tuning ... pause target").

CPython's cyclic collector stops the event loop while it runs, so a pause is latency for every
request in flight. ``GcPauses`` records each collection's wall time per generation as the
Prometheus histogram ``motherbox_gc_pause_seconds``: a load test sees the pauses next to the
latency they may cause (the harness monitor scrapes the endpoint).

Two standard knobs, off by default (CPython's own behaviour) because measuring them here showed no
effect: at 1000 acks/s on this project's 2-core machine all collections together took 16-68 ms
per 10 s (< 0.7 % of the time, no gen-2 collection at all), and the p99 did not follow them
(docs/benchmarks.md, "Command ack at 1000 req/s"). They stay switchable for services whose heap
is larger:

* ``freeze_after_start``: after start-up ``gc.collect()`` then ``gc.freeze()`` moves every
  surviving object into the permanent generation, which collections never scan again;
* ``gen0_threshold``: allocations between young collections (CPython's default 700).
"""

from __future__ import annotations

import gc
import time
from typing import Any

from prometheus_client import CollectorRegistry, Histogram

_PAUSE_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0)


def tune_after_start(freeze_after_start: bool, gen0_threshold: int) -> None:
    """Apply the settings; call once the service has finished starting (the heap is built)."""
    _, gen1, gen2 = gc.get_threshold()
    gc.set_threshold(gen0_threshold, gen1, gen2)
    if freeze_after_start:
        gc.collect()
        gc.freeze()


class GcPauses:
    """A ``gc.callbacks`` hook timing each collection; ``close()`` removes it (tests run many apps)."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self._hist = Histogram(
            "motherbox_gc_pause_seconds",
            "Wall time of each garbage collection (the event loop is stopped meanwhile)",
            ["generation"],
            buckets=_PAUSE_BUCKETS,
            registry=registry,
        )
        self._children = [self._hist.labels(str(g)) for g in range(3)]
        self._started = 0.0
        gc.callbacks.append(self._on_gc)

    def _on_gc(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
        elif self._started:
            self._children[int(info["generation"])].observe(time.perf_counter() - self._started)
            self._started = 0.0

    def close(self) -> None:
        if self._on_gc in gc.callbacks:
            gc.callbacks.remove(self._on_gc)
