"""The progress of a load pass: a live table on a terminal, a plain line every 5 s else (CI logs).

``--live`` (the default on a terminal) redraws a rich table once a second from the Locust process's
progress messages: per operation the rate, p50/p95/p99 (coordinated-omission corrected, the run's
own figures: :mod:`harness.run.live`), errors and dropped, and the stage and target rate against
the achieved one. ``--no-live`` (the default when stdout is not a terminal) prints today's one
plain line every 5 s. ``--web [PORT]`` also serves the same figures on 127.0.0.1
(:mod:`harness.run.live_web`) until the pass ends.
"""

from __future__ import annotations

import time
from typing import Any

from rich.console import Console

from harness.load.schedule import schedule_from
from harness.run.live import LiveState, render_table, snapshot
from harness.run.live_web import LiveServer
from harness.scenario import ResolvedScenario

#: A plain progress line at most this often (CI logs).
PLAIN_EVERY_S = 5.0


class Progress:
    def __init__(
        self,
        console: Console,
        resolved: ResolvedScenario,
        quiet: bool,
        *,
        live: bool | None = None,
        web_port: int | None = None,
        run_id: str = "",
    ) -> None:
        """``live``: the table (None: on a terminal); ``web_port``: serve the page (0: a free port)."""
        self.console, self.resolved, self.quiet = console, resolved, quiet
        self.schedule = schedule_from([(s.start_s, s.end_s, s.rate_from, s.rate_to) for s in resolved.stages])
        self.live_table = (console.is_terminal if live is None else live) and not quiet
        self.web_port, self.run_id = web_port, run_id
        self.state = LiveState(run_id, resolved.scenario.name, resolved.duration_s)
        self.last: dict[str, Any] = {}
        self.web: LiveServer | None = None
        self._live: Any = None
        self._last_plain = 0.0

    def __enter__(self) -> Progress:
        if self.web_port is not None:
            self._start_web(self.web_port)
        if self.live_table:
            from rich.live import Live

            self._live = Live("", console=self.console, auto_refresh=False, transient=True)
            self._live.__enter__()
        return self

    def _start_web(self, port: int) -> None:
        """The page's server; a port that cannot be bound costs the page, not the run."""
        try:
            self.web = LiveServer(self.state, port)
        except OSError as exc:
            self.console.print(
                f"[yellow]--web: cannot listen on 127.0.0.1:{port} ({exc.strerror}): no live page[/]"
            )
            return
        self.console.print(f"live figures: {self.web.url}", highlight=False, soft_wrap=True)

    def __exit__(self, *exc: object) -> None:
        if self._live is not None:
            self._live.__exit__(None, None, None)
            self._live = None
        if self.web is not None:
            self.web.stop()
            self.web = None

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
        figures = snapshot(msg, self.resolved, self.schedule, self.run_id)
        self.state.update(figures)
        if self._live is not None:
            self._live.update(render_table(figures), refresh=True)
        elif not self.quiet and not msg.get("final") and time.monotonic() - self._last_plain >= PLAIN_EVERY_S:
            self._last_plain = time.monotonic()
            self.console.print(self.line(msg), highlight=False)
