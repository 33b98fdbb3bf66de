"""Package layering: only the edge (app, cli, routes) knows the Runtime; no hidden import cycles."""

from __future__ import annotations

import ast
from pathlib import Path

import reference_runtime

PACKAGE = Path(reference_runtime.__file__).parent
EDGE = ("app.py", "cli.py", "routes/")


def _modules() -> dict[str, ast.Module]:
    return {p.relative_to(PACKAGE).as_posix(): ast.parse(p.read_text()) for p in PACKAGE.rglob("*.py")}


def _imported(rel: str, node: ast.ImportFrom) -> str:
    """Absolute dotted name of a ``from X import ...`` inside the package."""
    if node.level == 0:
        return node.module or ""
    parts = ["reference_runtime", *rel.split("/")[:-1]]
    base = parts[: len(parts) - node.level + 1]
    return ".".join([*base, node.module] if node.module else base)


def test_only_the_edge_imports_the_runtime() -> None:
    importers = sorted(
        rel
        for rel, tree in _modules().items()
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and _imported(rel, node) == "reference_runtime.runtime"
    )
    assert importers and all(rel.startswith(EDGE) for rel in importers), importers


def test_no_type_checking_imports() -> None:
    offenders = [rel for rel, tree in _modules().items() if "TYPE_CHECKING" in ast.unparse(tree)]
    assert offenders == []


def test_imports_inside_functions_only_in_the_cli() -> None:
    """The cli imports each subcommand's stack lazily (start-up time); nothing else may."""
    offenders = []
    for rel, tree in _modules().items():
        for fn in ast.walk(tree):
            if isinstance(fn, ast.FunctionDef | ast.AsyncFunctionDef):
                nested = [n for n in ast.walk(fn) if isinstance(n, ast.Import | ast.ImportFrom)]
                if nested and rel != "cli.py":
                    offenders.append(f"{rel}:{fn.name}")
    assert offenders == []
