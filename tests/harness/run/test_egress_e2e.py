"""`harness run` under the egress policy: hostile URLs are refused before any connection (exit 2,
one line naming the field), redirects are never followed and the key never reaches another origin."""

import pandas as pd
import pytest

from harness.contract import rundir
from tests.harness.conftest import harness, write
from tests.harness.egress_servers import recording, redirecting

KEY = "sekrit-egress-e2e"

SCENARIO = """\
name: egress
target:
  api_key: {{value: {key}}}
load: {{rate: 5, duration: 2s, drain: 1s}}
mix:
  - {{name: get_x, path: /x}}
{extra}"""


def scenario(tmp_path, extra=""):
    return write(tmp_path, "egress.yaml", SCENARIO.format(key=KEY, extra=extra))


def assert_one_line_usage_error(out, *needles):
    text = out.stdout + out.stderr
    assert out.returncode == 2, text
    assert "Traceback" not in text
    errors = [line for line in text.splitlines() if line.startswith("error:") or ": error:" in line]
    assert len(errors) == 1, text
    for needle in needles:
        assert needle in errors[0], text


@pytest.mark.parametrize(
    ("target", "needles"),
    [
        ("127.0.0.1:8080", ("give the scheme, e.g. http://127.0.0.1:8080",)),
        ("ftp://127.0.0.1:8080/", ("only http:// and https://",)),
        ("http://127.0.0.1:1@10.255.255.1/", ("user info",)),
        ("http://127.0.0.1:8080/v1", ("ends in /v1", "give the service root (http://127.0.0.1:8080)")),
    ],
)
def test_malformed_target_is_exit_2_with_one_line(tmp_path, target, needles):
    out = harness("run", str(scenario(tmp_path)), "--target", target, "--reports-dir", str(tmp_path / "r"))
    assert_one_line_usage_error(out, *needles)
    assert not (tmp_path / "r" / "runs").exists()


def test_hostile_scenario_urls_are_refused_before_any_connection(tmp_path):
    cases = [
        (
            "monitor: {metrics_url: 'http://10.255.255.1:9100/metrics'}\n",
            "monitor.metrics_url",
            "10.255.255.1",
        ),
        ("setup:\n  - {name: s, path: '@10.255.255.1/x'}\n", "setup[0].path", "must start with a single /"),
        ("monitor: {metrics_url: 'ftp://127.0.0.1/m'}\n", "monitor.metrics_url", "only http:// and https://"),
    ]
    with recording() as target:
        for extra, field, message in cases:
            out = harness(
                "run", str(scenario(tmp_path, extra)), "--target", target.url, "--reports-dir", str(tmp_path)
            )
            assert_one_line_usage_error(out, field, message)
    assert (
        target.requests == [] and not (tmp_path / "runs").exists()
    )  # refused before the target was even probed


@pytest.mark.slow
def test_the_mix_follows_no_redirect_and_the_key_stays_with_the_target(tmp_path):
    reports = tmp_path / "reports"
    with recording() as other, redirecting(other.url, ok_paths=("/v1/health",)) as target:
        out = harness("run", str(scenario(tmp_path)), "--target", target.url, "--reports-dir", str(reports))
    assert out.returncode == 0, out.stdout + out.stderr
    assert other.requests == []
    mix = [r for r in target.requests if r[1] == "/x"]
    assert len(mix) == 10 and all(r[2].get("X-API-Key") == KEY for r in mix)
    samples = pd.read_parquet((reports / "latest").resolve() / rundir.SAMPLES_FILE)
    assert set(samples["status"]) == {302} and set(samples["error"]) == {"HTTP 302"}


@pytest.mark.slow
def test_a_setup_step_follows_no_redirect(tmp_path):
    extra = "setup:\n  - {name: make, path: /v1/things, save: {thing: id}}\n"
    with recording() as other, redirecting(other.url, ok_paths=("/v1/health",)) as target:
        out = harness(
            "run", str(scenario(tmp_path, extra)), "--target", target.url, "--reports-dir", str(tmp_path)
        )
    assert out.returncode == 3, out.stdout + out.stderr
    assert "HTTP 302" in out.stdout and "not followed" in out.stdout and "Traceback" not in out.stderr
    assert other.requests == []


@pytest.mark.slow
def test_a_metrics_url_on_another_loopback_port_is_scraped_without_the_key(tmp_path):
    """The scrape goes through the run's egress policy: another origin gets no credentials."""
    with recording() as metrics, recording() as target:
        extra = f"monitor: {{metrics_url: '{metrics.url}/metrics'}}\n"
        out = harness(
            "run", str(scenario(tmp_path, extra)), "--target", target.url, "--reports-dir", str(tmp_path)
        )
    assert out.returncode == 0, out.stdout + out.stderr
    scrapes = [r for r in metrics.requests if r[1] == "/metrics"]
    assert scrapes, "the monitor never scraped the metrics URL"
    assert all(KEY not in value for r in scrapes for value in r[2].values())
    assert any(r[2].get("X-API-Key") == KEY for r in target.requests)  # the target itself gets it
