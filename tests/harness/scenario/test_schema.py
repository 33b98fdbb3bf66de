import time
from pathlib import Path

import pytest

from harness.scenario import ScenarioError, check_scenario, load_scenario, parse_scenario_text, resolve

GOOD = """\
name: demo
description: test
load:
  model: open
  stages:
    - {duration: 1m, rate: 10}
    - {duration: 2m, rate: 100, ramp: true}
mix:
  - {operation: command_ack, weight: 3}
  - {name: health, method: GET, path: /v1/health}
expect:
  overall: {p95: 2s, error_rate: 0.1%}
  command_ack: {p99: 500ms}
gates:
  - "p95(command_ack) < 100ms"
"""


def issues_of(text: str) -> list[str]:
    with pytest.raises(ScenarioError) as info:
        parse_scenario_text(text, "s.yaml")
    return [str(i) for i in info.value.issues]


def test_good_scenario_resolves_with_time_scale():
    scn = parse_scenario_text(GOOD)
    resolved = resolve(scn, time_scale=0.5)
    assert resolved.duration_s == pytest.approx(90)
    assert [(s.start_s, s.end_s, s.rate_from, s.rate_to) for s in resolved.stages] == [
        (0, 30, 10, 10),
        (30, 90, 10, 100),
    ]
    assert resolved.targets_ms()["command_ack"] == 100.0
    assert resolved.summary_stages()[1] == (30, 90, 55)
    assert scn.gates == ["p95(command_ack) < 100ms"]


def test_duration_override_keeps_stage_shares():
    resolved = resolve(parse_scenario_text(GOOD), time_scale=0.01, duration_s=30)
    assert resolved.duration_s == pytest.approx(30)
    assert resolved.stages[0].end_s == pytest.approx(10)


def test_negative_rate_has_line_and_path():
    text = GOOD.replace("{duration: 2m, rate: 100, ramp: true}", "{duration: 2m, rate: -5}")
    (issue,) = issues_of(text)
    assert issue.startswith("s.yaml:7:")
    assert "load.stages[1].rate" in issue
    assert "greater than or equal to 0" in issue


def test_unknown_key_is_an_error_with_line():
    text = GOOD.replace("  model: open\n", "  model: open\n  ratee: 5\n")
    (issue,) = issues_of(text)
    assert issue.startswith("s.yaml:5:3:") and "load.ratee" in issue and "unknown key" in issue


def test_wrong_type_and_unknown_operation():
    text = GOOD.replace("weight: 3", "weight: lots").replace("operation: command_ack", "operation: nope")
    joined = "\n".join(issues_of(text))
    assert "mix[0]" in joined and "s.yaml:9" in joined


def test_bad_expect_metric_points_at_it():
    text = GOOD.replace("p99: 500ms", "p42: 500ms")
    (issue,) = issues_of(text)
    assert issue.startswith("s.yaml:13:") and "expect.command_ack.p42" in issue


def test_invalid_yaml_reports_line():
    (issue,) = issues_of("name: x\nload: {rate: 5\nmix: []\n")
    assert issue.startswith("s.yaml:3:") or issue.startswith("s.yaml:2:")
    assert "invalid YAML" in issue


def test_yaml_bomb_rejected_quickly():
    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for i, name in enumerate("bcdefghi"):
        prev = "abcdefghi"[i]
        lines.append(
            f"{name}: &{name} [*{prev},*{prev},*{prev},*{prev},*{prev},*{prev},*{prev},*{prev},*{prev}]"
        )
    start = time.perf_counter()
    (issue,) = issues_of("\n".join(lines) + "\n")
    assert time.perf_counter() - start < 2.0
    assert "too large" in issue


def test_unsafe_tags_refused():
    joined = "\n".join(issues_of("name: !!python/object/apply:os.system ['true']\n"))
    assert "s.yaml:1" in joined


def test_open_needs_rate_or_stages_and_closed_needs_users():
    assert any(
        "open model needs" in i
        for i in issues_of("name: x\nload: {rate: 5}\nmix: [{operation: simple_query}]\n")
    )
    assert any(
        "closed model needs" in i
        for i in issues_of("name: x\nload: {model: closed, duration: 5s}\nmix: [{operation: simple_query}]\n")
    )


def test_shipped_scenarios_validate():
    root = Path(__file__).resolve().parents[3] / "scenarios"
    files = sorted(root.glob("*.yaml"))
    assert {f.name for f in files} >= {
        "smoke.yaml",
        "steady_state.yaml",
        "spike_test.yaml",
        "endurance_test.yaml",
        "stress_test.yaml",
    }
    for path in files:
        load_scenario(path)
    steady = resolve(load_scenario(root / "steady_state.yaml"), time_scale=0.01)
    assert steady.duration_s == pytest.approx(36)
    assert steady.stages[0].rate_to == 100


def test_check_scenario_names_the_mix_item_whose_placeholder_nothing_sets_up(tmp_path: Path) -> None:
    path = tmp_path / "ph.yaml"
    path.write_text(
        "name: ph\nload: {model: open, rate: 5, duration: 2s}\nmix:\n"
        '  - {operation: simple_query}\n  - {name: x, path: "/v1/projects/{nope}"}\n'
    )
    with pytest.raises(ScenarioError) as err:
        check_scenario(path)
    (issue,) = err.value.issues
    assert (issue.line, issue.path) == (5, "mix[1]")
    assert "['nope']" in issue.message


def test_check_scenario_turns_a_bad_time_scale_into_a_scenario_error(tmp_path: Path) -> None:
    path = tmp_path / "ok.yaml"
    path.write_text(
        "name: ok\nload: {model: open, rate: 5, duration: 2s}\nmix:\n  - {operation: simple_query}\n"
    )
    assert check_scenario(path, time_scale=0.5).duration_s == 1.0
    with pytest.raises(ScenarioError, match="time scale must be > 0"):
        check_scenario(path, time_scale=-1)
