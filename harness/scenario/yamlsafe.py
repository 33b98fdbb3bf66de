"""Safe YAML loading that remembers where every value came from and refuses YAML bombs.

``yaml.compose`` builds the node graph without expanding aliases (so a billion-laughs file is a
few dozen nodes); we then convert it to Python ourselves, counting every node we materialise, and
stop as soon as the budget is exceeded. Each value's path maps to its (line, column), 1-based.

PyYAML's composer recurses once per nesting level, so a small file nested a few hundred levels
deep (``[[[[...``) would exhaust Python's stack before our converter sees it: the composer here
counts its depth and stops past :data:`MAX_DEPTH`, naming the line.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import yaml

MAX_BYTES = 1_000_000
MAX_NODES = 50_000
MAX_DEPTH = 64

Path = tuple[str | int, ...]


class YamlError(Exception):
    """Invalid or hostile YAML; ``line`` is 1-based when known."""

    def __init__(self, message: str, line: int | None = None, column: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.line = line
        self.column = column


@dataclass
class LoadedYaml:
    data: Any
    marks: dict[Path, tuple[int, int]] = field(default_factory=dict)

    def line_of(self, path: Path) -> tuple[int, int] | None:
        """Line of the deepest known prefix of ``path`` (errors may point inside a value)."""
        for end in range(len(path), -1, -1):
            mark = self.marks.get(tuple(path[:end]))
            if mark is not None:
                return mark
        return None


class _Converter:
    def __init__(self) -> None:
        self.nodes = 0
        self.marks: dict[Path, tuple[int, int]] = {}
        self._scalars = yaml.SafeLoader("")

    def convert(self, node: yaml.Node, path: Path, depth: int) -> Any:
        self.nodes += 1
        if self.nodes > MAX_NODES:
            raise YamlError(f"document too large or alias expansion too deep (> {MAX_NODES} nodes)")
        if depth > MAX_DEPTH:
            raise YamlError(f"nesting deeper than {MAX_DEPTH} levels", *_mark(node))
        self.marks.setdefault(path, _mark(node))
        if isinstance(node, yaml.MappingNode):
            return self._mapping(node, path, depth)
        if isinstance(node, yaml.SequenceNode):
            return [self.convert(item, (*path, i), depth + 1) for i, item in enumerate(node.value)]
        try:
            return self._scalars.construct_object(node, deep=False)
        except yaml.YAMLError as exc:
            raise YamlError(f"bad value: {exc}", *_mark(node)) from exc

    def _mapping(self, node: yaml.MappingNode, path: Path, depth: int) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                raise YamlError("mapping keys must be plain scalars", *_mark(key_node))
            key = str(self._scalars.construct_object(key_node))
            if key in out:
                raise YamlError(f"duplicate key {key!r}", *_mark(key_node))
            self.marks[(*path, key)] = _mark(key_node)
            out[key] = self.convert(value_node, (*path, key), depth + 1)
            # keep the key's own line: errors about a key read better there
            self.marks[(*path, key)] = _mark(key_node)
        return out


class _DepthLimitedLoader(yaml.SafeLoader):
    """PyYAML's safe loader whose (recursive) composer refuses nesting deeper than MAX_DEPTH."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0

    def compose_node(self, parent: yaml.Node | None, index: int) -> yaml.Node | None:
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH + 1:  # the root is depth 0, as in the converter
                mark = self.peek_event().start_mark  # type: ignore[no-untyped-call]
                raise YamlError(f"nesting deeper than {MAX_DEPTH} levels", mark.line + 1, mark.column + 1)
            return super().compose_node(parent, index)  # type: ignore[no-any-return]
        finally:
            self._depth -= 1


def _mark(node: yaml.Node) -> tuple[int, int]:
    return node.start_mark.line + 1, node.start_mark.column + 1


def load_yaml_text(text: str) -> LoadedYaml:
    if len(text.encode("utf-8", errors="replace")) > MAX_BYTES:
        raise YamlError(f"file larger than {MAX_BYTES} bytes")
    try:
        root = yaml.compose(text, Loader=_DepthLimitedLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        line = mark.line + 1 if mark is not None else None
        column = mark.column + 1 if mark is not None else None
        raise YamlError(f"invalid YAML: {exc.problem or exc}", line, column) from exc
    except yaml.YAMLError as exc:
        raise YamlError(f"invalid YAML: {exc}") from exc
    if root is None:
        return LoadedYaml(data=None)
    converter = _Converter()
    data = converter.convert(root, (), 0)
    return LoadedYaml(data=data, marks=converter.marks)
