"""Change points in a series of nightly results: ruptures segmentation + a t-test filter.

Two steps, in the spirit of Apache Otava (formerly Hunter) but on a well-kept library:

1. **Candidates** from ``ruptures`` (binary segmentation on a least-squares cost, ``model="l2"``)
   with a BIC-style penalty ``2 * sigma^2 * log(n)``, where ``sigma`` is a robust estimate of the
   point-to-point noise (MAD of first differences / sqrt(2)) so one outlier or one step does not
   inflate it.
2. **Significance**: every candidate is tested with a two-sample t-test between the segment before
   it and the segment after it (bounded by the neighbouring candidates), its spread floored at the
   series' robust noise level. The least significant
   candidate with p >= ``alpha`` or with a relative change below ``min_magnitude`` is removed and
   the rest re-tested, until every remaining change point is significant — the same pruning loop
   Otava applies to E-Divisive's candidates.

See docs/regressions.md for why this and not E-Divisive itself.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import ruptures as rpt
from scipy import stats as sps

DEFAULT_ALPHA = 0.001  # Otava's default max p-value
DEFAULT_MIN_MAGNITUDE = 0.02
DEFAULT_MIN_SIZE = 3


@dataclass(frozen=True)
class ChangePoint:
    index: int  # first point of the new segment
    before_mean: float
    after_mean: float
    change: float  # relative change of the segment means
    p_value: float

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def robust_sigma(values: np.ndarray) -> float:
    diffs = np.diff(values)
    if diffs.size == 0:
        return 0.0
    mad = float(np.median(np.abs(diffs - np.median(diffs))))
    sigma = 1.4826 * mad / math.sqrt(2.0)
    return sigma if sigma > 0 else float(np.std(values))


def candidate_breaks(values: np.ndarray, min_size: int) -> list[int]:
    """ruptures' binary segmentation; returns segment start indices (excluding 0)."""
    n = values.size
    if n < 2 * min_size:
        return []
    sigma = robust_sigma(values)
    if sigma == 0:
        return []
    penalty = 2.0 * sigma**2 * math.log(n)
    algo = rpt.Binseg(model="l2", min_size=min_size, jump=1).fit(values.reshape(-1, 1))
    return [int(b) for b in algo.predict(pen=penalty) if b < n]


def segment_p_value(left: np.ndarray, right: np.ndarray, sigma_floor: float) -> float:
    """Two-sample t-test whose standard deviation is floored at the series' robust noise level.

    A short segment can have an accidentally tiny spread (three near-equal points), which makes a
    plain Welch test call a 5% wobble "p = 1e-9"; flooring the spread at the noise measured over the
    whole series keeps such segments honest.
    """
    n1, n2 = left.size, right.size
    if n1 < 2 or n2 < 2:
        return 1.0
    pooled = math.sqrt(((n1 - 1) * left.var(ddof=1) + (n2 - 1) * right.var(ddof=1)) / (n1 + n2 - 2))
    sd = max(pooled, sigma_floor)
    diff = float(right.mean() - left.mean())
    if sd == 0:
        return 1.0 if diff == 0 else 0.0
    t = diff / (sd * math.sqrt(1.0 / n1 + 1.0 / n2))
    return float(2.0 * sps.t.sf(abs(t), df=n1 + n2 - 2))


def _evaluate(values: np.ndarray, breaks: list[int], i: int, sigma: float) -> ChangePoint:
    edges = [0, *breaks, values.size]
    left, right = values[edges[i] : edges[i + 1]], values[edges[i + 1] : edges[i + 2]]
    before, after = float(left.mean()), float(right.mean())
    change = (after - before) / abs(before) if before != 0 else math.inf
    return ChangePoint(breaks[i], before, after, change, segment_p_value(left, right, sigma))


def detect(
    values: list[float] | np.ndarray,
    *,
    alpha: float = DEFAULT_ALPHA,
    min_magnitude: float = DEFAULT_MIN_MAGNITUDE,
    min_size: int = DEFAULT_MIN_SIZE,
) -> list[ChangePoint]:
    """Significant change points of a series (NaN points must be removed by the caller)."""
    arr = np.asarray(values, dtype=float)
    breaks = candidate_breaks(arr, min_size)
    sigma = robust_sigma(arr)
    while breaks:
        points = [_evaluate(arr, breaks, i, sigma) for i in range(len(breaks))]
        weakest = max(
            range(len(points)), key=lambda i: (_weak(points[i], alpha, min_magnitude), points[i].p_value)
        )
        if not _weak(points[weakest], alpha, min_magnitude):
            return points
        breaks.pop(weakest)
    return []


def _weak(point: ChangePoint, alpha: float, min_magnitude: float) -> bool:
    return point.p_value >= alpha or abs(point.change) < min_magnitude
