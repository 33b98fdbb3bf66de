from __future__ import annotations

import pytest

from harness.verdict.rules import RuleError, Window, parse_rule


@pytest.mark.parametrize(
    ("text", "metric", "operation", "comparator", "threshold"),
    [
        ("p95(command_ack) < 100ms", "p95", "command_ack", "<", 100.0),
        ("p95 < 2s", "p95", None, "<", 2000.0),
        ("p99.9(op=handoff) <= 1.5s", "p99.9", "handoff", "<=", 1500.0),
        ("p99_9 < 5min", "p99.9", None, "<", 300_000.0),
        ("error_rate < 0.1%", "error_rate", None, "<", 0.001),
        ("error_rate(handoff) < 0.01", "error_rate", "handoff", "<", 0.01),
        ("rate >= 1000 req/s", "rate", None, ">=", 1000.0),
        ("rate(workflow) >= 100/h", "rate", "workflow", ">=", 100 / 3600),
        ("cpu <= 80%", "cpu", None, "<=", 80.0),
        ("rss < 1GB", "rss", None, "<", 1000.0),  # decimal, as the monitor's rss_mb (bytes / 1e6)
        ("rss < 1GiB", "rss", None, "<", 1024**3 / 1e6),
        ("rss_growth < 1GB/day", "rss_growth", None, "<", 1000 / 24),
        ("queue_depth <= 1000", "queue_depth", None, "<=", 1000.0),
        ("dropped == 0", "dropped", None, "==", 0.0),
        ("p95 < 100 ms", "p95", None, "<", 100.0),
    ],
)
def test_good_rules_parse_into_canonical_units(
    text: str, metric: str, operation: str | None, comparator: str, threshold: float
) -> None:
    rule = parse_rule(text)
    assert (rule.metric, rule.operation, rule.comparator) == (metric, operation, comparator)
    assert rule.threshold == pytest.approx(threshold)
    assert rule.severity == "fail"


def test_windows_severity_and_hint() -> None:
    rule = parse_rule("cpu.max < 90% for 30s warn -- throttle background tasks")
    assert rule.aggregate == "max"
    assert rule.window == Window("for", 30.0)
    assert rule.severity == "warn"
    assert rule.hint == "throttle background tasks"
    within = parse_rule("p99(command_ack) < 1s within 1m")
    assert within.window == Window("within", 60.0)
    assert within.subject == "p99(command_ack)"


def test_cache_layers_by_filter_or_column_name() -> None:
    assert parse_rule("cache_hit_rate(l1) >= 80%").layer == "l1"
    assert parse_rule("cache_hit_rate_l3 >= 40%").layer == "l3"
    assert parse_rule("cache_hit_rate >= 0.6").threshold == pytest.approx(0.6)


def test_baseline_relative_threshold() -> None:
    rule = parse_rule("p95(handoff) <= 2x baseline")
    assert rule.baseline_factor == 2.0
    assert rule.threshold is None


def test_defaults_from_caller_yield_to_rule_text() -> None:
    assert parse_rule("p95 < 1s", severity="warn").severity == "warn"
    assert parse_rule("p95 < 1s fail", severity="warn").severity == "fail"
    assert parse_rule("p95 < 1s", hint="scale out").hint == "scale out"


@pytest.mark.parametrize(
    ("text", "fragment", "position"),
    [
        ("", "empty rule", 1),
        ("latency < 100ms", "unknown metric 'latency'", 1),
        ("p95 100ms", "expected a comparator", 5),
        ("p95 <", "expected a threshold", 6),
        ("p95 < 100", "p95 needs a unit", 10),
        ("p95 < 100MB", "unit 'MB' does not fit p95", 10),
        ("cpu < 5ms", "unit 'ms' does not fit cpu", 8),
        ("cpu(command_ack) < 80%", "cpu takes no operation filter", 4),
        ("cache_hit_rate(l7) > 50%", "layers are l1, l2, l3", 15),
        ("error_rate < 5", "write 5%", 14),
        ("p95 < 1s for", "expected a duration after 'for'", 13),
        ("p95 < 1s for 10", "a window needs a unit", 16),
        ("p95 < 1s within 0.5s", "at least 1s", 10),
        ("p95 < 1s sometimes", "unexpected text", 10),
        ("p95.max < 1s", "not an aggregate of p95", 1),
        ("rss_growth < 1MB/h for 10s", "takes no window", 1),
        ("p95(command_ack < 1s", "expected a filter", 4),
    ],
)
def test_bad_rules_name_the_rule_and_position(text: str, fragment: str, position: int) -> None:
    with pytest.raises(RuleError) as caught:
        parse_rule(text)
    message = str(caught.value)
    assert fragment in message
    assert repr(text) in message
    assert f"(at position {position})" in message
    assert caught.value.position == position - 1
