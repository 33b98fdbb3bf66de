"""Statistics for comparing two sets of runs: bootstrap intervals and significance tests.

Everything here is pure (arrays in, numbers out) and seeded, so the same inputs always give the
same verdict.

Percentiles follow the one definition of :mod:`harness.derive.percentiles` (HdrHistogram's): the
point estimate :func:`percentile` is the value summary.json reports for the same samples, and every
bootstrap replicate takes the sample of the same rank (``max(1, int(q * n / 100 + 0.5))`` of the
replicate's n values) and reports the top of its HDR bucket, so the intervals are centred on the
number that is printed.

Percentile intervals use an exact shortcut of the i.i.d. bootstrap: resampling n values from the
empirical distribution and taking the k-th smallest is the same as taking the empirical quantile
function at U(k), the k-th order statistic of n uniforms, and U(k) ~ Beta(k, n + 1 - k). So one
bootstrap replicate of a percentile costs one Beta draw instead of a resample and a sort of n
values, and 10,000 replicates of a 1,000,000-sample run take milliseconds. Bucketing commutes with
sorting (it is monotone), so the shortcut reads the bucketed sorted values directly.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy import stats as sps

from harness.derive.percentiles import highest_equivalent, ranks, to_micros, values_at

FloatArray = np.ndarray


@dataclass(frozen=True)
class Interval:
    low: float
    high: float

    def excludes_zero(self) -> bool:
        return self.low > 0.0 or self.high < 0.0


def relative_change(base: float | None, new: float | None) -> float | None:
    """(new - base) / base; None when either side is missing or the base is zero."""
    if base is None or new is None or not math.isfinite(base) or not math.isfinite(new) or base == 0:
        return None
    return (new - base) / base


def finite(values: FloatArray) -> FloatArray:
    arr = np.asarray(values, dtype=float)
    out: FloatArray = arr[np.isfinite(arr)]
    return out


def order_index(n: int, q: float) -> int:
    """1-based rank of the q-percentile among n values (HdrHistogram's rank)."""
    return int(ranks(n, [q])[0])


def percentile(values: FloatArray, q: float) -> float | None:
    """The q-percentile (ms) of the finite values, as summary.json reports it; None when empty."""
    value = float(values_at(finite(values), [q])[0])
    return None if math.isnan(value) else value


def hdr_sorted(values: FloatArray) -> FloatArray:
    """The finite values sorted and reported as HDR reports a sample (ms, top of its bucket).

    Element ``k - 1`` is the HDR percentile whose rank is ``k`` (for q > 0).
    """
    reported: FloatArray = highest_equivalent(np.sort(to_micros(finite(values)))) / 1000.0
    return reported


def bootstrap_percentile(
    sorted_values: FloatArray, q: float, n_boot: int, rng: np.random.Generator
) -> FloatArray:
    """``n_boot`` bootstrap replicates of the q-percentile of an already sorted sample.

    Pass :func:`hdr_sorted` values for replicates by the HDR definition.
    """
    n = sorted_values.size
    k = order_index(n, q)
    u = rng.beta(k, n + 1 - k, size=n_boot)
    idx = np.minimum((u * n).astype(np.int64), n - 1)
    return sorted_values[idx]


def percentile_change_ci(
    base: FloatArray, new: FloatArray, q: float, *, confidence: float, n_boot: int, seed: int
) -> Interval | None:
    """Bootstrap interval of the relative change of the q-percentile from ``base`` to ``new``."""
    b, n = hdr_sorted(base), hdr_sorted(new)
    if b.size == 0 or n.size == 0:
        return None
    rng = np.random.default_rng(seed)
    rb = bootstrap_percentile(b, q, n_boot, rng)
    rn = bootstrap_percentile(n, q, n_boot, rng)
    valid = rb > 0
    if not valid.any():
        return None
    ratios = rn[valid] / rb[valid] - 1.0
    return bootstrap_interval(ratios, confidence)


def bootstrap_interval(replicates: FloatArray, confidence: float) -> Interval:
    """The percentile interval (central ``confidence``) of bootstrap replicates."""
    tail = (1.0 - confidence) / 2.0 * 100.0
    low, high = np.percentile(replicates, [tail, 100.0 - tail])
    return Interval(float(low), float(high))


def block_bootstrap_change_ci(
    base_blocks: FloatArray,
    new_blocks: FloatArray,
    batch_statistic: Callable[[FloatArray], FloatArray],
    *,
    confidence: float,
    n_boot: int,
    seed: int,
) -> Interval | None:
    """Interval of the relative change of a statistic, resampling whole blocks (e.g. seconds).

    ``*_blocks`` has one row per block (1-D: one value per block; 2-D: several columns kept
    together, such as CPU seconds and requests of the same second). A replicate draws as many
    blocks as there are, with replacement; ``batch_statistic`` maps an array of replicates
    (shape ``(replicates, blocks, ...)``) to one value per replicate. Keeping blocks whole keeps
    the autocorrelation inside a second.
    """
    rng = np.random.default_rng(seed)
    rb = _block_replicates(base_blocks, batch_statistic, n_boot, rng)
    rn = _block_replicates(new_blocks, batch_statistic, n_boot, rng)
    if rb is None or rn is None:
        return None
    valid = np.isfinite(rb) & np.isfinite(rn) & (rb != 0)
    if not valid.any():
        return None
    return bootstrap_interval(rn[valid] / rb[valid] - 1.0, confidence)


#: Elements materialised per chunk of replicates (bounds memory for day-long runs).
_CHUNK_ELEMENTS = 2_000_000


def _block_replicates(
    blocks: FloatArray,
    batch_statistic: Callable[[FloatArray], FloatArray],
    n_boot: int,
    rng: np.random.Generator,
) -> FloatArray | None:
    count = len(blocks)
    if count == 0:
        return None
    per_replicate = max(1, blocks.size)
    chunk = max(1, _CHUNK_ELEMENTS // per_replicate)
    parts = []
    for start in range(0, n_boot, chunk):
        size = min(chunk, n_boot - start)
        picks = rng.integers(0, count, size=(size, count))
        parts.append(np.asarray(batch_statistic(blocks[picks]), dtype=float))
    return np.concatenate(parts)


def mann_whitney_p(base: FloatArray, new: FloatArray) -> float | None:
    """Two-sided Mann-Whitney U p-value; None when a side is empty or everything is tied."""
    b, n = finite(base), finite(new)
    if b.size == 0 or n.size == 0:
        return None
    if np.ptp(np.concatenate([b, n])) == 0:
        return 1.0
    result = sps.mannwhitneyu(b, n, alternative="two-sided", method="asymptotic")
    return float(result.pvalue)


def two_proportion_p(base_hits: int, base_n: int, new_hits: int, new_n: int) -> float | None:
    """Fisher's exact test on a 2x2 table (errors vs successes in each run set)."""
    if base_n <= 0 or new_n <= 0:
        return None
    if base_hits == 0 and new_hits == 0:
        return 1.0
    table = [[base_hits, base_n - base_hits], [new_hits, new_n - new_hits]]
    return float(sps.fisher_exact(table).pvalue)


def proportion_change_ci(
    base_hits: int, base_n: int, new_hits: int, new_n: int, *, confidence: float, n_boot: int, seed: int
) -> Interval | None:
    """Bootstrap interval of the *absolute* change of a proportion (binomial resampling)."""
    if base_n <= 0 or new_n <= 0:
        return None
    rng = np.random.default_rng(seed)
    pb = rng.binomial(base_n, base_hits / base_n, size=n_boot) / base_n
    pn = rng.binomial(new_n, new_hits / new_n, size=n_boot) / new_n
    return bootstrap_interval(pn - pb, confidence)


def welch_p(base: FloatArray, new: FloatArray) -> float | None:
    """Welch's t-test p-value; None with fewer than two values on a side."""
    b, n = finite(base), finite(new)
    if b.size < 2 or n.size < 2:
        return None
    if np.ptp(np.concatenate([b, n])) == 0:
        return 1.0
    return float(sps.ttest_ind(b, n, equal_var=False).pvalue)


def coefficient_of_variation(values: list[float]) -> float | None:
    """Sample standard deviation / mean; None with fewer than two values."""
    arr = finite(np.asarray(values, dtype=float))
    if arr.size < 2 or arr.mean() == 0:
        return None
    return float(arr.std(ddof=1) / arr.mean())


def _two_stage_replicates(
    runs: list[FloatArray], q: float, n_boot: int, rng: np.random.Generator
) -> FloatArray:
    """Replicates of the mean per-run q-percentile: resample runs, then samples within each run."""
    per_run = np.vstack([bootstrap_percentile(hdr_sorted(r), q, n_boot, rng) for r in runs])
    picks = rng.integers(0, len(runs), size=(n_boot, len(runs)))
    replicates: FloatArray = per_run[picks, np.arange(n_boot)[:, None]].mean(axis=1)
    return replicates


def repeated_percentile_change_ci(
    base_runs: list[FloatArray],
    new_runs: list[FloatArray],
    q: float,
    *,
    confidence: float,
    n_boot: int,
    seed: int,
) -> Interval | None:
    """Two-stage bootstrap interval for repeats: the run-to-run spread widens the interval.

    Pooling repeats and resampling samples alone would treat 3 x 6,000 requests as 18,000
    independent ones and ignore that whole runs shift together (machine state, warm-up); resampling
    the runs first carries that between-run variance into the interval.
    """
    base = [r for r in base_runs if finite(r).size]
    new = [r for r in new_runs if finite(r).size]
    if not base or not new:
        return None
    rng = np.random.default_rng(seed)
    rb = _two_stage_replicates(base, q, n_boot, rng)
    rn = _two_stage_replicates(new, q, n_boot, rng)
    valid = rb > 0
    return bootstrap_interval(rn[valid] / rb[valid] - 1.0, confidence) if valid.any() else None


def _window_percentile_replicates(
    latencies: FloatArray, seconds: np.ndarray, qs: tuple[float, ...], n_boot: int, rng: np.random.Generator
) -> FloatArray:
    """Replicates (n_boot, len(qs)) of percentiles when whole one-second windows are resampled.

    A replicate draws as many seconds as the run has, with replacement; a request weighs as many
    times as its second was drawn, and the percentile is read off the weighted cumulative count of
    the latencies in sorted order (no resorting per replicate), with the HDR rank and bucket.
    """
    order = np.argsort(latencies, kind="stable")
    lat_sorted = hdr_sorted(latencies[order])
    _, window_of = np.unique(seconds[order], return_inverse=True)
    count = int(window_of.max()) + 1
    out = np.empty((n_boot, len(qs)))
    chunk = max(1, _CHUNK_ELEMENTS // max(1, lat_sorted.size))
    for start in range(0, n_boot, chunk):
        size = min(chunk, n_boot - start)
        draws = rng.multinomial(count, np.full(count, 1.0 / count), size=size)
        cumulative = np.cumsum(draws.astype(np.int32)[:, window_of], axis=1, dtype=np.int32)
        total = cumulative[:, -1]
        for j, q in enumerate(qs):
            rank = ranks(total, [q])[:, 0]
            idx = np.minimum((cumulative < rank[:, None]).sum(axis=1), lat_sorted.size - 1)
            out[start : start + size, j] = lat_sorted[idx]
    return out


def window_percentile_change_ci(
    base: tuple[FloatArray, np.ndarray],
    new: tuple[FloatArray, np.ndarray],
    qs: tuple[float, ...],
    *,
    confidence: float,
    n_boot: int,
    seed: int,
) -> list[Interval | None]:
    """Intervals of the relative change of several percentiles, resampling one-second windows.

    ``base``/``new`` are (latencies, second index of each latency). Requests of the same second share
    its conditions (a GC pause, a noisy neighbour, a queue); resampling seconds rather than requests
    keeps that correlation, so a burst that slowed a few seconds widens the interval instead of
    passing for a shift of the whole run.
    """
    lat_b, sec_b = base
    lat_n, sec_n = new
    keep_b, keep_n = np.isfinite(lat_b), np.isfinite(lat_n)
    if not keep_b.any() or not keep_n.any():
        return [None for _ in qs]
    rng = np.random.default_rng(seed)
    rb = _window_percentile_replicates(lat_b[keep_b], sec_b[keep_b], qs, n_boot, rng)
    rn = _window_percentile_replicates(lat_n[keep_n], sec_n[keep_n], qs, n_boot, rng)
    out: list[Interval | None] = []
    for j in range(len(qs)):
        valid = rb[:, j] > 0
        out.append(bootstrap_interval(rn[valid, j] / rb[valid, j] - 1.0, confidence) if valid.any() else None)
    return out


# ---------------------------------------------------------------- power: MDE and minimum samples


def normal_quantile(p: float) -> float:
    """z such that P(Z <= z) = p for a standard normal Z."""
    return float(sps.norm.ppf(p))


def minimum_detectable_effect(low: float, high: float, *, alpha: float, power: float = 0.95) -> float:
    """The smallest change a test at level ``alpha`` detects with probability ``power``.

    ``[low, high]`` is the (1 - alpha) interval of the change. Shortcut: treat the estimate of the
    change as normal, so the interval's half-width is z_{1-alpha/2}·SE and
    SE ≈ (high - low) / (2·z_{1-alpha/2}). A two-sided test at level alpha rejects when
    |estimate| > z_{1-alpha/2}·SE; a true change d is rejected with probability ≈ Φ(d/SE - z_{1-alpha/2}),
    which equals ``power`` at d = (z_{1-alpha/2} + z_{power})·SE — the textbook MDE (e.g. Bloom 1995,
    "Minimum detectable effects"). The percentile bootstrap is not exactly normal (ratios of skewed
    quantiles), so this is an approximation of the spread, the same order as the interval itself;
    the result is in the units of the interval (relative change, or percentage points).
    """
    se = (high - low) / (2.0 * normal_quantile(1.0 - alpha / 2.0))
    return mde_from_se(se, alpha=alpha, power=power)


def minimum_samples_for_percentile(q: float, *, tail: float = 3.0, floor: int = 20) -> int:
    """Fewest samples per side for the q-percentile to be compared: max(floor, ceil(tail / (1 - q/100))).

    Rank argument: n samples put Binomial(n, 1 - q/100) of them above the true q-quantile. With an
    expected ``tail`` = 3 of them (≈ -ln 0.05), the chance that none lies above it — so that the
    reported percentile is merely the sample maximum, an estimate of nothing — is
    (q/100)^n ≈ e^-3 ≈ 5 %: p95 needs 60 samples, p99 300. The ``floor`` of 20 serves the median,
    for which the tail rule gives 6: below about 20 per side Mann-Whitney's normal approximation and
    a bootstrap over a handful of one-second windows both stop meaning much.
    """
    if not 0.0 < q < 100.0:
        raise ValueError(f"percentile must be within (0, 100), got {q}")
    return max(floor, math.ceil(tail / (1.0 - q / 100.0) - 1e-9))


# ---------------------------------------------------------------- paired (duet) comparisons


def block_weights(n_blocks: int, n_boot: int, rng: np.random.Generator) -> FloatArray:
    """``(n_boot, n_blocks)`` multiplicities of a block bootstrap: each replicate draws ``n_blocks``
    blocks with replacement. A paired comparison applies the *same* rows to A and to B."""
    draws: FloatArray = rng.multinomial(n_blocks, np.full(n_blocks, 1.0 / n_blocks), size=n_boot).astype(
        float
    )
    return draws


def weighted_block_percentiles(
    latencies: FloatArray, blocks: np.ndarray, n_blocks: int, weights: FloatArray, qs: tuple[float, ...]
) -> FloatArray:
    """HDR q-percentiles (ms) of the pooled latencies when block ``j`` counts ``weights[r, j]`` times.

    Returns ``(len(weights), len(qs))``; NaN where a replicate holds no sample. Exact shortcut: HDR
    reports the top of the rank-k sample's bucket, so samples of one bucket are interchangeable and
    a replicate's percentile depends only on its weighted count per bucket. With C the
    ``(blocks, buckets)`` count matrix, a replicate's counts are ``weights @ C`` — the cost grows with
    blocks × distinct buckets, not with requests. With all weights 1 it is :func:`percentile`.
    """
    keep = np.isfinite(latencies)
    micros = highest_equivalent(to_micros(latencies[keep]))
    out = np.full((len(weights), len(qs)), np.nan)
    if micros.size == 0:
        return out
    values, bucket = np.unique(micros, return_inverse=True)
    counts = np.bincount(
        np.asarray(blocks)[keep].astype(np.int64) * values.size + bucket, minlength=n_blocks * values.size
    ).reshape(n_blocks, values.size)
    chunk = max(1, _CHUNK_ELEMENTS // values.size)
    for start in range(0, len(weights), chunk):
        cumulative = np.cumsum(weights[start : start + chunk] @ counts, axis=1)
        total = np.rint(cumulative[:, -1]).astype(np.int64)
        rank = ranks(total, qs)
        for j in range(len(qs)):
            idx = np.minimum((cumulative < rank[:, j, None] - 0.5).sum(axis=1), values.size - 1)
            out[start : start + chunk, j] = np.where(total > 0, values[idx] / 1000.0, np.nan)
    return out


def weighted_block_sums(rows: FloatArray, weights: FloatArray) -> FloatArray:
    """Per replicate, the weighted column sums of per-block rows: ``weights @ rows``.

    ``rows`` is ``(blocks, columns)`` of additive quantities of a block (CPU seconds, requests,
    errors), so a ratio of two columns per replicate is the pooled ratio of the resampled blocks.
    """
    sums: FloatArray = weights @ np.asarray(rows, dtype=float)
    return sums


def bootstrap_se(replicates: FloatArray) -> float | None:
    """Standard error of a statistic from its bootstrap replicates (their standard deviation).

    Not a robust spread (half the 16–84 % range): a percentile's replicates are discrete — p99 of a
    few hundred samples takes a handful of values — and a robust range can fall inside one atom,
    reading a wide distribution as a near-zero SE (an A/A handoff p99 came out at p = 1e-8).
    """
    arr = finite(replicates)
    if arr.size < 2:
        return None
    return float(arr.std(ddof=1))


def bootstrap_p_value(estimate: float, replicates: FloatArray) -> float | None:
    """Two-sided p-value of "no change" from a bootstrap distribution of the change.

    The larger of two readings of the same distribution: the normal one, 2·Φ(−|estimate| / SE*)
    (:func:`bootstrap_se`), and the empirical tail share 2·min(P*(≤ 0), P*(≥ 0)) — the level at
    which the percentile interval starts to hold zero. The share alone cannot resolve p below
    2 / n_boot, which a multiplicity correction needs (Holm over 20 metrics at alpha 0.01 asks for
    p < 0.0005); the normal reading resolves it and is the approximation the MDE already rests on;
    taking the larger keeps p consistent with the interval when the distribution is skewed.
    """
    arr = finite(replicates)
    se = bootstrap_se(arr)
    if se is None or not math.isfinite(estimate):
        return None
    if se == 0.0:
        return 1.0 if estimate == 0.0 else 0.0
    normal = float(2.0 * sps.norm.sf(abs(estimate) / se))
    share = 2.0 * min(float(np.mean(arr <= 0.0)), float(np.mean(arr >= 0.0)))
    return min(1.0, max(normal, share))


def holm_adjust(p_values: list[float]) -> list[float]:
    """Holm's step-down adjusted p-values (family-wise error rate ≤ alpha over the whole family).

    Sort ascending; the i-th smallest (1-based) becomes max over j ≤ i of min(1, (m − j + 1)·p_(j)).
    A metric is significant when its adjusted p < alpha: uniformly more powerful than Bonferroni and
    valid under any dependence between the metrics (p50, p95, p99 of one run are strongly dependent).
    """
    m = len(p_values)
    order = np.argsort(np.asarray(p_values, dtype=float), kind="stable")
    adjusted = np.empty(m)
    running = 0.0
    for i, index in enumerate(order):
        running = max(running, min(1.0, (m - i) * float(p_values[index])))
        adjusted[index] = running
    return [float(v) for v in adjusted]


def mde_from_se(se: float, *, alpha: float, power: float = 0.95) -> float:
    """(z_{1−alpha/2} + z_power)·SE: :func:`minimum_detectable_effect` given the standard error
    itself, so the test's level (e.g. Holm's first step, alpha / m) can differ from the interval's."""
    return (normal_quantile(1.0 - alpha / 2.0) + normal_quantile(power)) * se
