import time

import pytest

from harness.run.target import (
    ManagedRuntime,
    TargetError,
    check_allowed,
    free_port,
    is_loopback,
    wait_reachable,
)


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


def test_unreachable_target_fails_clearly_within_the_timeout():
    url = f"http://127.0.0.1:{free_port()}"
    start = time.monotonic()
    with pytest.raises(TargetError, match="unreachable"):
        wait_reachable(url, "/v1/health", timeout_s=1.5)
    assert time.monotonic() - start < 5


def test_reachable_target_answers(fast_server):
    assert wait_reachable(fast_server, "/v1/health", timeout_s=5) == 200


def test_runtime_that_dies_during_startup_is_reported_and_leaves_no_state_folder(tmp_path):
    log = tmp_path / "target.log"
    runtime = ManagedRuntime(config=str(tmp_path / "missing.yaml"), log_path=log, startup_timeout_s=30)
    with pytest.raises(TargetError, match="exited with code"):
        runtime.start()
    assert runtime.state_dir is not None and not runtime.state_dir.exists()
