"""Every URL and path field of a scenario is checked at load time (harness validate, harness run):
one line naming file, line and field, never a traceback from an HTTP library later."""

import pytest

from harness.scenario import ScenarioError, parse_scenario_text

BASE = """\
name: urls
load: {rate: 1, duration: 1s}
mix:
  - {name: get, path: /x}
"""


def issues_of(text: str) -> list[str]:
    with pytest.raises(ScenarioError) as info:
        parse_scenario_text(text, "s.yaml")
    return [str(i) for i in info.value.issues]


@pytest.mark.parametrize(
    ("extra", "where", "message"),
    [
        ("target: {url: '127.0.0.1:8080'}", "target.url", "give the scheme, e.g. http://127.0.0.1:8080"),
        ("target: {url: 'ftp://127.0.0.1/x'}", "target.url", "only http:// and https://"),
        ("target: {url: 'http://127.0.0.1:8080/v1'}", "target.url", "ends in /v1: give the service root"),
        ("target: {url: 'http://k@127.0.0.1:1'}", "target.url", "user info"),
        ("target: {health_path: 'health'}", "target.health_path", "must start with a single /"),
        ("monitor: {metrics_url: 'ftp://127.0.0.1/m'}", "monitor.metrics_url", "only http:// and https://"),
        ("monitor: {metrics_url: 'http://127.0.0.1:x/m'}", "monitor.metrics_url", "invalid port"),
        (
            "monitor: {metrics_url: 'http://10.255.255.1/metrics'}",
            "monitor.metrics_url",
            "refusing non-loopback host '10.255.255.1'",
        ),
        (
            "setup:\n  - {name: s, path: '@10.255.255.1/x'}",
            "setup[0].path",
            "'@10.255.255.1/x' must start with a single /",
        ),
        ("setup:\n  - {name: s, path: '/a b'}", "setup[0].path", "whitespace or control characters"),
    ],
)
def test_bad_urls_and_paths_name_the_field(extra, where, message):
    (issue,) = issues_of(BASE + extra + "\n")
    assert issue.startswith("s.yaml:") and f" {where}: " in issue and message in issue, issue


def test_mix_paths_are_checked_too():
    (issue,) = issues_of(BASE.replace("path: /x", "path: '//10.0.0.1/x'"))
    assert "mix[0].path: '//10.0.0.1/x' must start with a single /" in issue


def test_a_metrics_url_on_the_targets_own_host_or_loopback_is_accepted():
    remote = (
        BASE + "target: {url: 'http://10.1.2.3:8080'}\nmonitor: {metrics_url: 'http://10.1.2.3:9100/m'}\n"
    )
    assert parse_scenario_text(remote).monitor.metrics_url == "http://10.1.2.3:9100/m"
    local = BASE + "monitor: {metrics_url: 'http://localhost:9100/metrics'}\n"
    assert parse_scenario_text(local).monitor.metrics_url == "http://localhost:9100/metrics"
    prefixed = BASE + "target: {url: 'http://127.0.0.1:8080/api/'}\n"
    assert parse_scenario_text(prefixed).target.url == "http://127.0.0.1:8080/api/"
