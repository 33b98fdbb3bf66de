from __future__ import annotations

from pathlib import Path

import pytest

from harness.verdict.checklist import DEFAULT_CHECKLIST, ChecklistError, load_checklist


def test_guide_numbers_are_encoded() -> None:
    rules = {rule.id: rule.rule for rule in load_checklist().rules}
    expected = {
        "command_ack": ("p95", "command_ack", "<", 100.0),
        "simple_query": ("p95", "simple_query", "<", 1000.0),
        "complex_analysis": ("p95", "complex_analysis", "<", 30_000.0),
        "handoff": ("p95", "handoff", "<", 2000.0),
        "error_rate_trigger": ("error_rate", None, "<=", 0.01),
        "cpu_trigger": ("cpu", None, "<=", 80.0),
        "memory_trigger": ("memory_percent", None, "<=", 85.0),
        "queue_depth_trigger": ("queue_depth", None, "<=", 1000.0),
        "cache_hit_rate_trigger": ("cache_hit_rate", None, ">=", 0.6),
        "load_p50": ("p50", None, "<", 500.0),
        "load_p95": ("p95", None, "<", 2000.0),
        "load_p99": ("p99", None, "<", 5000.0),
        "load_error_rate": ("error_rate", None, "<", 0.001),
        "spike_recovery": ("recovery_time", None, "<", 120_000.0),
        "agent_creation_single": ("max", "team_creation", "<", 300_000.0),
        "agent_creation_team_10": ("max", "team_creation_10", "<", 5_400_000.0),
    }
    for rule_id, (metric, operation, comparator, threshold) in expected.items():
        rule = rules[rule_id]
        assert (rule.metric, rule.operation, rule.comparator) == (metric, operation, comparator), rule_id
        assert rule.threshold == pytest.approx(threshold), rule_id
    assert rules["baseline_regression"].baseline_factor == 2.0
    layers = {
        rules[f"cache_{layer}"].layer: rules[f"cache_{layer}"].threshold for layer in ("l1", "l2", "l3")
    }
    assert layers == pytest.approx({"l1": 0.8, "l2": 0.6, "l3": 0.4})


def test_every_rule_has_a_hint_and_a_source() -> None:
    checklist = load_checklist(DEFAULT_CHECKLIST)
    for item in checklist.rules:
        assert item.rule.hint, item.id
        assert item.source, item.id
    assert checklist.hint_for("p95") and "batch" in (checklist.hint_for("p95") or "").lower()


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "checklist.yaml"
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    ("text", "line", "field"),
    [
        (
            "sections:\n  - id: a\n    rules:\n      - id: r\n        rule: 'p95 < 1s'\n"
            "        colour: red\n",
            6,
            "sections[0].rules[0].colour",
        ),
        (
            "sections:\n  - id: a\n    severity: fatal\n    rules:\n      - {id: r, rule: 'p95 < 1s'}\n",
            3,
            "sections[0].severity",
        ),
        (
            "sections:\n  - id: a\n    rules:\n      - id: r\n        rule: 'p95 < 1 lightyear'\n",
            5,
            "sections[0].rules[0].rule",
        ),
        ("sections:\n  - id: a\n    rules: []\n", 3, "sections[0].rules"),
        ("name: x\n", 1, ""),
        (
            "sections:\n  - id: a\n    rules:\n      - {id: r, rule: 'p95 < 1s'}\n"
            "      - {id: r, rule: 'p99 < 1s'}\n",
            5,
            "sections[0].rules[1].id",
        ),
    ],
)
def test_bad_checklists_name_file_line_and_field(tmp_path: Path, text: str, line: int, field: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ChecklistError) as caught:
        load_checklist(path)
    assert caught.value.path == path
    assert caught.value.line == line
    assert caught.value.field_path == field
    assert str(caught.value).startswith(f"{path}:{line}")


def test_invalid_yaml_reports_the_line(tmp_path: Path) -> None:
    with pytest.raises(ChecklistError) as caught:
        load_checklist(write(tmp_path, "sections:\n  - id: a\n   rules: [\n"))
    assert "invalid YAML" in str(caught.value) and caught.value.line is not None


def test_alias_bomb_is_rejected(tmp_path: Path) -> None:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]" for i in range(1, 9)]
    with pytest.raises(ChecklistError, match="too large"):
        load_checklist(write(tmp_path, "\n".join(lines) + "\n"))


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ChecklistError, match="cannot read"):
        load_checklist(tmp_path / "nope.yaml")
