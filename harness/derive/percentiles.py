"""The one definition of a latency percentile: HdrHistogram's, with three significant digits.

Every percentile of latencies the harness reports — summary.json, the per-second columns of
timeseries.csv, windowed verdict rules, the point estimates of ``harness compare``, the report's
percentile curves and the live progress line — is computed here, so one run has one p95. HdrHistogram
is the definition because the run report, histograms.json and the live progress line already read
HdrHistograms; a second definition (nearest rank, numpy's interpolation) gave the same run two or
three different p95s.

The definition, exactly as ``hdrh``'s ``HdrHistogram.get_value_at_percentile(q)``:

- a latency of ``ms`` milliseconds is recorded as ``rint(ms * 1000)`` microseconds, clamped to
  [:data:`HDR_LOWEST_US`, :data:`HDR_HIGHEST_US`]; non-finite values are not recorded;
- of ``n`` recorded values, the q-percentile is the sample of 1-based rank
  ``max(1, int(min(q, 100) * n / 100 + 0.5))`` in sorted order (nearest rank, rounded half up);
- the value reported is the highest value equivalent to that sample in the histogram (the top of
  its bucket: at most 1 part in 2**10 above it with 3 significant digits); for ``q == 0`` the lowest.

:func:`micros_at`/:func:`values_at` compute it with a partition instead of a histogram walk, and
:func:`grouped_values_at` for many groups (seconds) at once with one sort; a property test holds them
equal to ``get_value_at_percentile``. The exact mean and the HDR max (``q = 100``) stay as the
summary has always reported them. Imports stay light (numpy + hdrh): the Locust process uses this
module for its live statistics.

Monitored series (CPU, RSS, queue depth) are not latencies and keep numpy's interpolated p95 in
summary.json's resources and in rolling monitor rules; compare's bootstrap uses numpy percentiles
only for the bounds of its confidence interval, never for a reported latency.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
from hdrh.histogram import HdrHistogram

#: Histogram range: 1 us .. 1 hour, three significant digits.
HDR_LOWEST_US = 1
HDR_HIGHEST_US = 3_600_000_000
HDR_DIGITS = 3

IntArray = np.ndarray
FloatArray = np.ndarray


def new_histogram() -> HdrHistogram:
    return HdrHistogram(HDR_LOWEST_US, HDR_HIGHEST_US, HDR_DIGITS)


_TEMPLATE = new_histogram()
#: Low bits of a value that select its sub-bucket; ``bit_length(value | mask) - _SUB_BITS`` is the
#: number of low bits one bucket spans (hdrh's ``bucket_index + unit_magnitude``).
_MASK = _TEMPLATE.sub_bucket_mask
_SUB_BITS = _TEMPLATE.sub_bucket_half_count_magnitude + 1


# ---------------------------------------------------------------- recording


def to_micros(values_ms: Iterable[float] | FloatArray) -> IntArray:
    """The finite values as the integers a histogram records (µs, rounded, clamped into range)."""
    arr = np.asarray(values_ms if isinstance(values_ms, np.ndarray) else list(values_ms), dtype=float)
    arr = arr[np.isfinite(arr)]
    micros: IntArray = np.clip(np.rint(arr * 1000.0), HDR_LOWEST_US, HDR_HIGHEST_US).astype(np.int64)
    return micros


def record(hist: HdrHistogram, values_ms: Iterable[float] | FloatArray) -> None:
    """Record the finite values; each distinct value once with its count (far faster than per sample)."""
    uniques, counts = np.unique(to_micros(values_ms), return_counts=True)
    for value, count in zip(uniques.tolist(), counts.tolist(), strict=True):
        hist.record_value(value, count)


def histogram_of(values_ms: Iterable[float] | FloatArray) -> HdrHistogram:
    """An HdrHistogram (microseconds) of the finite values, clamped into its range."""
    hist = new_histogram()
    record(hist, values_ms)
    return hist


def encode(hist: HdrHistogram) -> str:
    encoded = hist.encode()
    return encoded.decode("ascii") if isinstance(encoded, bytes) else str(encoded)


def decode(text: str) -> HdrHistogram:
    return HdrHistogram.decode(text.encode("ascii"))


# ---------------------------------------------------------------- bucket arithmetic


def _bucket_bits(micros: IntArray, mask: int = _MASK, sub_bits: int = _SUB_BITS) -> IntArray:
    # frexp's exponent is the bit length, exact for integers below 2**53.
    bit_length = np.frexp((micros | mask).astype(np.float64))[1].astype(np.int64)
    bits: IntArray = bit_length - sub_bits
    return bits


def lowest_equivalent(micros: IntArray) -> IntArray:
    """hdrh's ``get_lowest_equivalent_value``, vectorized: the bottom of each value's bucket."""
    micros = np.asarray(micros, dtype=np.int64)
    bits = _bucket_bits(micros)
    low: IntArray = (micros >> bits) << bits
    return low


def highest_equivalent(micros: IntArray) -> IntArray:
    """hdrh's ``get_highest_equivalent_value``, vectorized: the top of each value's bucket."""
    micros = np.asarray(micros, dtype=np.int64)
    bits = _bucket_bits(micros)
    high: IntArray = ((micros >> bits) << bits) + (np.int64(1) << bits) - 1
    return high


def ranks(n: int | IntArray, qs: Sequence[float] | FloatArray) -> IntArray:
    """1-based rank of the q-percentile among ``n`` values (hdrh's ``get_target_count_at_percentile``).

    ``n`` may be an array (one count per group): the result then has shape ``(len(n), len(qs))``.
    """
    q = np.minimum(np.asarray(qs, dtype=float), 100.0)
    count = np.asarray(n, dtype=np.int64)
    if count.ndim:
        count = count[:, None]
    rank: IntArray = np.minimum(np.maximum((q * count / 100 + 0.5).astype(np.int64), 1), np.maximum(count, 1))
    return rank


def _reported(picked: IntArray, qs: FloatArray) -> IntArray:
    """The value hdrh reports for the bucket of each picked sample: its top, its bottom for q = 0."""
    reported: IntArray = np.where(qs == 0, lowest_equivalent(picked), highest_equivalent(picked))
    return reported


# ---------------------------------------------------------------- percentiles of samples


def micros_at(micros: IntArray, qs: Sequence[float] | FloatArray) -> IntArray:
    """``histogram.get_value_at_percentile(q)`` for each q, from recorded values (µs); needs n ≥ 1."""
    q = np.asarray(qs, dtype=float)
    k = ranks(micros.size, q) - 1
    picked = np.partition(micros, np.unique(k))[k]
    return _reported(picked, q)


def values_at(values_ms: Iterable[float] | FloatArray, qs: Sequence[float] | FloatArray) -> FloatArray:
    """The HDR q-percentiles (ms) of the finite latencies, one per q; NaN when there are none."""
    micros = to_micros(values_ms)
    if micros.size == 0:
        return np.full(len(qs), np.nan)
    out: FloatArray = micros_at(micros, qs) / 1000.0
    return out


def grouped_values_at(
    groups: IntArray, values_ms: FloatArray, qs: Sequence[float] | FloatArray, n_groups: int
) -> FloatArray:
    """HDR q-percentiles (ms) per group, shape ``(n_groups, len(qs))``; NaN rows for empty groups.

    ``groups`` holds each value's group in ``[0, n_groups)`` (values outside are ignored), e.g. the
    second of the measured window. One sort serves every group and every q.
    """
    q = np.asarray(qs, dtype=float)
    out = np.full((n_groups, q.size), np.nan)
    values = np.asarray(values_ms, dtype=float)
    keep = np.isfinite(values) & (groups >= 0) & (groups < n_groups)
    group = np.asarray(groups)[keep].astype(np.int64)
    if group.size == 0:
        return out
    micros = to_micros(values[keep])
    order = np.lexsort((micros, group))
    counts = np.bincount(group, minlength=n_groups)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    present = counts > 0
    index = starts[present, None] + ranks(counts[present], q) - 1
    picked = micros[order][index]
    out[present] = _reported(picked, q[None, :]) / 1000.0
    return out


# ---------------------------------------------------------------- percentiles of a histogram


def hdr_values_at(hist: HdrHistogram, percentiles: Sequence[float] | FloatArray) -> FloatArray:
    """``hist.get_value_at_percentile`` (µs) for many percentiles at once; NaN for an empty histogram.

    For histograms already built (histograms.json): the counts array is read once and each target
    count is found with a binary search over its cumulative sum.
    """
    q = np.asarray(percentiles, dtype=float)
    counts = np.ctypeslib.as_array(hist.counts)[: hist.counts_len].astype(np.int64)
    nonzero = np.flatnonzero(counts)
    if nonzero.size == 0:
        return np.full(q.size, np.nan)
    cumulative = np.cumsum(counts[nonzero])
    positions = np.searchsorted(cumulative, ranks(int(cumulative[-1]), q), side="left")
    index = nonzero[np.minimum(positions, nonzero.size - 1)]
    half_bits = hist.sub_bucket_half_count_magnitude
    half = hist.sub_bucket_half_count
    bucket = (index >> half_bits) - 1
    sub_bucket = (index & (half - 1)) + half
    first = bucket < 0
    sub_bucket[first] -= half
    bucket[first] = 0
    value = sub_bucket << (bucket + hist.unit_magnitude)
    bits = _bucket_bits(value, hist.sub_bucket_mask, half_bits + 1)
    low = (value >> bits) << bits
    high = low + (np.int64(1) << bits) - 1
    out: FloatArray = np.where(q == 0, low, high).astype(float)
    return out
