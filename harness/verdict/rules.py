"""The rule grammar (documented in docs/checklists.md).

    rule      := metric [ "." aggregate ] [ "(" filter ")" ] comparator threshold
                 [ ("for" | "within") duration ] [ "fail" | "warn" ] [ "--" hint ]
    threshold := number [ unit ] | number "x baseline"

A rule states what must hold: ``p95(command_ack) < 100ms`` passes when the measured p95 of
``command_ack`` is below 100 ms. ``for 10s`` makes the rule fail only when the condition is broken
in every second of 10 consecutive seconds (sustained, Taurus style); ``within 60s`` evaluates the
metric aggregated over every sliding 60-second window and fails when any window breaks it.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Collection
from dataclasses import dataclass
from typing import Literal

from harness.contract.units import DURATION_TEXT, duration_unit, parse_duration, rate_unit, size_unit
from harness.verdict.metrics import ALIASES, METRICS, MONITOR_AGGREGATES, Kind, MetricDef, Source, lookup

Severity = Literal["fail", "warn"]
Comparator = Literal["<", "<=", ">", ">=", "=="]
WindowMode = Literal["for", "within"]

#: what each kind accepts, for the error message; the units themselves are harness.contract.units'.
_UNIT_HELP: dict[Kind, str] = {
    Kind.TIME: "ms, s, sec, m, min, h, hr, d (compound: 1h30m)",
    Kind.RATIO: "%, or a bare fraction 0..1",
    Kind.PERCENT: "%, or a bare percent",
    Kind.MEMORY: "KB, MB, GB, KiB, MiB, GiB",
    Kind.RATE: "req/s, /s, /min, /h, /day, rps, or a bare number per second",
    Kind.COUNT: "a plain number",
    Kind.GROWTH: "a size per period: KB/h, MB/h, GB/h, MB/day, GB/day (KiB, MiB, GiB too)",
}
_MB = 1e6  # rss_mb and the growth slopes are decimal megabytes (the monitor divides bytes by 1e6)

_SPACE = re.compile(r"\s*")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z0-9_]+)?")
_FILTER = re.compile(r"\(\s*(?:(op|operation|layer)\s*=\s*)?([A-Za-z0-9_.\-/]+)\s*\)")
_COMPARATOR = re.compile(r"<=|>=|==|<|>")
_NUMBER = re.compile(r"[0-9]+(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?")
_BASELINE = re.compile(r"\s*x\s+baseline\b", re.IGNORECASE)
_UNIT = re.compile(r"\s*((?:[A-Za-z]+/)?[A-Za-z%]+|/[A-Za-z]+|%)")
_KEYWORD = re.compile(r"[A-Za-z]+")


class RuleError(ValueError):
    """A rule that does not parse; the message names the rule text and the position."""

    def __init__(self, text: str, position: int, message: str) -> None:
        self.text = text
        self.position = position
        self.message = message
        caret = " " * position + "^"
        super().__init__(f"rule {text!r}: {message} (at position {position + 1})\n    {text}\n    {caret}")


@dataclass(frozen=True)
class Window:
    mode: WindowMode
    seconds: float

    def __str__(self) -> str:
        return f"{self.mode} {self.seconds:g}s"


@dataclass(frozen=True)
class Rule:
    text: str
    metric: str  # canonical name from harness.verdict.metrics
    comparator: Comparator
    threshold: float | None  # canonical unit of the metric; None for baseline-relative rules
    threshold_text: str  # as written, e.g. "100ms" or "2x baseline"
    operation: str | None = None
    layer: str | None = None
    aggregate: str | None = None  # monitored metrics: mean/max/min/p95/start/end
    baseline_factor: float | None = None
    window: Window | None = None
    severity: Severity = "fail"
    hint: str | None = None

    @property
    def definition(self) -> MetricDef:
        found = lookup(self.metric)
        assert found is not None  # parse_rule only builds rules for known metrics
        return found

    @property
    def subject(self) -> str:
        """The metric with its filter, as a short label: ``p95(command_ack)``."""
        name = self.metric + (f".{self.aggregate}" if self.aggregate else "")
        target = self.operation or self.layer
        return f"{name}({target})" if target else name


class _Scanner:
    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def skip_space(self) -> None:
        match = _SPACE.match(self.text, self.pos)
        self.pos = match.end() if match else self.pos

    def take(self, pattern: re.Pattern[str]) -> re.Match[str] | None:
        self.skip_space()
        match = pattern.match(self.text, self.pos)
        if match:
            self.pos = match.end()
        return match

    def at_end(self) -> bool:
        self.skip_space()
        return self.pos >= len(self.text)

    def fail(self, message: str, position: int | None = None) -> RuleError:
        return RuleError(self.text, self.pos if position is None else position, message)


def parse_rule(text: str, *, severity: Severity | None = None, hint: str | None = None) -> Rule:
    """Parse one rule. ``severity``/``hint`` are defaults used when the text names none."""
    scan = _Scanner(text)
    if scan.at_end():
        raise scan.fail("empty rule")
    metric_def, aggregate, layer, name_pos = _parse_metric(scan)
    operation, layer = _parse_filter(scan, metric_def, layer)
    comparator = scan.take(_COMPARATOR)
    if comparator is None:
        raise scan.fail("expected a comparator (<, <=, >, >=, ==)")
    threshold, factor, threshold_text = _parse_threshold(scan, metric_def)
    window = _parse_window(scan, metric_def)
    rule_severity, rule_hint = _parse_tail(scan, severity, hint)
    if window is not None and metric_def.source is Source.DERIVED:
        raise RuleError(
            text, name_pos, f"{metric_def.name} is computed over the whole run; it takes no window"
        )
    return Rule(
        text=text.strip(),
        metric=metric_def.name,
        comparator=comparator.group(0),  # type: ignore[arg-type]
        threshold=threshold,
        threshold_text=threshold_text,
        operation=operation,
        layer=layer,
        aggregate=aggregate,
        baseline_factor=factor,
        window=window,
        severity=rule_severity,
        hint=rule_hint,
    )


def _parse_metric(scan: _Scanner) -> tuple[MetricDef, str | None, str | None, int]:
    scan.skip_space()
    start = scan.pos
    match = scan.take(_NAME)
    if match is None:
        raise scan.fail("expected a metric name such as p95, error_rate or cpu")
    name = match.group(0).lower()
    layer = None
    layer_match = re.fullmatch(r"cache_hit_rate_(l[0-9])", name)
    if layer_match:
        name, layer = "cache_hit_rate", layer_match.group(1)
    aggregate = None
    found = lookup(name)
    if found is None and "." in name:
        name, aggregate = name.split(".", 1)
        found = lookup(name)
    if found is None:
        raise RuleError(
            scan.text,
            start,
            f"unknown metric {match.group(0)!r}{did_you_mean(name, [*METRICS, *ALIASES])} "
            "(see docs/checklists.md)",
        )
    if aggregate is not None and (found.source is not Source.MONITOR or aggregate not in MONITOR_AGGREGATES):
        raise RuleError(
            scan.text,
            start,
            f"{aggregate!r} is not an aggregate of {found.name} "
            f"(monitored metrics accept .{', .'.join(MONITOR_AGGREGATES)})",
        )
    return found, aggregate, layer, start


def _parse_filter(scan: _Scanner, metric: MetricDef, layer: str | None) -> tuple[str | None, str | None]:
    scan.skip_space()
    start = scan.pos
    if not scan.text.startswith("(", start):
        return None, layer
    match = scan.take(_FILTER)
    if match is None:
        raise scan.fail("expected a filter such as (command_ack) or (op=handoff) after '('")
    key, value = match.group(1), match.group(2)
    if metric.layers and key in (None, "layer"):
        if value.lower() not in metric.layers:
            raise RuleError(scan.text, start, f"{metric.name} layers are {', '.join(metric.layers)}")
        return None, value.lower()
    if metric.takes_operation and key in (None, "op", "operation"):
        return value, layer
    raise RuleError(scan.text, start, f"{metric.name} takes no {key or 'operation'} filter")


def _parse_threshold(scan: _Scanner, metric: MetricDef) -> tuple[float | None, float | None, str]:
    scan.skip_space()
    start = scan.pos
    duration = DURATION_TEXT.match(scan.text, start) if metric.kind is Kind.TIME else None
    if duration is not None:  # compound durations such as 1h30m, in the one duration grammar
        scan.pos = duration.end()
        return parse_duration(duration.group(0)) * 1000.0, None, duration.group(0)
    number = scan.take(_NUMBER)
    if number is None:
        raise scan.fail("expected a threshold number such as 100ms, 1%, 2x baseline")
    value = float(number.group(0))
    if scan.take(_BASELINE):
        return None, value, scan.text[start : scan.pos].strip()
    unit_pos = scan.pos
    unit_match = _UNIT.match(scan.text, scan.pos)
    unit = unit_match.group(1) if unit_match and not _is_keyword(unit_match.group(1)) else ""
    if unit and unit_match:
        unit_pos, scan.pos = unit_match.start(1), unit_match.end()
    scale = _unit_scale(metric.kind, unit)
    if scale is None:
        problem = f"unit {unit!r} does not fit {metric.name}" if unit else f"{metric.name} needs a unit"
        raise RuleError(scan.text, unit_pos, f"{problem}; use {_UNIT_HELP[metric.kind]}")
    if metric.kind is Kind.RATIO and not unit and value > 1:
        raise RuleError(
            scan.text, start, f"{metric.name} is a fraction 0..1 without a unit; write {value:g}%"
        )
    return value * scale, None, scan.text[start : scan.pos].strip()


def _unit_scale(kind: Kind, unit: str) -> float | None:
    """The factor from ``unit`` to the kind's canonical unit (see metrics.Kind); None: it does not fit."""
    if kind in (Kind.RATIO, Kind.PERCENT) and unit in ("", "%"):
        return 0.01 if kind is Kind.RATIO and unit == "%" else 1.0
    if kind is Kind.COUNT:
        return 1.0 if not unit else None
    if kind is Kind.TIME:
        seconds = duration_unit(unit) if unit else None
        return None if seconds is None else seconds * 1000.0
    if kind is Kind.MEMORY:
        size = size_unit(unit) if unit else None
        return None if size is None else size / _MB
    rate = rate_unit(unit) if unit else None
    if kind is Kind.RATE:
        return 1.0 if not unit else (rate.per_second if rate and rate.amount == "count" else None)
    if kind is Kind.GROWTH and rate is not None and rate.amount == "size":
        return rate.per_second * 3600.0 / _MB
    return None


def _is_keyword(word: str) -> bool:
    return word.lower() in ("for", "within", "fail", "warn")


def _parse_window(scan: _Scanner, metric: MetricDef) -> Window | None:
    scan.skip_space()
    start = scan.pos
    keyword = _KEYWORD.match(scan.text, scan.pos)
    if keyword is None or keyword.group(0).lower() not in ("for", "within"):
        return None
    scan.pos = keyword.end()
    scan.skip_space()
    duration = DURATION_TEXT.match(scan.text, scan.pos)
    if duration is None:
        if scan.take(_NUMBER):
            raise scan.fail(f"a window needs a unit: {_UNIT_HELP[Kind.TIME]}")
        raise scan.fail(f"expected a duration after {keyword.group(0)!r}, e.g. 10s")
    scan.pos = duration.end()
    seconds = parse_duration(duration.group(0))
    if seconds < 1:
        raise RuleError(scan.text, start, "a window must be at least 1s (timeseries has 1-second resolution)")
    mode: WindowMode = "for" if keyword.group(0).lower() == "for" else "within"
    return Window(mode, seconds)


def _parse_tail(scan: _Scanner, severity: Severity | None, hint: str | None) -> tuple[Severity, str | None]:
    keyword = scan.take(re.compile(r"(fail|warn)\b", re.IGNORECASE))
    chosen: Severity = severity or "fail"
    if keyword:
        chosen = "warn" if keyword.group(0).lower() == "warn" else "fail"
    if scan.at_end():
        return chosen, hint
    if scan.text.startswith("--", scan.pos):
        text = scan.text[scan.pos + 2 :].strip()
        return chosen, text or hint
    raise scan.fail("unexpected text; expected 'for D', 'within D', 'fail', 'warn' or '-- hint'")


@dataclass(frozen=True)
class RuleSpec:
    """A parsed rule with where it came from (a checklist entry, the CLI, the scenario)."""

    id: str
    rule: Rule
    origin: str  # "checklist", "cli", "scenario-gates", "scenario-expect"
    section: str | None = None
    title: str | None = None
    source: str | None = None
    required: bool = False


def did_you_mean(word: str, choices: Collection[str]) -> str:
    """``" (did you mean 'x'?)"`` for the closest choice (difflib), or "" when none is close."""
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def check_operation(rule: Rule, operations: Collection[str]) -> None:
    """RuleError when the rule filters on an operation that is not one of ``operations`` (the
    scenario's mix, or the run's measured operations): a typo would otherwise be "not measured".
    No operations known (a run that recorded none) checks nothing."""
    if rule.operation is None or not operations or rule.operation in operations:
        return
    known = ", ".join(sorted(operations)) or "none"
    raise RuleError(
        rule.text,
        rule.text.find("(") + 1,
        f"unknown operation {rule.operation!r}{did_you_mean(rule.operation, operations)} (known: {known})",
    )
