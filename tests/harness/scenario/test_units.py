"""The one quantity grammar (harness.contract.units): a scenario field and a rule accept the same
inputs, mean the same by them, and reject the same ones."""

import pytest

from harness.contract.units import parse_rate, parse_size
from harness.scenario import ScenarioError, parse_scenario_text
from harness.scenario.units import format_duration, parse_duration, parse_fraction
from harness.verdict.expect import ExpectError, expect_rules
from harness.verdict.rules import RuleError, parse_rule

#: every duration spelling, in seconds: the table both sides are held to.
DURATIONS = [
    ("250ms", 0.25),
    ("30s", 30),
    ("30sec", 30),
    ("5m", 300),
    ("5min", 300),
    ("2h", 7200),
    ("2hr", 7200),
    ("1d", 86400),
    ("1day", 86400),
    ("1h30m", 5400),
    ("2m30s", 150),
    ("1.5s", 1.5),
    ("1MIN", 60),
]
#: rejected by both sides (the old sides disagreed on 1d and 1min; now both accept them).
BAD_DURATIONS = ["5x", "m5", "1h 30m", "30s5", "1w", "1mo", "s", "1.s"]


def scenario_text(duration: str, p95: str, gate: str) -> str:
    return f"""\
name: units
load: {{model: open, rate: 5, duration: "{duration}"}}
mix: [{{name: health, method: GET, path: /v1/health}}]
expect: {{overall: {{p95: "{p95}"}}}}
gates: ["{gate}"]
"""


@pytest.mark.parametrize(("text", "seconds"), DURATIONS)
def test_a_duration_means_the_same_in_a_scenario_field_and_in_a_rule(text: str, seconds: float) -> None:
    scenario = parse_scenario_text(scenario_text(text, text, f"p95 < {text}"))
    assert scenario.load.duration == pytest.approx(seconds)
    (expect,) = expect_rules(scenario.model_dump())
    assert expect.rule.threshold == pytest.approx(seconds * 1000)
    window = text if seconds >= 1 else "1s"  # windows are at least 1 s
    rule = parse_rule(f"p95 < {text} within {window}")
    assert rule.threshold == pytest.approx(seconds * 1000)
    assert rule.window is not None and rule.window.seconds == pytest.approx(max(seconds, 1))
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("bad", BAD_DURATIONS)
def test_a_bad_duration_is_rejected_by_both_sides_in_one_line(bad: str) -> None:
    with pytest.raises(ScenarioError) as scenario_error:
        parse_scenario_text(scenario_text(bad, "1s", "p95 < 1s"))
    assert "load.duration" in str(scenario_error.value)
    with pytest.raises(ExpectError) as expect_error:
        expect_rules({"expect": {"overall": {"p95": bad}}})
    assert "\n" not in str(expect_error.value) and "expect.overall.p95" in str(expect_error.value)
    with pytest.raises(RuleError):
        parse_rule(f"p95 < {bad}")
    with pytest.raises(RuleError):
        parse_rule(f"p95 < 1s for {bad}")
    with pytest.raises(ValueError) as plain:
        parse_duration(bad)
    assert "\n" not in str(plain.value) and bad in str(plain.value)


def test_plain_numbers_are_seconds_in_a_scenario_and_need_a_unit_in_a_rule() -> None:
    assert parse_duration("12.5") == 12.5
    assert parse_duration(45) == 45
    with pytest.raises(RuleError, match="p95 needs a unit"):
        parse_rule("p95 < 100")  # 100 what: a silent 100 s for someone who meant ms is worse


@pytest.mark.parametrize("bad", ["", "-3", -1, True, None])
def test_not_a_duration(bad: object) -> None:
    with pytest.raises(ValueError):
        parse_duration(bad)


SIZES = [
    ("512KB", 512e3),
    ("100MB", 100e6),
    ("100 MB", 100e6),
    ("1GB", 1e9),
    ("1GiB", 1024**3),
    ("2kib", 2048),
]


@pytest.mark.parametrize(("text", "size_bytes"), SIZES)
def test_sizes_mean_the_same_to_parse_size_and_to_a_memory_rule(text: str, size_bytes: float) -> None:
    assert parse_size(text) == pytest.approx(size_bytes)
    assert parse_rule(f"rss < {text}").threshold == pytest.approx(size_bytes / 1e6)  # rss is in MB


GROWTH = [
    ("10MB/h", 10e6 / 3600),
    ("1GB/day", 1e9 / 86400),
    ("1GB/d", 1e9 / 86400),
    ("512KiB/min", 512 * 1024 / 60),
]


@pytest.mark.parametrize(("text", "bytes_per_s"), GROWTH)
def test_size_rates_mean_the_same_to_parse_rate_and_to_a_growth_rule(text: str, bytes_per_s: float) -> None:
    assert parse_rate(text) == (pytest.approx(bytes_per_s), "size")
    rule = parse_rule(f"storage_growth < {text}")
    assert rule.threshold == pytest.approx(bytes_per_s * 3600 / 1e6)  # growth is in MB/h
    assert parse_scenario_text(scenario_text("1s", "1s", f"rss_growth < {text}")).gates == [
        f"rss_growth < {text}"
    ]


COUNT_RATES = [("5/s", 5), ("5 req/s", 5), ("300/min", 5), ("rps", None), ("18000/h", 5), ("432000/day", 5)]


@pytest.mark.parametrize(("text", "per_s"), [r for r in COUNT_RATES if r[1] is not None])
def test_request_rates_mean_the_same_to_parse_rate_and_to_a_rate_rule(text: str, per_s: float) -> None:
    assert parse_rate(text) == (pytest.approx(per_s), "count")
    assert parse_rule(f"rate >= {text}").threshold == pytest.approx(per_s)


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        ("rate >= 5MB/s", "does not fit rate"),
        ("rss_growth < 10/h", "does not fit rss_growth"),
        ("rss < 10MB/h", "does not fit rss"),
        ("storage_growth < 1GB/week", "does not fit storage_growth"),
    ],
)
def test_a_unit_of_the_wrong_kind_is_refused(rule: str, message: str) -> None:
    with pytest.raises(RuleError, match=message):
        parse_rule(rule)


@pytest.mark.parametrize(
    ("parse", "bad"), [(parse_size, "5 parsecs"), (parse_size, "-1MB"), (parse_rate, "5/week")]
)
def test_bad_sizes_and_rates_are_one_line(parse: object, bad: str) -> None:
    with pytest.raises(ValueError) as info:
        parse(bad)  # type: ignore[operator]
    assert "\n" not in str(info.value) and repr(bad) in str(info.value)


def test_fractions_in_a_scenario_and_a_rule() -> None:
    assert parse_fraction("0.1%") == pytest.approx(0.001)
    assert parse_fraction(0.05) == pytest.approx(0.05)
    (rule,) = expect_rules({"expect": {"overall": {"error_rate": "0.1%"}}})
    assert rule.rule.threshold == pytest.approx(parse_rule("error_rate < 0.1%").threshold or 0) == 0.001
    for bad in ("150%", "abc%"):
        with pytest.raises(ValueError):
            parse_fraction(bad)
        with pytest.raises(ExpectError):
            expect_rules({"expect": {"overall": {"error_rate": bad}}})


def test_format_duration() -> None:
    assert format_duration(5400) == "1h30m"
    assert format_duration(36) == "36s"
    assert format_duration(0.25) == "250ms"
