import pytest

from harness.scenario.units import format_duration, parse_duration, parse_fraction


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("30s", 30),
        ("5m", 300),
        ("1h", 3600),
        ("1h30m", 5400),
        ("250ms", 0.25),
        (45, 45),
        ("12.5", 12.5),
        ("2m30s", 150),
    ],
)
def test_durations(text, seconds):
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("bad", ["", "5x", "m5", "1h 30m", "-3", -1, True, None, "30s5"])
def test_bad_durations(bad):
    with pytest.raises(ValueError):
        parse_duration(bad)


def test_fractions():
    assert parse_fraction("0.1%") == pytest.approx(0.001)
    assert parse_fraction(0.05) == pytest.approx(0.05)
    with pytest.raises(ValueError):
        parse_fraction("150%")
    with pytest.raises(ValueError):
        parse_fraction("abc%")


def test_format_duration():
    assert format_duration(5400) == "1h30m"
    assert format_duration(36) == "36s"
    assert format_duration(0.25) == "250ms"
