"""Setup steps and the plan under the egress policy, against real loopback servers."""

import pytest

from harness.load.plan import SetupError, build_ops, build_plan, run_setup
from harness.scenario import parse_scenario_text, resolve
from tests.harness.egress_servers import recording, redirecting

KEY = {"X-API-Key": "sekrit-setup"}

SCENARIO = """\
name: setup
load: {rate: 1, duration: 1s}
setup:
  - {name: make, path: /v1/things, json: {a: 1}, save: {thing: id}}
  - {name: use, method: GET, path: "/v1/things/{thing}", expect_status: 200}
mix:
  - {name: get, path: "/v1/things/{thing}"}
"""


def resolved():
    return resolve(parse_scenario_text(SCENARIO))


def test_setup_runs_against_the_target_with_the_key():
    with recording() as target:
        context = run_setup(resolved(), target.url + "/", KEY)
    assert context == {"thing": "x1"}
    assert [(m, p) for m, p, _ in target.requests] == [("POST", "/v1/things"), ("GET", "/v1/things/x1")]
    assert all(h["X-API-Key"] == "sekrit-setup" for _, _, h in target.requests)


def test_a_setup_redirect_is_not_followed_and_no_key_reaches_the_other_origin():
    with (
        recording() as other,
        redirecting(other.url) as target,
        pytest.raises(SetupError, match=r"HTTP 302 redirect to '.*' not followed"),
    ):
        run_setup(resolved(), target.url, KEY)
    assert len(target.requests) == 1 and other.requests == []


def test_a_value_saved_by_setup_cannot_steer_a_request_off_the_target():
    """A saved id with a space (or a CRLF) would split the request line: refused, not sent."""
    bad = resolved()
    bad.setup[1] = bad.setup[1].__class__(**{**vars(bad.setup[1]), "path": "/v1/things/{thing} x"})
    with recording() as target, pytest.raises(SetupError, match=r"setup\[1\]\.path: .* whitespace"):
        run_setup(bad, target.url, KEY)
    assert len(target.requests) == 1


def test_the_plan_keeps_paths_on_the_target_and_normalises_its_url(tmp_path):
    scenario = resolved()
    ops = build_ops(scenario, {"thing": "x1"}, KEY)
    plan = build_plan(
        scenario, run_id="r", target_url="http://127.0.0.1:1/", ops=ops, work_dir=tmp_path, csv_prefix=None
    )
    assert plan.target_url == "http://127.0.0.1:1" and plan.ops[0].path == "/v1/things/x1"
    hostile = build_ops(scenario, {"thing": "x1\r\nHost: evil"}, KEY)
    with pytest.raises(SetupError, match=r"mix 'get' path: .* whitespace or control characters"):
        build_plan(
            scenario,
            run_id="r",
            target_url="http://127.0.0.1:1",
            ops=hostile,
            work_dir=tmp_path,
            csv_prefix=None,
        )
