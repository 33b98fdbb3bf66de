"""The one grammar of quantities, shared by scenarios, rules and the command line.

* durations: ``250ms``, ``30s``/``30sec``, ``5m``/``5min``, ``2h``/``2hr``, ``1d``/``1day``, compound
  ``1h30m`` (no spaces inside), or a plain number of seconds;
* sizes: ``B``, ``KB``/``MB``/``GB``/``TB`` (powers of 1000, as the monitor's ``rss_mb``) and
  ``KiB``/``MiB``/``GiB``/``TiB`` (powers of 1024);
* rates: an amount per period, ``5/s``, ``5 req/s``, ``300/min``, ``rps``, ``10MB/h``, ``1GB/day``
  (the period is any duration unit);
* fractions: ``0.1%`` or a bare fraction ``0.001``.

Units are case-insensitive. Every error is one line naming the value and what would be accepted.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Literal

#: seconds per duration unit (also the periods of a rate).
DURATION_UNITS: dict[str, float] = {
    "ms": 0.001,
    "s": 1.0,
    "sec": 1.0,
    "m": 60.0,
    "min": 60.0,
    "h": 3600.0,
    "hr": 3600.0,
    "d": 86400.0,
    "day": 86400.0,
}
#: bytes per size unit.
SIZE_UNITS: dict[str, float] = {
    "b": 1.0,
    "kb": 1e3,
    "mb": 1e6,
    "gb": 1e9,
    "tb": 1e12,
    "kib": 1024.0,
    "mib": 1024.0**2,
    "gib": 1024.0**3,
    "tib": 1024.0**4,
}
#: what a rate may count besides bytes: requests (``req/s``) or plain events (``/s``).
_COUNT_WORDS = ("", "req")

DURATION_HELP = "use e.g. 250ms, 30s, 5min, 2h, 1d, 1h30m or a number of seconds"
SIZE_HELP = "use e.g. 512KB, 100MB, 1GB, 1GiB or a number of bytes"
RATE_HELP = "use e.g. 5/s, 5 req/s, 300/min, 10MB/h, 1GB/day"

_NUMBER_TEXT = r"[0-9]+(?:\.[0-9]+)?"
_DURATION_UNIT_TEXT = "|".join(sorted(DURATION_UNITS, key=len, reverse=True))
#: one duration with units, compound allowed: ``1h30m``; rules scan thresholds and windows with it.
DURATION_TEXT = re.compile(rf"(?:{_NUMBER_TEXT}(?:{_DURATION_UNIT_TEXT}))+(?![A-Za-z])", re.IGNORECASE)
_DURATION_PART = re.compile(rf"({_NUMBER_TEXT})({_DURATION_UNIT_TEXT})", re.IGNORECASE)
_NUMBER = re.compile(r"[+-]?[0-9]+(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?")
_AMOUNT = re.compile(r"\s*([+-]?[0-9]+(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?)\s*(.*)", re.DOTALL)


@dataclass(frozen=True)
class RateUnit:
    """A rate unit: what it counts and the factor to that amount's base unit per second."""

    amount: Literal["count", "size"]
    per_second: float  # value x per_second = requests (or bytes) per second


def duration_unit(unit: str) -> float | None:
    """Seconds in one ``unit`` (``min`` -> 60), None when it is not a duration unit."""
    return DURATION_UNITS.get(unit.strip().lower())


def size_unit(unit: str) -> float | None:
    """Bytes in one ``unit`` (``MB`` -> 1e6), None when it is not a size unit."""
    return SIZE_UNITS.get(unit.strip().lower())


def rate_unit(unit: str) -> RateUnit | None:
    """``/s``, ``req/min``, ``rps``, ``MB/h``, ``GB/day`` ...; None when it is not a rate unit."""
    text = unit.strip().lower()
    if text == "rps":
        return RateUnit("count", 1.0)
    amount, slash, period = text.partition("/")
    seconds = duration_unit(period) if slash else None
    if seconds is None:
        return None
    if amount.strip() in _COUNT_WORDS:
        return RateUnit("count", 1.0 / seconds)
    size = size_unit(amount)
    return None if size is None else RateUnit("size", size / seconds)


def parse_duration(value: object) -> float:
    """Seconds from a number of seconds or a string such as ``30s``, ``5min``, ``1h30m``, ``250ms``."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValueError(f"expected a duration, got {value!r} ({DURATION_HELP})")
    seconds = float(value) if not isinstance(value, str) else _duration_text(value.strip())
    if not math.isfinite(seconds) or seconds < 0:
        raise ValueError(f"duration must be a finite number >= 0, got {value!r}")
    return seconds


def _duration_text(text: str) -> float:
    if _NUMBER.fullmatch(text):
        return float(text)
    if not DURATION_TEXT.fullmatch(text):
        raise ValueError(f"invalid duration {text!r} ({DURATION_HELP})")
    return sum(float(n) * DURATION_UNITS[u.lower()] for n, u in _DURATION_PART.findall(text))


def parse_size(value: object) -> float:
    """Bytes from a number of bytes or a string such as ``512KB``, ``100 MB``, ``1GiB``."""
    number, unit = _split_amount(value, "size", SIZE_HELP)
    scale = 1.0 if not unit else size_unit(unit)
    if scale is None or number < 0:
        raise ValueError(f"invalid size {value!r} ({SIZE_HELP})")
    return number * scale


def parse_rate(value: object) -> tuple[float, Literal["count", "size"]]:
    """Per second, with what is counted: ``"300/min"`` -> (5.0, "count"), ``"36MB/h"`` -> (1e4, "size").
    A plain number is a count per second."""
    number, unit = _split_amount(value, "rate", RATE_HELP)
    found = RateUnit("count", 1.0) if not unit else rate_unit(unit)
    if found is None or number < 0:
        raise ValueError(f"invalid rate {value!r} ({RATE_HELP})")
    return number * found.per_second, found.amount


def _split_amount(value: object, what: str, help_text: str) -> tuple[float, str]:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValueError(f"expected a {what}, got {value!r} ({help_text})")
    if not isinstance(value, str):
        number, unit = float(value), ""
    else:
        match = _AMOUNT.fullmatch(value)
        if match is None:
            raise ValueError(f"invalid {what} {value!r} ({help_text})")
        number, unit = float(match.group(1)), match.group(2).strip()
    if not math.isfinite(number):
        raise ValueError(f"{what} must be a finite number, got {value!r}")
    return number, unit


def parse_fraction(value: object) -> float:
    """A fraction 0..1 from ``0.1%`` (percent) or a bare number (already a fraction)."""
    if isinstance(value, bool):
        raise ValueError("expected a percentage such as 0.1% or a fraction such as 0.001")
    if isinstance(value, int | float):
        result = float(value)
    elif isinstance(value, str) and value.strip().endswith("%"):
        text = value.strip()[:-1].strip()
        if not _NUMBER.fullmatch(text):
            raise ValueError(f"invalid percentage {value!r}")
        result = float(text) / 100.0
    elif isinstance(value, str) and _NUMBER.fullmatch(value.strip()):
        result = float(value.strip())
    else:
        raise ValueError(f"invalid percentage {value!r} (use e.g. 0.1% or 0.001)")
    if not 0.0 <= result <= 1.0:
        raise ValueError(f"fraction must be within 0..1 (0%..100%), got {value!r}")
    return result


def format_duration(seconds: float) -> str:
    """Short human form: 36s, 5m, 1h30m, 250ms."""
    if seconds < 1:
        return f"{seconds * 1000:.0f}ms"
    whole = round(seconds)
    if abs(seconds - whole) > 0.05:
        return f"{seconds:.1f}s"
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    parts = [f"{hours}h" if hours else "", f"{minutes}m" if minutes else "", f"{secs}s" if secs else ""]
    return "".join(parts) or "0s"
