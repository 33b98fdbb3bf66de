"""The live progress line of a load pass (a rich Live line on a terminal, a plain line every 5 s else)."""

from __future__ import annotations

import time
from typing import Any

from rich.console import Console

from harness.load.schedule import schedule_from
from harness.scenario import ResolvedScenario


class Progress:
    def __init__(self, console: Console, resolved: ResolvedScenario, quiet: bool) -> None:
        self.console, self.resolved, self.quiet = console, resolved, quiet
        self.schedule = schedule_from([(s.start_s, s.end_s, s.rate_from, s.rate_to) for s in resolved.stages])
        self.last: dict[str, Any] = {}
        self._live: Any = None
        self._last_plain = 0.0

    def __enter__(self) -> Progress:
        if self.console.is_terminal and not self.quiet:
            from rich.live import Live

            self._live = Live("", console=self.console, refresh_per_second=4, transient=True)
            self._live.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._live is not None:
            self._live.__exit__(None, None, None)

    def line(self, msg: dict[str, Any]) -> str:
        elapsed = max(0.0, float(msg.get("elapsed", 0.0)))
        total = float(msg.get("total", self.resolved.duration_s))
        if self.resolved.is_open:
            stage = self.schedule.stage_at(elapsed)
            target = f"{self.schedule.rate_at(elapsed):7.1f}"
        else:
            stage, target = 0, "closed"
        p95 = msg.get("p95_ms")
        p95_text = f"{p95:8.1f} ms" if isinstance(p95, float) and p95 == p95 else "       - ms"
        done = max(1, int(msg.get("completed", 0)))
        err = 100.0 * int(msg.get("errors", 0)) / done
        return (
            f"[bold]{min(elapsed, total):6.0f}/{total:.0f}s[/] stage {stage}  "
            f"rate {msg.get('rate', 0.0):7.1f}/{target} req/s  p95 {p95_text}  "
            f"errors {err:5.2f}%  dropped {msg.get('dropped', 0)}"
        )

    def update(self, msg: dict[str, Any]) -> None:
        kind = msg.get("kind")
        if kind == "waiting_workers" and not self.quiet:
            self.console.print(f"waiting for {msg.get('expect')} Locust worker(s) ...")
        if kind != "progress":
            return
        self.last = msg
        text = self.line(msg)
        if self._live is not None:
            self._live.update(text)
        elif not self.quiet and time.monotonic() - self._last_plain >= 5:
            self._last_plain = time.monotonic()
            self.console.print(text, highlight=False)
