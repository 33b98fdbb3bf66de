"""Per-request recording on Locust's ``events.request``: the hot path of the harness.

Everything here must stay cheap: a handful of list appends per request, no pandas, no pyarrow,
no JSON. Columns are swapped out wholesale by :meth:`Recorder.take` about once per second.
"""

from __future__ import annotations

import math
from typing import Any

from harness.contract.columns import SAMPLE_COLUMNS

NAN = math.nan
#: The sample columns this process records; the collector adds ``worker``. A duet pass
#: (``harness ab``) also records ``side`` (:class:`SidedRecorder`), kept only inside ``.work``.
COLUMNS = tuple(c for c in SAMPLE_COLUMNS if c != "worker")
SIDE = "side"


def error_kind(exception: BaseException | None, status: int) -> str:
    if status >= 400 or (exception is None and status):
        return f"HTTP {status}"
    name = type(exception).__name__ if exception is not None else "Error"
    return "Timeout" if "timeout" in name.lower() or "Timeout" in str(exception)[:40] else name


class Recorder:
    """Columns of samples; one instance per Locust process."""

    def __init__(self) -> None:
        self._new()

    def _new(self) -> None:
        self.ts: list[float] = []
        self.operation: list[str] = []
        self.intended_start: list[float] = []
        self.start: list[float] = []
        self.latency_ms: list[float] = []
        self.service_ms: list[float] = []
        self.status: list[int] = []
        self.bytes: list[int] = []
        self.error: list[str | None] = []

    def __len__(self) -> int:
        return len(self.ts)

    def on_request(
        self,
        name: str,
        response_time: float,
        response_length: int,
        response: Any = None,
        context: dict[str, Any] | None = None,
        exception: BaseException | None = None,
        start_time: float | None = None,
        **_: Any,
    ) -> None:
        """Listener for ``events.request``; ``context['intended']`` carries the open-model send time."""
        started = start_time if start_time is not None else 0.0
        intended = started
        expect = None
        if context:
            intended = context.get("intended", started)
            expect = context.get("expect")
        status = getattr(response, "status_code", 0) or 0
        if exception is not None:
            error: str | None = error_kind(exception, status)
        elif (status not in expect) if expect is not None else (300 <= status < 400):
            error = f"HTTP {status}"  # unexpected, or a redirect (never followed: not a success)
        else:
            error = None
        self.ts.append(started + response_time / 1000.0)
        self.operation.append(name)
        self.intended_start.append(intended)
        self.start.append(started)
        self.latency_ms.append((started - intended) * 1000.0 + response_time)
        self.service_ms.append(response_time)
        self.status.append(status)
        self.bytes.append(response_length or 0)
        self.error.append(error)

    def record_unsent(self, operation: str, intended: float, error: str, now: float | None = None) -> None:
        """A send that never produced a response: ``dropped`` (never started) or an abandoned one."""
        self.ts.append(intended if now is None else now)
        self.operation.append(operation)
        self.intended_start.append(intended)
        self.start.append(NAN)
        self.latency_ms.append(NAN)
        self.service_ms.append(NAN)
        self.status.append(0)
        self.bytes.append(0)
        self.error.append(error)

    def take(self) -> dict[str, Any]:
        """Hand over everything recorded so far and start fresh columns."""
        chunk = {
            "ts": self.ts,
            "operation": self.operation,
            "intended_start": self.intended_start,
            "start": self.start,
            "latency_ms": self.latency_ms,
            "service_ms": self.service_ms,
            "status": self.status,
            "bytes": self.bytes,
            "error": self.error,
        }
        self._new()
        return chunk


class SidedRecorder(Recorder):
    """A duet pass (``harness ab``): also the side of each sample (``context['side']``). A run with
    one target uses :class:`Recorder`, so the side costs it nothing per request."""

    def _new(self) -> None:
        super()._new()
        self.side: list[str | None] = []

    def on_request(
        self,
        name: str,
        response_time: float,
        response_length: int,
        response: Any = None,
        context: dict[str, Any] | None = None,
        exception: BaseException | None = None,
        start_time: float | None = None,
        **_: Any,
    ) -> None:
        super().on_request(name, response_time, response_length, response, context, exception, start_time)
        self.side.append(context.get("side") if context else None)

    def record_unsent(
        self, operation: str, intended: float, error: str, now: float | None = None, side: str | None = None
    ) -> None:
        super().record_unsent(operation, intended, error, now)
        self.side.append(side)

    def take(self) -> dict[str, Any]:
        side = self.side
        chunk = super().take()
        chunk[SIDE] = side
        return chunk
