import os
import socket
import sys
import time
from collections.abc import Iterator

import pytest

import harness.commands.run  # noqa: F401  (imported here: the timed run below measures the run, not imports)
from harness.cli import main
from harness.contract.egress import is_loopback
from harness.run.target import (
    API_KEY_ENV,
    REDACTED,
    CommandService,
    ManagedRuntime,
    TargetError,
    check_allowed,
    free_port,
    scrub_file,
    wait_reachable,
)
from tests.harness.egress_servers import recording, redirecting


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:8080", "http://localhost", "http://[::1]:80", "http://127.9.9.9"]
)
def test_loopback_urls(url):
    assert is_loopback(url)
    check_allowed(url, allow_remote=False)


@pytest.mark.parametrize("url", ["http://example.com", "http://10.0.0.1:80", "http://8.8.8.8"])
def test_remote_refused_without_flag(url):
    assert not is_loopback(url)
    with pytest.raises(TargetError, match="allow-remote"):
        check_allowed(url, allow_remote=False)
    check_allowed(url, allow_remote=True)


def test_a_refused_connection_fails_at_once_not_after_the_timeout():
    url = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    start = time.monotonic()
    with pytest.raises(TargetError, match="connection refused") as info:
        wait_reachable(url, "/v1/health", timeout_s=30)
    assert time.monotonic() - start < 3  # generous: it is one refused connect, not 30 s of retries
    assert str(info.value) == f"target {url} unreachable: connection refused (is the service running?)"


@pytest.fixture
def silent_listener() -> Iterator[str]:
    """Accepts connections (the kernel's backlog) and never answers: up but not serving HTTP."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(16)
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"


def test_a_target_that_accepts_but_does_not_answer_is_waited_for_then_named(silent_listener):
    start = time.monotonic()
    with pytest.raises(TargetError, match=r"no HTTP answer .* within 1s"):
        wait_reachable(silent_listener, "/v1/health", timeout_s=1.0)
    assert time.monotonic() - start >= 1.0  # not refused: it gets the whole timeout


def test_harness_run_against_a_refused_target_exits_3_with_one_line(tmp_path, capsys):
    url = f"http://127.0.0.1:{free_port()}"
    scenario = tmp_path / "s.yaml"
    scenario.write_text("name: s\nload: {rate: 5, duration: 1s}\nmix: [{name: h, path: /x}]\n")
    start = time.monotonic()
    code = main(["run", str(scenario), "--target", url, "--reports-dir", str(tmp_path / "r"), "--no-report"])
    elapsed = time.monotonic() - start
    out = (capsys.readouterr().out).strip()
    assert code == 3, out
    assert out == f"error: target {url} unreachable: connection refused (is the service running?)"
    assert elapsed < 3  # generous; it used to wait the full 10 s
    assert not list((tmp_path / "r").rglob("manifest.json"))


@pytest.mark.slow
def test_a_started_service_that_binds_late_still_gets_its_startup_grace(tmp_path):
    """Refused connections while a service the harness started comes up are waited through."""
    service = CommandService(
        command=f"sh -c 'sleep 1.5; exec {sys.executable} -m http.server {{port}} --bind 127.0.0.1'",
        log_path=tmp_path / "service.log",
        startup_timeout_s=60,
        grace_s=2,
    )
    start = time.monotonic()
    try:
        service.start()
        assert time.monotonic() - start >= 1.5  # it was refused at first, and waited for
        assert wait_reachable(service.url, "/", timeout_s=5) == 200
    finally:
        service.stop()


def test_reachable_target_answers(fast_server):
    assert wait_reachable(fast_server, "/v1/health", timeout_s=5) == 200


def test_runtime_that_dies_during_startup_is_reported_and_leaves_no_state_folder(tmp_path):
    log = tmp_path / "target.log"
    runtime = ManagedRuntime(config=str(tmp_path / "missing.yaml"), log_path=log, startup_timeout_s=30)
    with pytest.raises(TargetError, match="exited with code"):
        runtime.start()
    assert runtime.state_dir is not None and not runtime.state_dir.exists()


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("127.0.0.1:8080", "give the scheme"),
        ("ftp://127.0.0.1/x", "only http:// and https://"),
        ("http://127.0.0.1:8080/v1", "ends in /v1"),
        ("http://a@127.0.0.1:1", "user info"),
    ],
)
def test_malformed_targets_are_a_target_error_naming_the_option(url, message):
    with pytest.raises(TargetError, match=message) as err:
        check_allowed(url, allow_remote=False, name="--target")
    assert str(err.value).startswith("--target: ")


def test_health_probe_follows_no_redirect():
    with recording() as other, redirecting(other.url) as target:
        assert wait_reachable(target.url, "/v1/health", timeout_s=5) == 302  # an answer: reachable
    assert [r[1] for r in target.requests] == ["/v1/health"] and other.requests == []


def test_a_health_path_leaving_the_target_fails_at_once():
    with pytest.raises(
        TargetError, match=r"target.health_path: '@10.255.255.1/x' must start with a single /"
    ):
        wait_reachable("http://127.0.0.1:1", "@10.255.255.1/x", timeout_s=30)


def test_scrub_file_replaces_every_occurrence(tmp_path):
    log = tmp_path / "target.log"
    log.write_bytes(b"key: sekrit-1\nagain sekrit-1 \xff\n")
    scrub_file(log, "sekrit-1")
    assert log.read_bytes() == f"key: {REDACTED}\nagain {REDACTED} \xff\n".encode("latin-1")
    scrub_file(log, None)  # nothing to scrub: untouched
    assert b"sekrit" not in log.read_bytes()


@pytest.mark.slow
def test_the_managed_runtimes_key_never_reaches_target_log(tmp_path, monkeypatch):
    """The runtime prints a key it generated; the harness gives it one, so nothing is printed."""
    monkeypatch.delenv(API_KEY_ENV, raising=False)
    log = tmp_path / "target.log"
    runtime = ManagedRuntime(log_path=log)
    runtime.start()
    try:
        key = runtime.api_key()
        assert key and API_KEY_ENV not in os.environ
    finally:
        runtime.stop()
    assert "reference runtime on" in log.read_text()
    assert key not in log.read_text()
