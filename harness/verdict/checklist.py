"""Checklist files: sections of rules with hints, loaded with line numbers for clear errors.

Format (see docs/checklists.md and the shipped ``guide.yaml``)::

    schema_version: 1
    name: ...
    hints: {latency: "what to do ..."}
    sections:
      - id: targets
        title: Target performance indicators
        severity: fail            # default for the section's rules
        rules:
          - id: command_ack
            title: Command acknowledgment
            rule: "p95(command_ack) < 100ms"
            hint: latency         # a key of `hints`, or literal text
            required: false       # true: not-measured fails the gate
            applies_to: [steady, endurance]   # kinds of run (harness.scenario.kinds); default any
            min_count: 1000       # ratio rules: fewer requests/lookups -> "not enough data"

``applies_to`` may also be given on a section (the default of its rules).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from harness.scenario.kinds import ANY_KIND, RUN_KINDS
from harness.verdict.metrics import Kind
from harness.verdict.rules import Rule, RuleError, Severity, parse_rule

DEFAULT_CHECKLIST = Path(__file__).with_name("checklists") / "guide.yaml"
_MAX_NODES = 20_000  # a checklist is small; a YAML alias bomb is not
_SECTION_KEYS = {"id", "title", "severity", "rules", "description", "applies_to"}
_RULE_KEYS = {"id", "title", "rule", "severity", "hint", "required", "source", "applies_to", "min_count"}


class ChecklistError(ValueError):
    """A checklist file that cannot be used; the message names the file, line and field."""

    def __init__(self, path: Path, line: int | None, field_path: str, message: str) -> None:
        self.path, self.line, self.field_path = path, line, field_path
        where = f"{path}:{line}" if line else str(path)
        super().__init__(f"{where}: {field_path}: {message}" if field_path else f"{where}: {message}")


@dataclass(frozen=True)
class ChecklistRule:
    id: str
    section: str
    section_title: str
    title: str
    rule: Rule
    required: bool = False
    source: str | None = None  # where in the guide the number comes from
    applies_to: tuple[str, ...] = (ANY_KIND,)  # kinds of run (harness.scenario.kinds) or "any"
    min_count: int | None = None  # ratio rules: requests (or seconds with cache lookups) needed

    def applies(self, kind: str) -> bool:
        return ANY_KIND in self.applies_to or kind in self.applies_to


@dataclass(frozen=True)
class Checklist:
    path: Path
    name: str
    rules: list[ChecklistRule]
    hints: dict[str, str] = field(default_factory=dict)

    def rule(self, rule_id: str) -> ChecklistRule | None:
        return next((r for r in self.rules if r.id == rule_id), None)

    def hint_for(self, metric: str) -> str | None:
        """The checklist's generic hint for a metric (used for rules given without a hint)."""
        return self.hints.get(_HINT_BY_METRIC.get(metric, ""))


_HINT_BY_METRIC = {
    **{m: "latency" for m in ("p50", "p90", "p95", "p99", "p99.9", "max", "mean", "recovery_time")},
    **{m: "errors" for m in ("error_rate", "errors")},
    **{m: "throughput" for m in ("rate", "dropped", "dropped_rate", "late", "concurrency", "breaking_point")},
    **{m: "cpu" for m in ("cpu", "sys_cpu", "cpu_per_agent")},
    **{m: "memory" for m in ("rss", "memory_percent", "rss_growth", "rss_per_agent", "storage_growth")},
    "queue_depth": "latency",
    "cache_hit_rate": "cache",
    **{m: "database" for m in ("slow_queries", "db_pool_in_use", "db_pool_waits")},
}


class _Positions:
    """Python values composed from YAML nodes, remembering the line of every field path."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.lines: dict[str, int] = {}
        self.values: dict[str, Any] = {}  # scalar values by field path (for error locations)
        self.nodes = 0
        self._scalars = yaml.constructor.SafeConstructor()  # int/float/bool/str by the node's tag

    def build(self, node: yaml.Node, where: str) -> Any:
        self.nodes += 1
        if self.nodes > _MAX_NODES:
            raise ChecklistError(
                self.path, node.start_mark.line + 1, where, "document too large (alias bomb?)"
            )
        self.lines[where] = node.start_mark.line + 1
        if isinstance(node, yaml.MappingNode):
            out: dict[str, Any] = {}
            for key_node, value_node in node.value:
                key = str(key_node.value)
                out[key] = self.build(value_node, f"{where}.{key}" if where else key)
            return out
        if isinstance(node, yaml.SequenceNode):
            return [self.build(item, f"{where}[{i}]") for i, item in enumerate(node.value)]
        value = self._scalars.construct_object(node)
        self.values[where] = value
        return value

    def error(self, where: str, message: str) -> ChecklistError:
        return ChecklistError(self.path, self.lines.get(where), where, message)


def load_checklist(path: Path | None = None) -> Checklist:
    path = path or DEFAULT_CHECKLIST
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ChecklistError(path, None, "", f"cannot read: {exc.strerror or exc}") from exc
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise ChecklistError(path, mark.line + 1 if mark else None, "", f"invalid YAML: {exc}") from exc
    if node is None:
        raise ChecklistError(path, None, "", "empty file")
    pos = _Positions(path)
    data = pos.build(node, "")
    if not isinstance(data, dict):
        raise pos.error("", "expected a mapping with `sections`")
    return _checklist(path, data, pos)


def _checklist(path: Path, data: dict[str, Any], pos: _Positions) -> Checklist:
    if data.get("schema_version", 1) != 1:
        raise pos.error("schema_version", "unsupported version (supported: 1)")
    hints = data.get("hints", {})
    if not isinstance(hints, dict) or not all(isinstance(v, str) for v in hints.values()):
        raise pos.error("hints", "expected a mapping of name: text")
    sections = data.get("sections")
    if not isinstance(sections, list) or not sections:
        raise pos.error("sections" if "sections" in data else "", "expected a non-empty list `sections`")
    rules: list[ChecklistRule] = []
    for index, section in enumerate(sections):
        rules.extend(_section(section, f"sections[{index}]", hints, pos))
    _check_unique_ids(rules, pos)
    return Checklist(path=path, name=str(data.get("name", path.stem)), rules=rules, hints=hints)


def _section(section: Any, where: str, hints: dict[str, str], pos: _Positions) -> list[ChecklistRule]:
    if not isinstance(section, dict):
        raise pos.error(where, "expected a mapping with id, title, rules")
    _check_keys(section, _SECTION_KEYS, where, pos)
    section_id = _required_str(section, "id", where, pos)
    title = str(section.get("title", section_id))
    severity = _severity(section.get("severity"), f"{where}.severity", pos)
    kinds = _applies_to(section.get("applies_to"), f"{where}.applies_to", pos) or (ANY_KIND,)
    items = section.get("rules")
    if not isinstance(items, list) or not items:
        raise pos.error(
            f"{where}.rules" if "rules" in section else where, "expected a non-empty list `rules`"
        )
    return [
        _rule(item, f"{where}.rules[{i}]", (section_id, title), severity, kinds, hints, pos)
        for i, item in enumerate(items)
    ]


def _rule(
    item: Any,
    where: str,
    section: tuple[str, str],
    severity: Severity | None,
    kinds: tuple[str, ...],
    hints: dict[str, str],
    pos: _Positions,
) -> ChecklistRule:
    if not isinstance(item, dict):
        raise pos.error(where, "expected a mapping with id and rule")
    _check_keys(item, _RULE_KEYS, where, pos)
    rule_id = _required_str(item, "id", where, pos)
    text = _required_str(item, "rule", where, pos)
    hint_value = item.get("hint")
    if hint_value is not None and not isinstance(hint_value, str):
        raise pos.error(f"{where}.hint", "expected text or a key of `hints`")
    hint = hints.get(hint_value, hint_value) if hint_value else None
    required = item.get("required", False)
    if not isinstance(required, bool):
        raise pos.error(f"{where}.required", "expected true or false")
    rule_severity = _severity(item.get("severity"), f"{where}.severity", pos) or severity
    try:
        rule = parse_rule(text, severity=rule_severity, hint=hint)
    except RuleError as exc:
        raise pos.error(f"{where}.rule", str(exc)) from exc
    source = item.get("source")
    return ChecklistRule(
        id=rule_id,
        section=section[0],
        section_title=section[1],
        title=str(item.get("title", rule_id)),
        rule=rule,
        required=required,
        source=str(source) if source is not None else None,
        applies_to=_applies_to(item.get("applies_to"), f"{where}.applies_to", pos) or kinds,
        min_count=_min_count(item.get("min_count"), rule, f"{where}.min_count", pos),
    )


def _applies_to(value: Any, where: str, pos: _Positions) -> tuple[str, ...] | None:
    if value is None:
        return None
    items = [value] if isinstance(value, str) else value
    allowed = (*RUN_KINDS, ANY_KIND)
    if not isinstance(items, list) or not items or not all(isinstance(v, str) for v in items):
        raise pos.error(where, f"expected a kind or a list of kinds ({', '.join(allowed)})")
    for kind in items:
        if kind not in allowed:
            raise pos.error(where, f"unknown kind of run {kind!r} (known: {', '.join(allowed)})")
    return tuple(items)


def _min_count(value: Any, rule: Rule, where: str, pos: _Positions) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise pos.error(where, "expected a whole number >= 1")
    if rule.definition.kind is not Kind.RATIO:
        raise pos.error(where, f"only ratio rules take a minimum count ({rule.metric} is not a ratio)")
    return value


def _check_keys(mapping: dict[str, Any], allowed: set[str], where: str, pos: _Positions) -> None:
    for key in mapping:
        if key not in allowed:
            raise pos.error(f"{where}.{key}", f"unknown field (allowed: {', '.join(sorted(allowed))})")


def _required_str(mapping: dict[str, Any], key: str, where: str, pos: _Positions) -> str:
    value = mapping.get(key)
    if not isinstance(value, str) or not value.strip():
        raise pos.error(f"{where}.{key}" if key in mapping else where, f"`{key}` must be non-empty text")
    return value


def _severity(value: Any, where: str, pos: _Positions) -> Severity | None:
    if value is None:
        return None
    if value not in ("fail", "warn"):
        raise pos.error(where, "severity must be fail or warn")
    return "fail" if value == "fail" else "warn"


def _check_unique_ids(rules: list[ChecklistRule], pos: _Positions) -> None:
    seen: set[str] = set()
    for rule in rules:
        if rule.id in seen:
            where = next(
                path.removesuffix(".id")
                for path, _ in sorted(pos.lines.items(), key=lambda item: -item[1])
                if path.endswith(".id") and ".rules[" in path and pos.values.get(path) == rule.id
            )
            raise pos.error(f"{where}.id", f"duplicate rule id {rule.id!r}")
        seen.add(rule.id)
