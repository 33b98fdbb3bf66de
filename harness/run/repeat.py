"""Repeated runs: ``harness run --repeat N`` and the interleaved order of the switch sweep.

The runs of one ``--repeat N`` share a group id; :func:`repeat_tags` puts the tags that let
compare pool them later (:data:`~harness.contract.columns.REPEAT_GROUP_TAG`, the 1-based
:data:`~harness.contract.columns.REPEAT_INDEX_TAG` and :data:`~harness.contract.columns.REPEAT_COUNT_TAG`)
on each; :func:`run_repeats` runs them with a cool-down between; :func:`run_repeated` is the
loop of ``harness run``.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from dataclasses import replace
from typing import TypeVar

from harness.contract.columns import REPEAT_COUNT_TAG, REPEAT_GROUP_TAG, REPEAT_INDEX_TAG
from harness.run import orchestrator
from harness.run.options import EXIT_ABORTED, EXIT_OK, RunOptions, RunResult

T = TypeVar("T")
DEFAULT_COOLDOWN_S = 5.0


def new_repeat_group() -> str:
    return secrets.token_hex(3)


def repeat_tags(group: str, index: int, count: int) -> dict[str, str]:
    """Tags of repeat ``index`` (0-based) of ``count`` in ``group``; the tag itself is 1-based."""
    return {REPEAT_GROUP_TAG: group, REPEAT_INDEX_TAG: str(index + 1), REPEAT_COUNT_TAG: str(count)}


def run_repeats(
    run_once: Callable[[int, dict[str, str]], T],
    count: int,
    *,
    cooldown_s: float = DEFAULT_COOLDOWN_S,
    group: str | None,
    sleep: Callable[[float], None] = time.sleep,
    stop: Callable[[T], bool] = lambda result: False,
) -> list[T]:
    """Call ``run_once(index, tags)`` up to ``count`` times with a cool-down between calls.

    ``tags`` are :func:`repeat_tags` (none when ``group`` is None: a single run is no group);
    the series ends early after a result for which ``stop`` is true.
    """
    if count < 1:
        raise ValueError("count must be at least 1")
    results: list[T] = []
    for index in range(count):
        if index:
            sleep(cooldown_s)
        results.append(run_once(index, repeat_tags(group, index, count) if group is not None else {}))
        if stop(results[-1]):
            break
    return results


def interleaved_order(variants: list[str], count: int) -> list[tuple[int, str]]:
    """ABBA-style order: each round alternates direction, so slow drift hits every variant alike."""
    order: list[tuple[int, str]] = []
    for index in range(count):
        names = variants if index % 2 == 0 else list(reversed(variants))
        order.extend((index, name) for name in names)
    return order


def _ends_series(result: RunResult) -> bool:
    """No run folder (bad scenario, target down) or Ctrl-C: the remaining repeats would not help."""
    if result.manifest is None:
        return True
    return result.exit_code == EXIT_ABORTED and "interrupt" in (result.manifest.abort_reason or "")


def run_repeated(
    options: RunOptions,
    count: int = 1,
    cooldown_s: float = DEFAULT_COOLDOWN_S,
    *,
    execute: Callable[[RunOptions], RunResult] | None = None,  # tests pass a fake
    sleep: Callable[[float], None] = time.sleep,
) -> int:
    """``harness run [--repeat N]``: each run with its after-run steps; the exit code of the series.

    That is the worst run's (3 aborted > 2 > 1 gate failed > 0), or the code of a run that
    wrote no run folder.
    """
    run = execute or orchestrator.execute

    def once(index: int, tags: dict[str, str]) -> RunResult:
        return run(replace(options, tags={**options.tags, **tags}))

    group = new_repeat_group() if count > 1 else None
    results = run_repeats(once, count, cooldown_s=cooldown_s, group=group, sleep=sleep, stop=_ends_series)
    if results[-1].manifest is None:
        return results[-1].exit_code
    return max((r.exit_code for r in results), default=EXIT_OK)
