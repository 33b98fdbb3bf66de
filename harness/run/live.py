"""The live view of a load pass: what the terminal table and the ``--web`` page show.

The Locust process sends a ``progress`` message once a second (:meth:`harness.load.collector.
Collector.progress`): overall and per operation, the rate and p50/p95/p99 of the last interval and
of the run so far, already read with the one percentile definition over the coordinated-omission
corrected latency. Nothing here computes a percentile: :func:`snapshot` only adds the plan's side
(stage, target rate, planned duration) and turns the message into one JSON-ready dict, which
:func:`render_table` draws with rich and :class:`LiveState` serves to the web page, so the two
views show the same figures.
"""

from __future__ import annotations

import json
import math
import threading
from collections import deque
from typing import Any

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from harness.load.schedule import ArrivalSchedule
from harness.scenario import ResolvedScenario

#: Points of the rate / p95 sparkline kept (one a second: the last ten minutes).
HISTORY_POINTS = 600


def _number(value: Any) -> float | None:
    """A finite float, else None (JSON has no NaN; a missing figure is a dash)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def _count(value: Any) -> int:
    return int(value) if isinstance(value, int | float) and math.isfinite(value) else 0


def _row(name: str, figures: Any) -> dict[str, Any]:
    """One table row from a :class:`~harness.load.collector.LiveFigures` reading."""
    figures = figures if isinstance(figures, dict) else {}
    total = figures.get("total_ms") if isinstance(figures.get("total_ms"), dict) else {}
    interval = figures.get("interval_ms") if isinstance(figures.get("interval_ms"), dict) else {}
    completed = _count(figures.get("completed"))
    errors = _count(figures.get("errors"))
    return {
        "name": name,
        "rate": _number(figures.get("rate")) or 0.0,
        "completed": completed,
        "errors": errors,
        "error_pct": 100.0 * errors / completed if completed else 0.0,
        "dropped": _count(figures.get("dropped")),
        "p50": _number(total.get("p50")),
        "p95": _number(total.get("p95")),
        "p99": _number(total.get("p99")),
        "p95_interval": _number(interval.get("p95")),
    }


def snapshot(
    msg: dict[str, Any], resolved: ResolvedScenario, schedule: ArrivalSchedule, run_id: str
) -> dict[str, Any]:
    """The live figures of one progress message, with the plan's stage and target rate."""
    planned = _number(msg.get("total")) or resolved.duration_s
    elapsed = max(0.0, _number(msg.get("elapsed")) or 0.0)
    found = msg.get("operations")
    operations: dict[str, Any] = found if isinstance(found, dict) else {}
    overall = _row("all", msg.get("overall") or msg)
    if not isinstance(msg.get("overall"), dict):  # an older driver: only the overall interval p95
        overall["p95_interval"] = _number(msg.get("p95_ms"))
    return {
        "run_id": run_id,
        "scenario": resolved.scenario.name,
        "elapsed_s": min(elapsed, planned),
        "planned_s": planned,
        "final": bool(msg.get("final")),
        "model": resolved.scenario.load.model,
        "stage": schedule.stage_at(elapsed) + 1 if resolved.is_open else 1,
        "stages": max(1, len(resolved.stages)),
        "target_rate": schedule.rate_at(elapsed) if resolved.is_open else None,
        "overall": overall,
        "operations": [_row(str(name), figures) for name, figures in sorted(operations.items())],
    }


class LiveState:
    """The latest snapshot and the sparkline's history, as the JSON the web page polls.

    Written by the thread reading the Locust process, read by the web server's threads: the JSON is
    built once per message and swapped in under a lock.
    """

    def __init__(self, run_id: str, scenario: str, planned_s: float) -> None:
        self._lock = threading.Lock()
        self.history: deque[dict[str, float | None]] = deque(maxlen=HISTORY_POINTS)
        self.latest: dict[str, Any] = {
            "run_id": run_id,
            "scenario": scenario,
            "elapsed_s": 0.0,
            "planned_s": planned_s,
            "final": False,
            "waiting": True,
            "operations": [],
        }
        self._json = self._encode()

    def update(self, figures: dict[str, Any]) -> None:
        overall = figures["overall"]
        point = {"t": figures["elapsed_s"], "rate": overall["rate"], "p95": overall["p95_interval"]}
        with self._lock:
            if not figures["final"]:  # the final reading's interval is the drain: not a second
                self.history.append(point)
            self.latest = figures
            self._json = self._encode()

    def _encode(self) -> bytes:
        body = {**self.latest, "history": list(self.history)}
        return json.dumps(body, allow_nan=False).encode("utf-8")

    def json_bytes(self) -> bytes:
        with self._lock:
            return self._json


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:,.1f}"


def header_line(figures: dict[str, Any]) -> str:
    """Run id, elapsed/planned, stage, target versus achieved rate (plain text)."""
    overall = figures["overall"]
    target = figures["target_rate"]
    wanted = "closed model" if target is None else f"target {target:,.1f}/s"
    done = "  (final)" if figures["final"] else ""
    name = figures["run_id"] or figures["scenario"]  # a pass without a run id (ab) names its scenario
    return (
        f"{name}  {figures['elapsed_s']:.0f}/{figures['planned_s']:.0f}s  "
        f"stage {figures['stage']}/{figures['stages']}  "
        f"rate {overall['rate']:,.1f}/s ({wanted}){done}"
    )


def render_table(figures: dict[str, Any]) -> RenderableType:
    """The terminal view: a header line and one row per operation, then the total."""
    table = Table(
        caption="latency from the intended send time (CO-corrected), run so far; p95 1s: last second",
        caption_justify="left",
        show_edge=False,
        pad_edge=False,
    )
    for column in ("operation", "rate/s", "completed", "p50 ms", "p95 ms", "p99 ms", "p95 1s", "errors"):
        table.add_column(column, justify="left" if column == "operation" else "right", no_wrap=True)
    table.add_column("dropped", justify="right")
    for row in [*figures["operations"], figures["overall"]]:
        is_total = row is figures["overall"]
        table.add_row(
            Text(row["name"], style="bold" if is_total else ""),  # a Text: YAML names are not markup
            f"{row['rate']:,.1f}",
            f"{row['completed']:,}",
            _ms(row["p50"]),
            _ms(row["p95"]),
            _ms(row["p99"]),
            _ms(row["p95_interval"]),
            f"{row['errors']:,} ({row['error_pct']:.2f}%)",
            f"{row['dropped']:,}",
            end_section=row is (figures["operations"] or [None])[-1],
        )
    return Group(Text(header_line(figures), style="bold"), table)
