"""Create-then-poll operations (team creation): one sample from the create request to "ready".

The create request goes out, then the created resource is polled (``ReadyPoll``: every 10 % of the
time elapsed so far, 20 ms to 5 s apart) until its status reads ready, reads failed, or the plan's
``timeout`` has passed. None of these requests is a sample of its own: they go through a *quiet*
copy of the user's HTTP session (same connections and settings, no ``events.request``), and the
whole exchange is fired once on the real session's request event under the operation's label,
with the full duration as its response time and the create request's start as its start. The
recorder then computes the latency from the intended send time like any open-model operation
(coordinated omission corrected), and Locust's own statistics see one request too.

A failure is one sample with an error: the create or a poll answered an unexpected HTTP status,
the resource reached a failed status (``ReportedFailed``), came up incomplete
(``IncompleteResult``), or was not ready in time (``ReadyTimeout``, recorded as ``Timeout``).

Pure logic: no gevent or Locust import (the driver passes the clock, the sleep and the session),
so it is tested with a fake session and clock.
"""

from __future__ import annotations

import copy
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from harness.scenario.operations import ReadyPoll, dig, render


class NotReady(Exception):
    """The operation ended without its resource being ready (the sample's error)."""


class ReadyTimeout(NotReady):
    """Not ready within the plan's timeout (the recorder files it as ``Timeout``)."""


class ReportedFailed(NotReady):
    """The target reported the creation failed (a status in ``ReadyPoll.failed``)."""


class IncompleteResult(NotReady):
    """Ready, but with fewer items than asked for (a team short of agents)."""


class BadReply(NotReady):
    """A reply without the field the poll needs (no id, no status)."""


@dataclass(frozen=True)
class Reply:
    status: int
    size: int
    body: Any  # parsed JSON, or None
    error: BaseException | None = None  # a connection error (no HTTP answer)


@dataclass
class Outcome:
    """What one create-then-poll exchange came to: the status to record, the bytes read, the
    error (None: ready), and the number of polls it took."""

    status: int = 0
    size: int = 0
    error: BaseException | None = None
    polls: int = 0


Send = Callable[[str, str, str | None], Reply]


def next_interval(spec: ReadyPoll, elapsed_s: float) -> float:
    """Seconds to the next poll: a share of the time so far, clamped."""
    return min(spec.max_interval_s, max(spec.min_interval_s, spec.interval_fraction * elapsed_s))


def run_until_ready(
    send: Send,
    method: str,
    path: str,
    body: str | None,
    *,
    expect: frozenset[int] | None,
    spec: ReadyPoll,
    timeout_s: float,
    clock: Callable[[], float] = time.perf_counter,
    sleep: Callable[[float], None] = time.sleep,
) -> Outcome:
    """Send the create request, then poll until ready, failed or ``timeout_s`` after the start."""
    start = clock()
    outcome = Outcome()
    created = _answered(send(method, path, body), expect or frozenset(range(200, 300)), outcome)
    if outcome.error is not None:
        return outcome
    try:
        resource = str(dig(created, spec.id_field))
    except KeyError:
        outcome.error = BadReply(f"create reply has no {spec.id_field!r}")
        return outcome
    # one path segment whatever the target returned: a "/", CRLF or URL in the id cannot steer the
    # polls (and the key they carry) anywhere but the resource on the same target
    poll_path = render(spec.path, {"id": quote(resource, safe="")})
    deadline = start + timeout_s
    while True:
        now = clock()
        if now >= deadline:
            outcome.error = ReadyTimeout(f"not ready after {timeout_s:g} s ({outcome.polls} polls)")
            return outcome
        sleep(min(next_interval(spec, now - start), deadline - now))
        outcome.polls += 1
        create_status = outcome.status
        current = _answered(send("GET", poll_path, None), frozenset({200}), outcome)
        if outcome.error is not None:
            return outcome
        outcome.status = create_status  # a ready sample carries the create request's status
        if _finished(current, spec, outcome):
            return outcome


def _answered(reply: Reply, expect: frozenset[int], outcome: Outcome) -> Any:
    """Count the reply; set the outcome's error for a connection error or an unexpected status."""
    outcome.size += reply.size
    outcome.status = reply.status
    if reply.error is not None:
        outcome.error = reply.error
    elif reply.status not in expect:
        outcome.error = NotReady(f"HTTP {reply.status}")
    return reply.body


def _finished(current: Any, spec: ReadyPoll, outcome: Outcome) -> bool:
    """True when the poll settles the operation (ready, failed or malformed; error set if not ready)."""
    try:
        status = str(dig(current, spec.status_field))
    except KeyError:
        outcome.error = BadReply(f"poll reply has no {spec.status_field!r}")
        return True
    if status in spec.failed:
        outcome.error = ReportedFailed(f"{spec.status_field} {status!r}")
        return True
    if status not in spec.ready:
        return False
    if spec.count is not None and spec.count_field is not None:
        try:
            items = dig(current, spec.count_field)
        except KeyError:
            items = []
        have = len(items) if isinstance(items, list) else 0
        if have < spec.count:
            outcome.error = IncompleteResult(f"{spec.count_field}: {have} of {spec.count}")
    return True


class _Discard:
    """A request event that records nothing: the polls are not samples."""

    def fire(self, **_: Any) -> None:
        return None


def quiet_session(session: Any) -> Any:
    """A copy of a Locust ``FastHttpSession`` sharing its connections and settings whose requests
    fire no ``events.request``."""
    quiet = copy.copy(session)
    quiet.request_event = _Discard()
    return quiet


def session_sender(quiet: Any, headers: dict[str, str], base: str = "") -> Send:
    """``send`` over a quiet session: the reply's status, size and parsed JSON body. ``base``
    prefixes a relative path (a duet side's URL; the session's own host otherwise)."""

    def send(method: str, path: str, body: str | None) -> Reply:
        url = path if path.startswith(("http://", "https://")) else base + path
        response = quiet.request(method, url, data=body, headers=headers)
        content = getattr(response, "content", None) or b""
        try:
            parsed = json.loads(content) if content else None
        except ValueError:
            parsed = None
        error = getattr(response, "error", None)
        status = int(getattr(response, "status_code", 0) or 0)
        return Reply(status, len(content), parsed, error if status == 0 else None)

    return send


class _Status:
    """What the recorder reads of a response: its status code."""

    def __init__(self, status_code: int) -> None:
        self.status_code = status_code


def send_until_ready(
    session: Any,
    op: Any,
    path: str,
    body: str | None,
    context: dict[str, Any],
    *,
    timeout_s: float,
    sleep: Callable[[float], None],
    base: str = "",
) -> Outcome:
    """One create-then-poll operation on a Locust session, fired once as ``op.label``. ``path``:
    the create request's (absolute in a duet pass); ``base``: the prefix of the polls' paths."""
    quiet = quiet_session(session)
    started, t0 = time.time(), time.perf_counter()
    outcome = run_until_ready(
        session_sender(quiet, op.headers, base),
        op.method,
        path,
        body,
        expect=op.expect,
        spec=op.until,
        timeout_s=timeout_s,
        sleep=sleep,
    )
    session.request_event.fire(
        request_type=op.method,
        name=op.label,
        response_time=(time.perf_counter() - t0) * 1000.0,
        response_length=outcome.size,
        response=_Status(outcome.status),
        context=context,
        exception=outcome.error,
        start_time=started,
        url=path,
    )
    return outcome
