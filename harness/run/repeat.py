"""Repeated and interleaved runs, for ``harness run --repeat N`` and the switch/detection sweeps.

The runner owns how one run is executed; these helpers own the order, the cool-downs and the
tags that let compare pool the repeats later (:data:`~harness.contract.columns.REPEAT_GROUP_TAG`).

Runner usage::

    from harness.run.repeat import new_repeat_group, run_repeats
    group = new_repeat_group(scenario.name)
    paths = run_repeats(lambda i, tags: run_once(spec, extra_tags=tags), n, cooldown_s=5.0, group=group)
"""

from __future__ import annotations

import datetime as dt
import secrets
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TypeVar

from harness.compare import stats
from harness.contract import rundir
from harness.contract.columns import REPEAT_COUNT_TAG, REPEAT_GROUP_TAG, REPEAT_INDEX_TAG

T = TypeVar("T")
DEFAULT_COOLDOWN_S = 5.0


def new_repeat_group(scenario: str) -> str:
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    return f"{scenario}-{stamp}-{secrets.token_hex(3)}"


def repeat_tags(group: str, index: int, count: int) -> dict[str, str]:
    """Tags to put on repeat ``index`` (0-based) of ``count`` in ``group``."""
    return {REPEAT_GROUP_TAG: group, REPEAT_INDEX_TAG: str(index), REPEAT_COUNT_TAG: str(count)}


def run_repeats(
    run_once: Callable[[int, dict[str, str]], T],
    count: int,
    *,
    cooldown_s: float = DEFAULT_COOLDOWN_S,
    group: str,
    sleep: Callable[[float], None] = time.sleep,
) -> list[T]:
    """Call ``run_once(index, tags)`` ``count`` times with a cool-down between calls."""
    if count < 1:
        raise ValueError("count must be at least 1")
    results = []
    for index in range(count):
        if index:
            sleep(cooldown_s)
        results.append(run_once(index, repeat_tags(group, index, count)))
    return results


def interleaved_order(variants: list[str], count: int) -> list[tuple[int, str]]:
    """ABBA-style order: each round alternates direction, so slow drift hits every variant alike."""
    order: list[tuple[int, str]] = []
    for index in range(count):
        names = variants if index % 2 == 0 else list(reversed(variants))
        order.extend((index, name) for name in names)
    return order


def run_interleaved(
    variants: Mapping[str, Callable[[int, dict[str, str]], T]],
    count: int,
    *,
    cooldown_s: float = DEFAULT_COOLDOWN_S,
    groups: Mapping[str, str],
    sleep: Callable[[float], None] = time.sleep,
) -> dict[str, list[T]]:
    """Run every variant ``count`` times, interleaved (A B B A A B ...); each variant is its own group."""
    results: dict[str, list[T]] = {name: [] for name in variants}
    for step, (index, name) in enumerate(interleaved_order(list(variants), count)):
        if step:
            sleep(cooldown_s)
        results[name].append(variants[name](index, repeat_tags(groups[name], index, count)))
    return results


def p95_spread(paths: list[Path]) -> dict[str, object]:
    """Per-repeat overall p95 and its coefficient of variation (for the runner's final print)."""
    p95s = [rundir.load_summary(p).overall.latency_ms.p95 for p in paths]
    values = [p for p in p95s if p is not None]
    return {"p95_ms": p95s, "cv_p95": stats.coefficient_of_variation(values)}
