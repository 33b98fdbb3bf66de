"""Durations and fractions of a scenario: the one grammar lives in ``harness.contract.units``
(rules parse their thresholds with it too); this module keeps the scenario's import path."""

from __future__ import annotations

from harness.contract.units import format_duration, parse_duration, parse_fraction, parse_rate, parse_size

__all__ = ["format_duration", "parse_duration", "parse_fraction", "parse_rate", "parse_size"]
