"""Parsing of durations (``30s``, ``5m``, ``1h30m``, ``250ms`` or seconds), percentages and thresholds."""

from __future__ import annotations

import math
import re

_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)")
_NUMBER = re.compile(r"[+-]?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?")


def parse_duration(value: object) -> float:
    """Seconds from a number of seconds or a string such as ``30s``, ``5m``, ``1h30m``, ``250ms``."""
    if isinstance(value, bool):
        raise ValueError("expected a duration such as 30s, 5m, 1h30m or a number of seconds")
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str):
        seconds = _parse_duration_text(value.strip().lower())
    else:
        raise ValueError("expected a duration such as 30s, 5m, 1h30m or a number of seconds")
    if not math.isfinite(seconds) or seconds < 0:
        raise ValueError(f"duration must be a finite number >= 0, got {value!r}")
    return seconds


def _parse_duration_text(text: str) -> float:
    if _NUMBER.fullmatch(text):
        return float(text)
    pos, total = 0, 0.0
    for match in _PART.finditer(text):
        if match.start() != pos:
            break
        total += float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
        pos = match.end()
    if pos != len(text) or not text:
        raise ValueError(f"invalid duration {text!r} (use e.g. 30s, 5m, 1h, 1h30m, 250ms or seconds)")
    return total


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
