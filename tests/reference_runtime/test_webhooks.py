"""Webhooks (issue 14): the spec's status-change events, delivered signed, in order per project,
at least once — through a real receiver (an HTTP server on a free loopback port) and the real
runtime process, including a kill -9 while the receiver is down."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import signal
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import jsonschema
import pytest
import yaml
from prometheus_client import CollectorRegistry

from reference_runtime.config import Settings, WebhookSettings
from reference_runtime.observability import create_webhook_metrics
from reference_runtime.store import Repo, Store, WriteOp
from reference_runtime.webhooks.outbox import Outbox, config_subscriptions
from reference_runtime.webhooks.policy import check_destination
from reference_runtime.webhooks.service import WebhookDeps, WebhookService

from .helpers import SHARED_MB, Server, make_agent, make_project, start_runtime

SECRET = "test-webhook-secret-0123456789"
PROJECT_STATUSES = ["discovery", "building", "validating", "completed"]
SPEC = SHARED_MB / "api" / "openapi-spec.yaml"


# -- a real receiver ---------------------------------------------------------------------------
class Receiver:
    """Records every request; answers the scripted statuses first, then 200."""

    def __init__(self, script: list[int] | None = None, sock: socket.socket | None = None) -> None:
        self.requests: list[tuple[dict[str, str], bytes]] = []
        self.script = list(script or [])
        self.acked: list[tuple[dict[str, str], bytes]] = []
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                headers = {k.lower(): v for k, v in self.headers.items()}
                with receiver.lock:
                    receiver.requests.append((headers, body))
                    status = receiver.script.pop(0) if receiver.script else 200
                    if status == 200:
                        receiver.acked.append((headers, body))
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *_args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler, bind_and_activate=sock is None)
        if sock is not None:  # a port reserved earlier (bound, not listening): now it listens
            self.server.socket.close()
            self.server.socket = sock
            self.server.server_address = sock.getsockname()
            self.server.server_activate()
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    def acked_bodies(self, event: str | None = None) -> list[dict[str, Any]]:
        with self.lock:
            bodies = [json.loads(body) for _h, body in self.acked]
        return [b for b in bodies if event is None or b["event"] == event]

    def acked_once(self) -> list[dict[str, Any]]:
        """Acknowledged bodies, each event once (by its id: at least once may send it again)."""
        with self.lock:
            acked = list(self.acked)
        first: dict[str, dict[str, Any]] = {}
        for headers, body in acked:
            first.setdefault(headers["x-motherbox-event-id"], json.loads(body))
        return list(first.values())

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def reserved_port() -> socket.socket:
    """A loopback port that is ours but refuses connections (bound, not listening) until a
    Receiver listens on it: the receiver is down, and no other process can take the port."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    return sock


def wait_for(check: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def verify_signature(headers: dict[str, str], body: bytes, secret: str) -> bool:
    """The receiver's check, written here from the documented scheme (not the runtime's code)."""
    fields = dict(part.split("=", 1) for part in headers["x-motherbox-signature"].split(","))
    signed = fields["t"].encode() + b"." + body
    expected = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    return abs(time.time() - int(fields["t"])) < 300 and hmac.compare_digest(expected, fields["v1"])


def spec_payload_schema(name: str) -> dict[str, Any] | None:
    """The spec's payload schema; None where the Mother Box data files are not beside the checkout
    (the payload checks are then skipped, the delivery, order and signature checks still run)."""
    if not SPEC.exists():
        return None
    spec = yaml.safe_load(SPEC.read_text(encoding="utf-8"))
    schema: dict[str, Any] = spec["webhooks"][name]["post"]["requestBody"]["content"]["application/json"][
        "schema"
    ]
    return schema


def write_config(path: Path, receiver_url: str, late_url: str) -> Path:
    """Two receivers: the live one (both events) and a late one (project events) that is down
    until the kill -9 test brings it up; attempts last long enough to outlive the module."""
    webhooks = {
        "subscriptions": [
            {
                "url": receiver_url,
                "secret": SECRET,
                "events": ["project.status.changed", "agent.status.changed"],
            },
            {"url": late_url, "secret": SECRET, "events": ["project.status.changed"]},
        ],
        "backoff_initial_s": 0.05,
        "backoff_max_s": 2.0,
        "max_attempts": 20,
        "poll_interval_s": 0.2,
    }
    path.write_text(yaml.safe_dump({"webhooks": webhooks}))
    return path


# -- one runtime process (restarted by the last test), two receivers ----------------------------
@dataclass
class Hooked:
    srv: Server
    state: Path
    config: Path
    late_socket: socket.socket
    projects: list[str] = field(default_factory=list)  # every project made: the late one must get all


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    rec = Receiver([500, 500])  # the first event is acknowledged only at its third attempt
    yield rec
    rec.close()


@pytest.fixture(scope="module")
def hooked(tmp_path_factory: pytest.TempPathFactory, backend: Server, receiver: Receiver) -> Iterator[Hooked]:
    state = tmp_path_factory.mktemp("webhooks-rt")
    late = reserved_port()  # nothing listens there until the kill -9 test
    config = write_config(
        state / "config.yaml", receiver.url, f"http://127.0.0.1:{late.getsockname()[1]}/late"
    )
    srv = start_runtime(state, "--model-url", backend.base_url, "--config", str(config))
    hooked = Hooked(srv, state, config, late)
    yield hooked
    hooked.srv.stop()
    late.close()


def live_subscription(api: httpx.Client, receiver: Receiver) -> dict[str, Any]:
    listing = api.get("/v1/admin/webhooks")
    assert listing.status_code == 200 and SECRET not in listing.text
    sub: dict[str, Any] = next(s for s in listing.json()["subscriptions"] if s["url"] == receiver.url)
    return sub


@pytest.mark.slow
def test_project_events_arrive_signed_in_order_after_retries(hooked: Hooked, receiver: Receiver) -> None:
    with hooked.srv.client() as api:
        pid = str(make_project(api)["id"])
        hooked.projects.append(pid)
        wait_for(lambda: len(receiver.acked_bodies("project.status.changed")) >= 4, 20, "4 project events")
        sub = live_subscription(api, receiver)
        metrics = api.get("/v1/metrics/prometheus").text
    with receiver.lock:
        first_three = receiver.requests[:3]
        acked = list(receiver.acked)
    # Retried: the same event three times (500, 500, 200), attempts numbered, then acknowledged once.
    assert len({h["x-motherbox-event-id"] for h, _b in first_three}) == 1
    assert [h["x-motherbox-delivery-attempt"] for h, _b in first_three] == ["1", "2", "3"]
    ids = [h["x-motherbox-event-id"] for h, _b in acked]
    assert len(ids) == len(set(ids)), "an acknowledged event was sent again"
    # In order per project (one in flight: nothing overtook the retried first event), chained.
    bodies = [b for b in receiver.acked_bodies("project.status.changed") if b["projectId"] == pid]
    assert [b["newStatus"] for b in bodies] == PROJECT_STATUSES
    assert [b["oldStatus"] for b in bodies] == ["initializing", *PROJECT_STATUSES[:-1]]
    # The spec's payload, signed with the secret (checked independently of the runtime's code).
    schema = spec_payload_schema("projectStatusChanged")
    for headers, body in acked:
        assert verify_signature(headers, body, SECRET)
        assert not verify_signature(headers, body, SECRET + "x")
        assert headers["content-type"] == "application/json"
        payload = json.loads(body)
        if payload["event"] == "project.status.changed" and schema is not None:
            jsonschema.validate(payload, schema, format_checker=jsonschema.FormatChecker())
            assert set(payload) == set(schema["properties"])
            assert headers["x-motherbox-event"] == "project.status.changed"
    # Counted: on the admin endpoint (never the secret) and the Prometheus endpoint.
    assert (sub["source"], sub["delivered"], sub["retries"], sub["failed"]) == ("config", 4, 2, 0)
    assert sub["lastError"] == "attempt 2: HTTP 500"
    assert prometheus_value(metrics, 'motherbox_webhook_delivered_total{event="project.status.changed"}') >= 4
    assert prometheus_value(metrics, 'motherbox_webhook_retries_total{event="project.status.changed"}') >= 2
    assert prometheus_value(metrics, "motherbox_webhook_outbox_pending") >= 4  # the late receiver's


def prometheus_value(text: str, series: str) -> float:
    (line,) = [line for line in text.splitlines() if line.startswith(series + " ")]
    return float(line.rsplit(" ", 1)[1])


@pytest.mark.slow
def test_agent_status_event_matches_the_spec(hooked: Hooked, receiver: Receiver) -> None:
    with hooked.srv.client() as api:
        pid = str(make_project(api, name="agent events")["id"])
        hooked.projects.append(pid)
        aid = str(make_agent(api, pid, name="hooked")["id"])
        resp = api.post(f"/v1/projects/{pid}/agents/{aid}/execute", json={"command": "help"})
        assert resp.status_code == 200, resp.text

    def agent_events() -> list[dict[str, Any]]:
        return [b for b in receiver.acked_bodies("agent.status.changed") if b["agentId"] == aid]

    wait_for(lambda: len(agent_events()) >= 1, 20, "the agent's status event")
    first = agent_events()[0]
    schema = spec_payload_schema("agentStatusChanged")
    if schema is not None:
        jsonschema.validate(first, schema, format_checker=jsonschema.FormatChecker())
        assert set(first) == set(schema["properties"])
    assert (first["projectId"], first["oldStatus"], first["newStatus"]) == (pid, "created", "active")


@pytest.mark.slow
def test_admin_subscriptions_validate_and_never_echo_secrets(hooked: Hooked) -> None:
    with hooked.srv.client() as api:
        for url in (
            "http://10.1.2.3/hook",
            "https://example.com/hook",
            "ftp://127.0.0.1/x",
            "http://u:p@127.0.0.1/",
        ):
            resp = api.post("/v1/admin/webhooks", json={"url": url, "secret": SECRET})
            assert resp.status_code == 400, (url, resp.text)
            assert resp.json()["details"]["field"] == "url"
        for body, field in (
            ({"url": "http://127.0.0.1:9/h"}, "secret"),
            ({"url": "http://127.0.0.1:9/h", "secret": "short"}, "secret"),
            ({"url": "http://127.0.0.1:9/h", "secret": SECRET, "events": ["nope"]}, "events"),
            ({"url": "http://127.0.0.1:9/h", "secret": SECRET, "extra": 1}, "extra"),
        ):
            resp = api.post("/v1/admin/webhooks", json=body)
            assert resp.status_code == 400 and resp.json()["details"]["field"] == field, resp.text
        assert api.post("/v1/admin/webhooks", content=b"[1]").status_code == 400
        made = api.post("/v1/admin/webhooks", json={"url": "http://localhost:9/h", "secret": SECRET})
        assert made.status_code == 201 and SECRET not in made.text, made.text
        sub_id = made.json()["id"]
        listed = api.get("/v1/admin/webhooks")
        assert sub_id in listed.text and SECRET not in listed.text
        config_id = next(s["id"] for s in listed.json()["subscriptions"] if s["source"] == "config")
        assert api.delete(f"/v1/admin/webhooks/{config_id}").status_code == 409
        assert api.delete(f"/v1/admin/webhooks/{sub_id}").status_code == 204
        assert api.delete(f"/v1/admin/webhooks/{sub_id}").status_code == 404
        assert httpx.get(hooked.srv.base_url + "/v1/admin/webhooks").status_code == 401  # admin auth
        health = api.get("/v1/health").json()["components"]["webhooks"]
        assert health["status"] == "ok" and health["full"] is False


def test_destination_policy() -> None:
    assert check_destination("http://127.0.0.1:8000/h", allow_remote=False) is None
    assert check_destination("http://[::1]/h", allow_remote=False) is None
    assert "not loopback" in str(check_destination("http://192.168.0.1/h", allow_remote=False))
    assert check_destination("https://hooks.example.com/h", allow_remote=True) is None
    with pytest.raises(ValueError, match=r"subscriptions\[0\]\.url") as bad_url:
        WebhookSettings.model_validate({"subscriptions": [{"url": "http://8.8.8.8/", "secret": SECRET}]})
    assert SECRET not in str(bad_url.value)  # a config error never echoes the secret
    with pytest.raises(ValueError, match="secret") as short:
        Settings.model_validate(
            {"webhooks": {"subscriptions": [{"url": "http://[::1]/", "secret": "x" * 15}]}}
        )
    assert "x" * 15 not in str(short.value)


def test_one_worker_process_dispatches(tmp_path: Path) -> None:
    """``--workers N``: the flock in the state folder lets one dispatcher run; it passes on at stop."""
    settings = WebhookSettings()

    def service() -> WebhookService:
        deps = WebhookDeps(
            settings,
            Store(f"sqlite+aiosqlite:///{tmp_path / 'db.sqlite'}"),
            create_webhook_metrics(CollectorRegistry()),
            tmp_path,
            2,
        )
        return WebhookService(deps)

    first, second = service(), service()
    assert first._try_lock() and not second._try_lock()
    asyncio.run(first.stop())
    assert second._try_lock()
    asyncio.run(second.stop())


# -- the outbox on both databases --------------------------------------------------------------
def test_outbox_rows_commit_with_the_status_change_and_stay_bounded(db_url: str, tmp_path: Path) -> None:
    registry = CollectorRegistry()

    async def scenario() -> None:
        settings = WebhookSettings.model_validate(
            {"subscriptions": [{"url": "http://127.0.0.1:9/h", "secret": SECRET}], "max_outbox_rows": 3}
        )
        store = Store(db_url)
        await store.open()
        try:
            service = WebhookService(
                WebhookDeps(settings, store, create_webhook_metrics(registry), tmp_path, 1)
            )
            outbox = service.outbox
            await outbox.load_subscriptions(config_subscriptions(settings))
            repo = Repo(store)
            repo.status_events = outbox
            await insert_project(repo, "p1")
            for status in PROJECT_STATUSES:
                await repo.update_project("p1", {"status": status})
            await repo.update_project("p1", {"phase": "no status change, no event"})
            rows = await outbox.pending_rows(10)
            outbox.unseen = 0  # what the dispatcher does once it has read them
            assert [json.loads(r.body)["newStatus"] for r in rows] == PROJECT_STATUSES[:3]
            assert outbox.full and outbox.dropped == 1  # the fourth event met a full outbox
            assert (await repo.get_project("p1") or {})["status"] == "completed"  # the change itself is kept
            health = service.health()
            assert health["status"] == "degraded" and "1 events dropped" in health["message"]
            await outbox.delivered(rows[0])
            await outbox.dead(rows[1], 6, "attempt 6: HTTP 500")
            await outbox.recount()
            assert (outbox.rows, outbox.pending, outbox.full) == (2, 1, False)
            assert service.health()["status"] == "ok"
            state = (await outbox.per_subscription())[rows[1].subscription_id]
            assert state == {"pending": 1, "dead": 1, "lastError": "attempt 6: HTTP 500"}
        finally:
            await store.close()

    asyncio.run(scenario())
    assert (
        registry.get_sample_value("motherbox_webhook_dropped_total", {"event": "project.status.changed"}) == 1
    )
    assert registry.get_sample_value("motherbox_webhook_outbox_depth") == 2


def test_a_status_change_whose_outbox_row_fails_is_not_committed(
    db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One transaction: an outbox insert that fails takes the status change down with it."""

    async def scenario() -> None:
        settings = WebhookSettings.model_validate(
            {"subscriptions": [{"url": "http://127.0.0.1:9/h", "secret": SECRET}]}
        )
        store = Store(db_url)
        await store.open()
        try:
            outbox = Outbox(store, settings, create_webhook_metrics(CollectorRegistry()))
            await outbox.load_subscriptions(config_subscriptions(settings))
            repo = Repo(store)
            repo.status_events = outbox
            await insert_project(repo, "p2")
            good = outbox.ops

            def broken(*args: Any) -> list[WriteOp]:  # rows violating NOT NULL
                return [replace(op, params={**op.params, "body": None}) for op in good(*args)]

            monkeypatch.setattr(outbox, "ops", broken)
            with pytest.raises(Exception, match=r"(?i)null"):
                await repo.update_project("p2", {"status": "discovery"})
            assert (await repo.get_project("p2") or {})["status"] == "initializing"
            monkeypatch.setattr(outbox, "ops", good)
            await repo.update_project("p2", {"status": "discovery"})
            assert (await repo.get_project("p2") or {})["status"] == "discovery"
            assert len(await outbox.pending_rows(10)) == 1
        finally:
            await store.close()

    asyncio.run(scenario())


async def insert_project(repo: Repo, project_id: str) -> None:
    now = time.time()
    row = {"id": project_id, "name": "n", "domain": "d", "status": "initializing", "phase": "x"}
    await repo.insert_project(
        {**row, "requirements": "{}", "metadata": "{}", "created_at": now, "updated_at": now}
    )


# -- kill -9 while the receiver is down (last: it restarts the module's runtime) -------------
@pytest.mark.slow
def test_no_event_lost_across_kill_9(hooked: Hooked, backend: Server) -> None:
    with hooked.srv.client() as api:
        hooked.projects += [str(make_project(api, name=f"kill {i}")["id"]) for i in range(2)]
        wait_for(
            lambda: all(
                api.get(f"/v1/projects/{p}").json()["status"] == "completed" for p in hooked.projects
            ),
            20,
            "the projects to complete",
        )
        late = next(s for s in api.get("/v1/admin/webhooks").json()["subscriptions"] if "/late" in s["url"])
        expected = 4 * len(hooked.projects)
        assert late["pending"] == expected and late["delivered"] == 0, late  # none deliverable yet
    hooked.srv.stop(signal.SIGKILL)  # no shutdown hooks, no flush
    hooked.srv = start_runtime(hooked.state, "--model-url", backend.base_url, "--config", str(hooked.config))
    late_receiver = Receiver(sock=hooked.late_socket)
    try:
        wait_for(lambda: len(late_receiver.acked_once()) >= expected, 20, f"{expected} events after restart")
        for pid in hooked.projects:  # duplicates allowed (at least once); no gap, in order
            seen = [b["newStatus"] for b in late_receiver.acked_once() if b["projectId"] == pid]
            assert seen == PROJECT_STATUSES, (pid, seen)
    finally:
        late_receiver.close()
