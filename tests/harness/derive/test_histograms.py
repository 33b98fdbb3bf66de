"""histograms.json: encoded HdrHistograms per operation and per second."""

from __future__ import annotations

import numpy as np
import pytest

from harness.contract import rundir
from harness.derive.histograms import build_histograms
from harness.derive.percentiles import decode, histogram_of
from tests.harness.derive.samples import make_samples


def test_histograms_round_trip_through_encoding() -> None:
    frame = make_samples([float(v) for v in range(1, 1001)])
    hist = build_histograms(frame, window_start=1000.0)
    decoded = decode(hist.latency[rundir.OVERALL])
    assert decoded.get_total_count() == 1000
    assert decoded.get_value_at_percentile(50) == pytest.approx(500_000, rel=0.002)
    assert sum(decode(w["latency"]).get_total_count() for w in hist.windows) == 1000


def test_histogram_ignores_nan_and_clamps() -> None:
    hist = histogram_of(np.array([np.nan, 0.0, 5.0]))
    assert hist.get_total_count() == 2


def test_histograms_of_a_run_where_nothing_completed() -> None:
    frame = make_samples([10.0, 20.0])
    frame["error"] = "dropped"
    hist = build_histograms(frame, window_start=1000.0)
    assert decode(hist.latency[rundir.OVERALL]).get_total_count() == 0
    assert hist.windows == []
