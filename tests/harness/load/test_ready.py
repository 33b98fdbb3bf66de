"""Create-then-poll operations (team creation): one sample from the create request to ready, with
a fake target and a fake clock (the real runtime end to end: test_ready_e2e.py)."""

from __future__ import annotations

import json
from types import SimpleNamespace
from typing import Any

import pytest

from harness.load.contract import OpSpec, Plan
from harness.load.ready import (
    BadReply,
    IncompleteResult,
    ReadyTimeout,
    Reply,
    ReportedFailed,
    next_interval,
    quiet_session,
    run_until_ready,
    send_until_ready,
)
from harness.load.recorder import Recorder
from harness.scenario.operations import NAMED_OPERATIONS, ReadyPoll

SPEC = ReadyPoll("/v1/projects/{id}", ("completed",), ("failed",), count_field="agents", count=2)


class Clock:
    def __init__(self) -> None:
        self.now = 100.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


class Target:
    """Answers the create with ``create_status`` and then the polls from ``states`` in turn
    (the last one repeats); each request costs ``cost_s`` of the fake clock."""

    def __init__(self, clock: Clock, states: list[Any], create_status: int = 201, cost_s: float = 0.001):
        self.clock, self.states, self.create_status, self.cost_s = clock, states, create_status, cost_s
        self.requests: list[tuple[str, str]] = []

    def __call__(self, method: str, path: str, body: str | None) -> Reply:
        self.requests.append((method, path))
        self.clock.now += self.cost_s
        if method == "POST":
            return Reply(self.create_status, 10, {"id": "p1", "status": "initializing"})
        state = self.states[min(len(self.requests) - 2, len(self.states) - 1)]
        if isinstance(state, int):
            return Reply(state, 5, {"error": "busy"})
        return Reply(200, 20, state)


def project(status: str, agents: int = 0) -> dict[str, Any]:
    return {"id": "p1", "status": status, "agents": [{"id": str(i)} for i in range(agents)]}


def run(target: Target, clock: Clock, timeout_s: float = 60.0) -> Any:
    return run_until_ready(
        target,
        "POST",
        "/v1/projects",
        "{}",
        expect=frozenset({201}),
        spec=SPEC,
        timeout_s=timeout_s,
        clock=clock,
        sleep=clock.sleep,
    )


def test_polls_the_created_resource_until_it_reads_ready() -> None:
    clock = Clock()
    target = Target(clock, [project("discovery"), project("building", 1), project("completed", 2)])
    outcome = run(target, clock)
    assert outcome.error is None and outcome.status == 201  # a ready sample carries the create's status
    assert outcome.polls == 3
    assert target.requests == [("POST", "/v1/projects")] + [("GET", "/v1/projects/p1")] * 3
    assert outcome.size == 10 + 3 * 20


def test_poll_interval_is_a_share_of_the_elapsed_time_clamped() -> None:
    assert next_interval(SPEC, 0.0) == SPEC.min_interval_s
    assert next_interval(SPEC, 10.0) == pytest.approx(1.0)  # 10 % of the time so far
    assert next_interval(SPEC, 3600.0) == SPEC.max_interval_s
    clock = Clock()
    target = Target(clock, [project("building")] * 60 + [project("completed", 2)])
    outcome = run(target, clock, timeout_s=600.0)
    assert outcome.error is None
    # the observed ready time is late by at most one interval: 10 % of the time (or 20 ms)
    assert all(s <= max(SPEC.min_interval_s, 0.1 * 600) for s in clock.sleeps)
    assert clock.sleeps == sorted(clock.sleeps)  # never faster than before
    assert clock.sleeps[-1] <= 0.1 * (clock.now - 100.0) + 1e-9


def test_not_ready_in_time_is_a_timeout_sample_and_the_loop_ends() -> None:
    clock = Clock()
    target = Target(clock, [project("building")])
    outcome = run(target, clock, timeout_s=30.0)
    assert isinstance(outcome.error, ReadyTimeout)
    assert 30.0 <= clock.now - 100.0 < 30.1  # never past the deadline by more than one request
    # the interval grows: 10 polls to 0.2 s, then one per 10 % more time (log of the wait)
    assert outcome.polls <= 10 + 55
    rec = Recorder()
    rec.on_request("team_creation", 30_000.0, 0, _status(outcome.status), {}, outcome.error, 1.0)
    assert rec.take()["error"] == ["Timeout"]


@pytest.mark.parametrize(
    ("states", "create_status", "error", "kind"),
    [
        ([project("failed")], 201, ReportedFailed, "ReportedFailed"),
        ([project("completed", 1)], 201, IncompleteResult, "IncompleteResult"),  # a team short of agents
        ([{"no": "status"}], 201, BadReply, "BadReply"),
        ([project("building"), 503], 201, None, "HTTP 503"),  # a poll that fails ends it
        ([project("completed", 2)], 500, None, "HTTP 500"),  # the create itself fails: no poll
    ],
)
def test_every_way_it_ends_without_a_ready_team_is_one_error(
    states: list[Any], create_status: int, error: type[Exception] | None, kind: str
) -> None:
    clock = Clock()
    target = Target(clock, states, create_status)
    outcome = run(target, clock)
    assert outcome.error is not None
    if error is not None:
        assert isinstance(outcome.error, error)
    if create_status != 201:
        assert target.requests == [("POST", "/v1/projects")]
    rec = Recorder()
    rec.on_request("op", 5.0, 0, _status(outcome.status), {}, outcome.error, 1.0)
    assert rec.take()["error"] == [kind]


def test_a_hostile_id_stays_one_path_segment_on_the_target() -> None:
    clock = Clock()
    sent: list[str] = []

    def send(method: str, path: str, body: str | None) -> Reply:
        sent.append(path)
        if method == "POST":
            return Reply(201, 2, {"id": "http://evil.example/x y\r\nHost: evil"})
        return Reply(200, 2, project("completed", 2))

    outcome = run_until_ready(
        send, "POST", "/p", None, expect=None, spec=SPEC, timeout_s=5, clock=clock, sleep=clock.sleep
    )
    assert outcome.error is None
    assert sent[1] == "/v1/projects/http%3A%2F%2Fevil.example%2Fx%20y%0D%0AHost%3A%20evil"


def test_create_reply_without_an_id_is_an_error() -> None:
    clock = Clock()

    def send(method: str, path: str, body: str | None) -> Reply:
        return Reply(201, 2, {})

    outcome = run_until_ready(
        send, "POST", "/p", None, expect=None, spec=SPEC, timeout_s=5, clock=clock, sleep=clock.sleep
    )
    assert isinstance(outcome.error, BadReply) and outcome.polls == 0


# ------------------------------------------------------- on a Locust-like session: one sample


class Event:
    def __init__(self) -> None:
        self.fired: list[dict[str, Any]] = []

    def fire(self, **kwargs: Any) -> None:
        self.fired.append(kwargs)


class Response:
    def __init__(self, status: int, body: Any) -> None:
        self.status_code = status
        self.content = json.dumps(body).encode()


class Session:
    """Stands in for Locust's FastHttpSession: every request fires the request event."""

    def __init__(self) -> None:
        self.request_event = Event()
        self.urls: list[str] = []
        self.polls = 0

    def request(self, method: str, url: str, **kwargs: Any) -> Response:
        self.urls.append(url)
        self.request_event.fire(name=url)
        if method == "POST":
            return Response(201, {"id": "p9"})
        self.polls += 1
        return Response(200, project("completed" if self.polls >= 3 else "building", 2))


def _status(code: int) -> Any:
    return type("R", (), {"status_code": code})()


def test_the_polls_are_not_samples_and_the_whole_exchange_is_one() -> None:
    session = Session()
    op = _op()
    outcome = send_until_ready(
        session,
        op,
        "/v1/projects",
        "{}",
        {"intended": 0.0},
        timeout_s=10,
        sleep=lambda s: None,
        base="http://b",
    )
    assert outcome.error is None and outcome.polls == 3
    # one event, on the real session, named after the operation; the create and polls fired none
    assert len(session.request_event.fired) == 1
    fired = session.request_event.fired[0]
    assert fired["name"] == "team_creation" and fired["exception"] is None
    assert fired["response"].status_code == 201 and fired["context"] == {"intended": 0.0}
    assert session.urls == ["http://b/v1/projects"] + ["http://b/v1/projects/p9"] * 3
    # the recorder measures from the intended send time: coordinated omission corrected
    rec = Recorder()
    rec.on_request(**{**fired, "start_time": 2.0, "response_time": 500.0, "context": {"intended": 1.5}})
    assert rec.take()["latency_ms"] == [1000.0]


def test_quiet_session_shares_the_client_but_fires_nothing() -> None:
    session = Session()
    session.client = object()  # type: ignore[attr-defined]
    quiet = quiet_session(session)
    quiet.request("GET", "/x")
    assert session.request_event.fired == [] and quiet.client is session.client


def _op() -> Any:
    """What the driver's ``Op`` offers send_until_ready (label, method, headers, expect, until)."""
    fields = {"label": "team_creation", "method": "POST", "headers": {}, "expect": frozenset({201})}
    return SimpleNamespace(**fields, until=SPEC)


def test_the_poll_spec_travels_in_the_plan() -> None:
    """The plan reaches the driver as JSON: the ReadyPoll survives the round trip."""
    spec = OpSpec(
        label="t", method="POST", path="/p", weight=1, until=NAMED_OPERATIONS["team_creation_5"].until
    )
    plan = Plan(
        run_id="r",
        target_url="http://127.0.0.1:1",
        model="open",
        stages=[(0.0, 1.0, 1.0, 1.0)],
        duration_s=1.0,
        max_in_flight=1,
        timeout=5.0,
        drain=1.0,
        ops=[spec],
        work_dir="/tmp/x",
    )
    again = Plan.model_validate_json(plan.model_dump_json())
    assert again.ops[0].until == NAMED_OPERATIONS["team_creation_5"].until
    assert again.ops[0].until is not None and again.ops[0].until.count == 5
