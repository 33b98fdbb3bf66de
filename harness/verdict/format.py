"""Human-readable values in a metric's canonical unit (shared by gate outputs and the report)."""

from __future__ import annotations

import math

from harness.verdict.metrics import Kind


def _sig(value: float, digits: int = 3) -> str:
    if value == 0:
        return "0"
    text = f"{value:.{digits}g}"
    if "e" in text:  # 12300 -> "1.23e+04": print the integer instead
        return f"{value:,.0f}"
    return text


def format_ms(value: float) -> str:
    if value < 1000:
        return f"{_sig(value)} ms"
    if value < 60_000:
        return f"{_sig(value / 1000)} s"
    if value < 3_600_000:
        return f"{_sig(value / 60_000)} min"
    return f"{_sig(value / 3_600_000)} h"


def format_value(kind: Kind, value: float | None, per_hour: bool = False) -> str:
    """``per_hour``: show a rate per hour (when the threshold is one, e.g. workflows/hour)."""
    if value is None or not math.isfinite(value):
        return "—"
    if kind is Kind.RATE and per_hour:
        return f"{_sig(value * 3600)}/h"
    if kind is Kind.TIME:
        return format_ms(value)
    if kind is Kind.RATIO:
        return f"{_sig(value * 100)}%"
    if kind is Kind.PERCENT:
        return f"{_sig(value)}%"
    if kind is Kind.MEMORY:
        return f"{_sig(value / 1024)} GB" if value >= 1024 else f"{_sig(value)} MB"
    if kind is Kind.RATE:
        return f"{_sig(value * 3600)}/h" if 0 < value < 0.1 else f"{_sig(value)} req/s"
    if kind is Kind.GROWTH:
        return f"{_sig(value)} MB/h"
    return f"{value:,.0f}" if float(value).is_integer() else _sig(value)
