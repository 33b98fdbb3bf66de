"""Code shape: no function over 60 lines and no class over 300 lines in the product code.

Long functions were where behaviour hid in this project (a 114-line handoff, a 94-line run
finalizer); the limit keeps each function readable in one screen. Measured with ``ast`` from the
``def``/``class`` line to the last line of the body, decorators excluded.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("harness", "reference_runtime")
MAX_FUNCTION_LINES = 60
MAX_CLASS_LINES = 300


def _too_long(path: Path, root: Path = ROOT) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            limit, kind = MAX_FUNCTION_LINES, "function"
        elif isinstance(node, ast.ClassDef):
            limit, kind = MAX_CLASS_LINES, "class"
        else:
            continue
        length = (node.end_lineno or node.lineno) - node.lineno + 1
        if length > limit:
            found.append(
                f"{path.relative_to(root)}:{node.lineno} {kind} {node.name}: {length} lines > {limit}"
            )
    return found


@pytest.mark.parametrize("package", PACKAGES)
def test_no_function_or_class_over_the_limit(package: str) -> None:
    offenders = [line for path in sorted((ROOT / package).rglob("*.py")) for line in _too_long(path)]
    assert not offenders, "\n".join(offenders)


def test_the_check_sees_a_long_function(tmp_path: Path) -> None:
    body = "\n".join(f"    x{i} = {i}" for i in range(MAX_FUNCTION_LINES))
    sample = tmp_path / "probe.py"
    sample.write_text(f"def long() -> None:\n{body}\n\n\ndef short() -> None:\n    pass\n")
    assert _too_long(sample, tmp_path) == [f"probe.py:1 function long: {MAX_FUNCTION_LINES + 1} lines > 60"]
