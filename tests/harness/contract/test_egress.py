"""The egress policy: URL shapes, loopback, redirects and credentials, with real loopback servers."""

import pytest

from harness.contract.egress import (
    Egress,
    EgressError,
    base_url,
    check_path,
    check_target,
    is_loopback,
    join,
    origin,
)
from tests.harness.egress_servers import recording, redirecting

KEY = {"X-API-Key": "sekrit-egress", "Authorization": "Bearer sekrit-egress"}


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8080",
        "http://localhost",
        "http://[::1]:80",
        "http://127.9.9.9",
        "https://localhost:1",
    ],
)
def test_loopback_urls(url):
    assert is_loopback(url)
    assert check_target(url, allow_remote=False).target == url


@pytest.mark.parametrize(
    "url", ["http://example.com", "http://10.0.0.1:80", "http://8.8.8.8", "http://0.0.0.0:1"]
)
def test_remote_targets_need_allow_remote(url):
    assert not is_loopback(url)
    with pytest.raises(EgressError, match="allow-remote"):
        check_target(url, allow_remote=False)
    assert check_target(url, allow_remote=True).allow_remote


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("127.0.0.1:8080", "give the scheme, e.g. http://127.0.0.1:8080"),
        ("ftp://127.0.0.1/x", "only http:// and https://"),
        ("http://user:pw@127.0.0.1:1", "user info"),
        ("http://127.0.0.1:1@10.255.255.1/x", "user info"),
        ("http://127.0.0.1:99999", "invalid port"),
        ("http://127.0.0.1:abc", "invalid port"),
        ("http:///x", "no host"),
        ("http://127.0.0.1 :1", "whitespace"),
        ("", "empty URL"),
        ("http://127.0.0.1:8080/v1", "ends in /v1: give the service root (http://127.0.0.1:8080)"),
        ("http://127.0.0.1:8080/v1/", "ends in /v1"),
        ("http://127.0.0.1:8080/?a=1", "no query or fragment"),
    ],
)
def test_malformed_target_urls_are_one_line_naming_the_field(url, message):
    with pytest.raises(EgressError) as err:
        check_target(url, allow_remote=True, field="--target")
    text = str(err.value)
    assert text.startswith("--target: ") and message in text and "\n" not in text


def test_base_url_keeps_a_path_prefix_and_drops_the_trailing_slash():
    assert base_url("http://127.0.0.1:8080/") == "http://127.0.0.1:8080"
    assert base_url("http://127.0.0.1:8080/api/") == "http://127.0.0.1:8080/api"
    assert join("http://127.0.0.1:8080/api", "/v1/health") == "http://127.0.0.1:8080/api/v1/health"


@pytest.mark.parametrize("path", ["@10.255.255.1/x", "x", "//10.255.255.1/x", "/a b", "/a\r\nHost: evil"])
def test_paths_that_could_leave_the_target_are_refused(path):
    with pytest.raises(EgressError, match=r"^setup\[0\]\.path: "):
        join("http://127.0.0.1:8080", path, "setup[0].path")
    with pytest.raises(EgressError):
        check_path(path, "p")


def test_origin_uses_default_ports():
    assert origin("http://LOCALHOST/x") == ("http", "localhost", 80)
    assert origin("https://127.0.0.1") == ("https", "127.0.0.1", 443)


def test_other_urls_are_loopback_or_the_targets_host_with_allow_remote():
    remote = Egress(target="http://10.1.2.3:8080", allow_remote=True)
    remote.check("http://10.1.2.3:9100/metrics", "m")  # the target's own host
    remote.check("http://127.0.0.1:9100/metrics", "m")
    with pytest.raises(EgressError, match=r"^m: refusing non-loopback host '10\.9\.9\.9'"):
        remote.check("http://10.9.9.9/metrics", "m")
    local = Egress(target="http://127.0.0.1:8080")
    with pytest.raises(EgressError, match=r"10\.255\.255\.1"):
        local.check("http://10.255.255.1/metrics", "monitor.metrics_url")


def test_a_refused_url_fails_without_a_connection(monkeypatch):
    attempts = []
    monkeypatch.setattr("socket.create_connection", lambda address, *a, **k: attempts.append(address))
    with pytest.raises(EgressError, match=r"refusing non-loopback host '10\.255\.255\.1'"):
        Egress(target="http://127.0.0.1:1").request("GET", "http://10.255.255.1/x", field="f", timeout=30)
    assert attempts == []


def test_credentials_only_reach_the_targets_origin():
    with recording() as target, recording() as other:
        egress = Egress(target=target.url)
        assert egress.request("GET", target.url + "/a", field="f", headers=KEY).status == 200
        assert egress.request("GET", other.url + "/b", field="f", headers=KEY).status == 200
        assert egress.headers_for(other.url + "/b", KEY) == {}
    assert target.requests[0][2]["X-API-Key"] == "sekrit-egress"
    assert len(other.requests) == 1 and not any("sekrit" in v for v in other.header_values())


def test_a_redirect_to_another_origin_is_not_followed_and_no_key_reaches_it():
    with recording() as other, redirecting(other.url) as target:
        reply = Egress(target=target.url).request(
            "POST", target.url + "/x", field="f", headers=KEY, body=b"{}"
        )
    assert reply.status == 302 and reply.location == other.url + "/x"
    assert len(target.requests) == 1  # asked once, not re-asked either
    assert other.requests == []


def test_proxy_environment_is_ignored(monkeypatch):
    monkeypatch.setenv("http_proxy", "http://10.255.255.1:3128")
    monkeypatch.setenv("HTTP_PROXY", "http://10.255.255.1:3128")
    monkeypatch.delenv("no_proxy", raising=False)
    monkeypatch.delenv("NO_PROXY", raising=False)
    with recording() as target:
        assert Egress(target=target.url).request("GET", target.url + "/p", field="f", timeout=5).status == 200
    assert target.requests[0][1] == "/p"


def test_a_header_that_would_split_the_request_is_an_egress_error():
    with recording() as target, pytest.raises(EgressError, match=r"^setup: cannot send GET"):
        Egress(target=target.url).request("GET", target.url + "/", field="setup", headers={"X": "a\r\nB: c"})
    assert target.requests == []
