"""Pathological YAML: deep nesting, self-referencing anchors, fails as one located issue (exit 2),
never as a RecursionError from PyYAML's recursive composer."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.scenario import ScenarioError, check_scenario
from harness.scenario.loader import parse_scenario_text
from harness.scenario.yamlsafe import MAX_DEPTH, YamlError, load_yaml_text
from tests.harness.conftest import harness, write

DEEP_FLOW = "name: deep\nx: " + "[" * 500 + "]" * 500 + "\n"  # 1 KB, 500 levels
DEEP_BLOCK = "name: deep\nx:\n" + "".join(" " * i + "-\n" for i in range(1, 300))
DEEP_MAPPINGS = "x: " + "{a: " * 400 + "1" + "}" * 400 + "\n"


@pytest.mark.parametrize("text", [DEEP_FLOW, DEEP_BLOCK, DEEP_MAPPINGS], ids=["flow", "block", "mappings"])
def test_deep_nesting_is_a_located_error_not_a_recursion_error(text: str) -> None:
    with pytest.raises(YamlError, match=f"nesting deeper than {MAX_DEPTH} levels") as caught:
        load_yaml_text(text)
    assert caught.value.line is not None and caught.value.line >= 1


def test_the_limit_is_where_the_docs_put_it() -> None:
    def nested(depth: int) -> str:  # the root mapping is at depth 0, the list `x` holds at 1 ...
        return "x: " + "[" * depth + "]" * depth + "\n"

    assert load_yaml_text(nested(MAX_DEPTH)).data is not None
    with pytest.raises(YamlError):
        load_yaml_text(nested(MAX_DEPTH + 1))


def test_a_self_referencing_anchor_is_refused() -> None:
    with pytest.raises(YamlError):
        load_yaml_text("x: &a [*a, *a]\n")


def test_the_scenario_error_names_file_and_line(tmp_path: Path) -> None:
    path = write(tmp_path, "deep.yaml", DEEP_FLOW)
    with pytest.raises(ScenarioError) as caught:
        check_scenario(path)
    (issue,) = caught.value.issues
    assert issue.file == str(path) and issue.line == 2
    with pytest.raises(ScenarioError):
        parse_scenario_text(DEEP_BLOCK, "deep.yaml")


def test_validate_and_run_exit_2_with_one_line(tmp_path: Path) -> None:
    path = write(tmp_path, "deep.yaml", DEEP_FLOW)
    for args in (("validate", str(path)), ("run", str(path), "--target", "http://127.0.0.1:9")):
        out = harness(*args, "--reports-dir", str(tmp_path / "r")) if args[0] == "run" else harness(*args)
        text = (out.stdout + out.stderr).strip()
        assert out.returncode == 2, text
        assert text == f"error: {path}:2:68: nesting deeper than {MAX_DEPTH} levels"
