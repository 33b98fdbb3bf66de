"""The stage packages import one way: a stage imports earlier stages, never a later one.

The graph is built with ``ast`` from every ``import`` in ``harness/`` -- top-level and inside
functions alike (a late import hides a dependency, it does not remove it) -- plus
``importlib.import_module("harness....")`` calls with a literal name. The order:

    contract < scenario < load, profiling < derive < verdict < compare, history, roi < report
             < run (the run and its after-run pipeline) < nightly, testing < commands < cli < __main__

compare, history and roi read run folders; report renders every stage's typed output; run,
nightly and the commands orchestrate. An import from an earlier stage into a later one fails
unless it is one of the few edges in ALLOWED_UPWARD, each with its reason. No module takes part
in an import cycle, and apart from ALLOWED_UPWARD the package graph has no cycle either.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

import harness

HARNESS = Path(harness.__file__).resolve().parent

RANK: dict[str, int] = {
    "contract": 0,
    "scenario": 1,
    "load": 2,
    "profiling": 2,
    "derive": 3,
    "verdict": 4,
    "compare": 5,
    "history": 5,
    "roi": 5,
    "report": 6,
    "run": 7,
    "nightly": 8,
    "testing": 8,
    "commands": 9,
    "cli": 10,
    "__main__": 11,
}

#: (importing module, imported module) -> why this edge may point to a later stage.
ALLOWED_UPWARD: dict[tuple[str, str], str] = {
    ("harness.scenario.schema", "harness.verdict.rules"): (
        "validating a scenario parses its `gates:` in the verdict's rule grammar (a leaf module)"
    ),
    ("harness.load.collector", "harness.derive.percentiles"): (
        "the live collector reports percentiles with the one percentile definition (a leaf module)"
    ),
    ("harness.roi.sweep", "harness.run.launch"): "the switch sweep launches `harness run` per variant",
    ("harness.roi.sweep", "harness.run.repeat"): "the switch sweep interleaves the variants' repeats",
    ("harness.roi.sweep", "harness.report.roi_page"): "the switch sweep writes its pages when it is done",
}

#: Targets of upward edges that must stay leaves (import nothing from harness but each other and contract),
#: so that an allowed upward edge can never pull a later stage in behind it.
LEAVES = ("harness.verdict.rules", "harness.verdict.metrics", "harness.derive.percentiles")


def module_name(path: Path) -> str:
    parts = list(path.relative_to(HARNESS.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES: dict[str, Path] = {module_name(p): p for p in HARNESS.rglob("*.py")}


def package_of(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "harness"


def resolve(name: str) -> str | None:
    """The harness module an imported name lives in (``harness.x.y`` or its package ``harness.x``)."""
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name if name.startswith("harness.") else None


def imported_names(module: str, tree: ast.AST) -> list[tuple[str, int]]:
    names: list[tuple[str, int]] = []
    package = module if MODULES[module].name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names += [(alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            names += [(f"{base}.{alias.name}", node.lineno) for alias in node.names]
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute | ast.Name)
            and (node.func.attr if isinstance(node.func, ast.Attribute) else node.func.id) == "import_module"
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            names.append((node.args[0].value, node.lineno))
    return names


def import_graph() -> dict[str, dict[str, int]]:
    """module -> {imported harness module: first line}."""
    graph: dict[str, dict[str, int]] = {}
    for module, path in MODULES.items():
        edges: dict[str, int] = {}
        for name, line in imported_names(module, ast.parse(path.read_text(encoding="utf-8"))):
            target = resolve(name)
            if target is not None and target != module:
                edges.setdefault(target, line)
        graph[module] = edges
    return graph


def where(module: str, line: int) -> str:
    return f"{MODULES[module].relative_to(HARNESS.parent)}:{line}"


def strongly_connected(graph: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's algorithm; the components with more than one node are the import cycles."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in graph.get(node, ()):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                item = stack.pop()
                on_stack.discard(item)
                component.append(item)
                if item == node:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return cycles


def test_every_package_has_a_stage() -> None:
    packages = {package_of(m) for m in MODULES} - {"harness"}
    assert packages <= set(RANK), f"place the new package(s) in RANK: {sorted(packages - set(RANK))}"
    assert {package_of(a) for a, _ in ALLOWED_UPWARD} <= set(RANK)
    for edge in ALLOWED_UPWARD:
        assert all(m in MODULES for m in edge), f"ALLOWED_UPWARD names a module that is gone: {edge}"


def upward_imports(graph: dict[str, dict[str, int]]) -> list[str]:
    offending = []
    for module, edges in graph.items():
        src = package_of(module)
        for target, line in edges.items():
            dst = package_of(target)
            if dst == src or src == "harness" or RANK[dst] <= RANK[src]:
                continue
            if (module, target) not in ALLOWED_UPWARD:
                later = f"({src} imports the later stage {dst})"
                offending.append(f"{module} -> {target} {later} at {where(module, line)}")
    return offending


def test_no_import_points_to_a_later_stage() -> None:
    offending = upward_imports(import_graph())
    assert not offending, "upward imports:\n" + "\n".join(offending)


def test_a_new_upward_import_is_caught() -> None:
    graph = import_graph()
    graph["harness.verdict.evaluate"] = {**graph["harness.verdict.evaluate"], "harness.report.jinja": 1}
    graph["harness.scenario.schema"] = {**graph["harness.scenario.schema"], "harness.verdict.gate": 2}
    caught = upward_imports(graph)
    assert any(c.startswith("harness.verdict.evaluate -> harness.report.jinja") for c in caught)
    assert any(c.startswith("harness.scenario.schema -> harness.verdict.gate") for c in caught)


def test_every_allowed_upward_edge_is_still_used() -> None:
    graph = import_graph()
    stale = [f"{a} -> {b}" for a, b in ALLOWED_UPWARD if b not in graph.get(a, {})]
    assert not stale, "remove from ALLOWED_UPWARD:\n" + "\n".join(stale)


def test_allowed_upward_targets_are_leaves() -> None:
    graph = import_graph()
    for leaf in LEAVES:
        beyond = [
            f"{leaf} -> {target} at {where(leaf, line)}"
            for target, line in graph[leaf].items()
            if target not in LEAVES and package_of(target) != "contract"
        ]
        assert not beyond, "a leaf module imports more of harness:\n" + "\n".join(beyond)


def test_no_module_is_part_of_an_import_cycle() -> None:
    graph = import_graph()
    cycles = strongly_connected({m: set(edges) for m, edges in graph.items()})
    shown = []
    for cycle in cycles:
        members = set(cycle)
        shown += [
            f"{m} -> {t} at {where(m, line)}" for m in cycle for t, line in graph[m].items() if t in members
        ]
    assert not cycles, "import cycles:\n" + "\n".join(shown)


def test_packages_form_no_cycle_apart_from_the_allowed_upward_edges() -> None:
    packages: dict[str, set[str]] = defaultdict(set)
    example: dict[tuple[str, str], str] = {}
    for module, edges in import_graph().items():
        for target, line in edges.items():
            src, dst = package_of(module), package_of(target)
            if src != dst and (module, target) not in ALLOWED_UPWARD:
                packages[src].add(dst)
                example.setdefault((src, dst), f"{module} -> {target} at {where(module, line)}")
    cycles = strongly_connected(dict(packages))
    shown = [example[(a, b)] for cycle in cycles for a in cycle for b in cycle if (a, b) in example]
    assert not cycles, "package cycles:\n" + "\n".join(shown)


def test_the_graph_sees_late_and_dynamic_imports(tmp_path: Path) -> None:
    """The parser finds imports inside functions and importlib calls, not only the top-level ones."""
    tree = ast.parse(
        "import importlib\n"
        "def f():\n"
        "    from harness.report import jinja\n"
        "    return importlib.import_module('harness.report.index_page')\n"
    )
    names = [name for name, _ in imported_names("harness.scenario.schema", tree)]
    assert resolve(names[1]) == "harness.report.jinja"
    assert resolve(names[2]) == "harness.report.index_page"
