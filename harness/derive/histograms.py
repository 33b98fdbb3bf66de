"""Samples → encoded HdrHistograms (histograms.json): per operation, overall, and per second.

The histograms hold the recorded values of :mod:`harness.derive.percentiles`, so a percentile read
off them (the report's curves) is the one the summary and timeseries.csv give.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from harness.contract.rundir import OVERALL, HistogramSet
from harness.derive.percentiles import encode, histogram_of
from harness.derive.samples import split_dropped, window_seconds


def build_histograms(samples: pd.DataFrame, *, window_start: float) -> HistogramSet:
    done, _ = split_dropped(samples)
    latency = {OVERALL: encode(histogram_of(done["latency_ms"].to_numpy(dtype=float)))}
    service = {OVERALL: encode(histogram_of(done["service_ms"].to_numpy(dtype=float)))}
    for op, group in done.groupby("operation", sort=True):
        latency[str(op)] = encode(histogram_of(group["latency_ms"].to_numpy(dtype=float)))
        service[str(op)] = encode(histogram_of(group["service_ms"].to_numpy(dtype=float)))
    windows = []
    seconds = window_seconds(done["ts"], window_start)
    lat = done["latency_ms"].to_numpy(dtype=float)
    order = np.argsort(seconds, kind="stable")
    seconds, lat = seconds[order], lat[order]
    uniques, starts = np.unique(seconds, return_index=True)
    ends = [*starts[1:].tolist(), len(seconds)] if len(starts) else []
    for second, lo, hi in zip(uniques.tolist(), starts.tolist(), ends, strict=True):
        windows.append({"t": int(second), "latency": encode(histogram_of(lat[lo:hi]))})
    return HistogramSet(latency=latency, service=service, windows=windows)
