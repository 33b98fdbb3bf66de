"""Paired comparison of a duet run: A and B loaded at the same time, compared window by window.

Both run folders of a ``harness ab`` run cover the same measured window (same
``load.window_start`` and ``load.duration_s``). Interference on the machine (a noisy neighbour, a
GC of the load generator, CPU frequency) hits A and B in the same seconds, so the comparison keeps
the two sides paired by time:

- the window is split into W-second **paired windows** (blocks): W = max(1, ceil(40 / per-second
  count)) for the operation, so a block holds about 40 of its requests, and at least 5 blocks;
  a request belongs to the block of its *intended* send time, which both sides share;
- a bootstrap replicate draws blocks with replacement **jointly** — the same block indices for A
  and for B — and recomputes each side's pooled HDR percentile (:mod:`harness.derive.percentiles`,
  the summary's definition) on them; the statistic is log(B / A). A slow second is drawn for both
  sides or for neither, so shared interference moves A and B together and cancels in the ratio,
  while an unpaired bootstrap lets it widen the interval on each side independently;
- interval: the percentile interval of the log ratios, reported as exp(·) − 1; p-value:
  :func:`stats.bootstrap_p_value`; the error rate is the difference of pooled rates on the same
  resampled blocks, CPU per request the ratio of pooled CPU seconds over pooled requests;
- **multiplicity**: the false-alarm rate that counts is per comparison, so Holm's step-down runs
  over every judged metric's p-value, and a metric is significant when its Holm-adjusted p <
  alpha and its interval excludes zero. The MDE is read at Holm's first-step level alpha / m.

**Repeats** (``harness ab --repeat N``): the N measured windows are laid back to back on one
timeline and their paired windows pooled into one analysis — W is planned once from the pooled
rate, each repeat is cut into its own blocks (its partial last block joins its own edge block), so
no block straddles two repeats, and the bootstrap draws from all of them: the MDE shrinks about as
1/sqrt(N) with the number of blocks.

Statuses: ``regression`` / ``improvement`` (significant, beyond the threshold — for a latency also
beyond ``min_effect_ms`` — in the bad / good direction), ``no_change`` (``~`` not significant,
``=`` significant within the threshold), ``inconclusive`` (``!``: not significant and the MDE above
the threshold), ``too_few_samples`` (``#``), ``untested`` (``?``: e.g. CPU not measured).
docs/regressions.md, "Paired A/B (harness ab)", has the reasoning.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

from harness.compare import stats
from harness.compare.ab_result import (
    AB_KIND,
    AB_SCHEMA_VERSION,
    AbHotspot,
    AbMetric,
    AbProfile,
    AbProfileSide,
    AbRepeat,
    AbResult,
    AbSeries,
    AbSide,
    AbStatus,
    PairedSettings,
    headline_of,
)
from harness.compare.compare import (
    MARKS,
    OVERALL,
    classify,
    latency_threshold,
    parse_fraction,
    parse_min_effect,
    parse_test_settings,
)
from harness.compare.hotspots import differential_hotspots, hotspot_locations, hotspot_samples
from harness.compare.result import DEFAULT_MIN_EFFECT_MS, PERCENTILES
from harness.compare.runset import CompareRun, RunSet
from harness.contract import rundir
from harness.contract.runfolder import RunFolder
from harness.contract.samples import window_seconds
from harness.derive.percentiles import grouped_values_at

__all__ = ["PairedSettings", "paired_compare", "paired_compare_repeats", "paired_settings"]

#: Window starts closer than this (s) are the same instant (float round trips of epoch seconds).
WINDOW_TOLERANCE_S = 1e-3


def paired_settings(
    *,
    threshold: str,
    alpha: str,
    min_effect: str = f"{DEFAULT_MIN_EFFECT_MS:g}ms",
    n_boot: int = 2000,
    seed: int = 0,
    error_threshold: str = "0.1%",
) -> PairedSettings:
    """Settings from the command-line spellings (``5%``, ``0.01``, ``1ms``).

    ThresholdError names the bad option.
    """
    return PairedSettings(
        threshold=parse_fraction(threshold, "--threshold"),
        alpha=parse_test_settings(alpha, n_boot),
        min_effect_ms=parse_min_effect(min_effect),
        n_boot=n_boot,
        seed=seed,
        error_threshold=parse_fraction(error_threshold, "--error-threshold"),
    )


# ---------------------------------------------------------------- the two sides


@dataclass(frozen=True)
class _Side:
    """One side over every repeat: the repeats' done samples pooled, on one timeline where the
    windows lie back to back (repeat r starts at the sum of the earlier repeats' seconds)."""

    runs: tuple[CompareRun, ...]  # one per repeat
    samples: pd.DataFrame
    send_second: np.ndarray  # second on the pooled timeline of each done sample's intended send
    segments: tuple[int, ...]  # seconds of each repeat's window (the shorter side's)

    @property
    def run(self) -> CompareRun:
        """The first repeat (the run folder a one-window ab.json names)."""
        return self.runs[0]

    def rows(self, operation: str | None) -> np.ndarray:
        if operation is None:
            return np.ones(len(self.samples), dtype=bool)
        mask: np.ndarray = (self.samples["operation"] == operation).to_numpy(dtype=bool)
        return mask


def _window_of(folder: RunFolder) -> tuple[float, float]:
    load = folder.manifest.load
    if load.window_start is None or load.duration_s is None:
        raise rundir.RunDirError(
            f"{folder.path}: manifest.json has no load.window_start/duration_s; a paired comparison "
            "needs both sides of one `harness ab` run"
        )
    return load.window_start, load.duration_s


def check_duet(a: RunFolder, b: RunFolder) -> tuple[float, float]:
    """The common (window_start, duration_s); RunDirError when the folders are not one duet."""
    (start_a, dur_a), (start_b, dur_b) = _window_of(a), _window_of(b)
    if abs(start_a - start_b) > WINDOW_TOLERANCE_S or abs(dur_a - dur_b) > WINDOW_TOLERANCE_S:
        raise rundir.RunDirError(
            f"{a.path} and {b.path} were not measured over the same window (load.window_start "
            f"{start_a:.3f} vs {start_b:.3f}, duration {dur_a:g} s vs {dur_b:g} s): a paired comparison "
            "needs the two sides of one `harness ab` run; use `harness compare` for sequential runs"
        )
    return start_a, dur_a


def _pooled_side(runs: list[CompareRun], starts: list[float], segments: tuple[int, ...]) -> _Side:
    """The repeats of one side on the pooled timeline: each sample's second of its own window,
    clipped into that window (stragglers join its edge seconds), plus the window's offset."""
    seconds, offset = [], 0
    for run, start, length in zip(runs, starts, segments, strict=True):
        frame = run.samples
        intended = frame["intended_start"].to_numpy(dtype=float)
        when = np.where(np.isfinite(intended), intended, frame["ts"].to_numpy(dtype=float))
        seconds.append(np.clip(window_seconds(when, start), 0, length - 1) + offset)
        offset += length
    samples = runs[0].samples if len(runs) == 1 else pd.concat([r.samples for r in runs], ignore_index=True)
    return _Side(tuple(runs), samples, np.concatenate(seconds), segments)


def pooled_sides(pairs: Sequence[tuple[RunFolder, RunFolder]]) -> tuple[_Side, _Side, list[float]]:
    """Both sides over every repeat, and each repeat's window start (RunDirError: not one duet)."""
    runs_a, runs_b, starts, segments = [], [], [], []
    for fa, fb in pairs:
        start, _ = check_duet(fa, fb)
        ra, rb = CompareRun(fa), CompareRun(fb)
        runs_a.append(ra)
        runs_b.append(rb)
        starts.append(start)
        segments.append(max(1, min(ra.seconds, rb.seconds)))
    lengths = tuple(segments)
    return _pooled_side(runs_a, starts, lengths), _pooled_side(runs_b, starts, lengths), starts


# ---------------------------------------------------------------- paired windows


@dataclass(frozen=True)
class _Plan:
    seconds: int  # block length W
    count: int  # blocks over every repeat; 0 when the windows are too short for ``min_blocks``
    segments: tuple[int, ...] = ()  # seconds of each repeat's window, back to back; () = one window

    def _layout(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(first second, number of blocks, first block) of each repeat's window."""
        seg = np.asarray(self.segments or (self.seconds * self.count,), dtype=np.int64)
        per = seg // self.seconds if self.count else np.zeros_like(seg)
        first_second = np.concatenate([[0], np.cumsum(seg)[:-1]])
        return first_second, per, np.concatenate([[0], np.cumsum(per)[:-1]])

    def blocks_of(self, send_second: np.ndarray) -> np.ndarray:
        """Block of each second of the pooled timeline. The partial last block of a repeat and its
        stragglers join that repeat's edge blocks: no block straddles two repeats."""
        second = np.asarray(send_second, dtype=np.int64)
        if self.count == 0:
            return np.zeros(second.shape, dtype=np.int64)
        first_second, per, first_block = self._layout()
        r = np.clip(np.searchsorted(first_second, second, side="right") - 1, 0, len(per) - 1)
        local = np.clip((second - first_second[r]) // self.seconds, 0, np.maximum(per[r] - 1, 0))
        out: np.ndarray = first_block[r] + local
        return out

    def block_starts(self) -> list[float]:
        """Start of each block on the pooled timeline (s)."""
        first_second, per, _ = self._layout()
        return [float(f + i * self.seconds) for f, n in zip(first_second, per, strict=True) for i in range(n)]

    def repeat_starts(self) -> list[float]:
        """Where repeats 2..N begin on the pooled timeline (s)."""
        return [float(v) for v in self._layout()[0][1:]] if len(self.segments) > 1 else []

    def edge_seconds(self) -> np.ndarray:
        """The first and last second of each repeat's window (partial: left out of CPU per request)."""
        first_second = self._layout()[0]
        seg = np.asarray(self.segments, dtype=np.int64)
        return np.concatenate([first_second, first_second + seg - 1])

    def blocks_per_repeat(self) -> list[int]:
        return [int(n) for n in self._layout()[1]] if self.segments else [self.count]


def plan_blocks(per_second: float, segments: tuple[int, ...], s: PairedSettings) -> _Plan:
    """W = max(1, ceil(block_samples / per-second count)), shortened to keep ``target_blocks`` blocks
    when the windows are long enough, never longer than one repeat's window, and never fewer than
    ``min_blocks`` blocks in all (else no blocks: too few).

    A bootstrap over few blocks underestimates the spread (k blocks have only C(2k−1, k) distinct
    resamples, and the variance is biased by (k − 1)/k): with 6 blocks of 5 s, an A/A handoff p95
    came out "significant". A pooled percentile does not need many samples per block, only blocks.
    """
    total = sum(segments)
    if not segments or total < s.min_blocks or per_second <= 0:
        return _Plan(1, 0, segments)
    width = max(1, math.ceil(s.block_samples / per_second - 1e-9))
    width = min(width, max(1, total // s.target_blocks), total // s.min_blocks, min(segments))
    while width > 1 and sum(n // width for n in segments) < s.min_blocks:
        width -= 1
    return _Plan(width, sum(n // width for n in segments), segments)


@dataclass
class _Estimate:
    """One metric before the family-wise correction: point values, interval, SE, raw p."""

    operation: str
    metric: str
    unit: str
    change_kind: Literal["relative", "absolute"]
    a: float | None
    b: float | None
    change: float | None
    interval: stats.Interval | None
    se: float | None  # of log(B/A) (relative) or of B - A (absolute)
    p_value: float | None
    threshold: float
    n_a: int
    n_b: int
    plan: _Plan
    enough: bool
    judged: bool
    test: str


def _log_ratio_summary(
    a: float | None, b: float | None, ra: np.ndarray, rb: np.ndarray, confidence: float
) -> tuple[stats.Interval | None, float | None, float | None]:
    """(interval of B/A − 1, SE of log(B/A), p) from paired replicates of each side."""
    valid = np.isfinite(ra) & np.isfinite(rb) & (ra > 0) & (rb > 0)
    if a is None or b is None or a <= 0 or b <= 0 or valid.sum() < 2:
        return None, None, None
    logs = np.log(rb[valid] / ra[valid])
    log_interval = stats.bootstrap_interval(logs, confidence)
    interval = stats.Interval(math.expm1(log_interval.low), math.expm1(log_interval.high))
    return interval, stats.bootstrap_se(logs), stats.bootstrap_p_value(math.log(b / a), logs)


def _test_label(plan: _Plan) -> str:
    return f"paired block bootstrap ({plan.count} windows of {plan.seconds} s)"


def latency_estimates(a: _Side, b: _Side, operation: str | None, s: PairedSettings) -> list[_Estimate]:
    """p50/p95/p99 of each side (HDR, = summary.json) and their paired change."""
    ma, mb = a.rows(operation), b.rows(operation)
    lat_a = a.samples["latency_ms"].to_numpy(dtype=float)[ma]
    lat_b = b.samples["latency_ms"].to_numpy(dtype=float)[mb]
    n_a, n_b = int(np.isfinite(lat_a).sum()), int(np.isfinite(lat_b).sum())
    plan = plan_blocks(min(n_a, n_b) / max(1, sum(a.segments)), a.segments, s)
    qs = tuple(q for _, q in PERCENTILES)
    reps_a = reps_b = np.full((0, len(qs)), np.nan)
    if plan.count:
        weights = stats.block_weights(plan.count, s.n_boot, np.random.default_rng(s.seed))
        reps_a = stats.weighted_block_percentiles(
            lat_a, plan.blocks_of(a.send_second[ma]), plan.count, weights, qs
        )
        reps_b = stats.weighted_block_percentiles(
            lat_b, plan.blocks_of(b.send_second[mb]), plan.count, weights, qs
        )
    out = []
    for j, (label, q) in enumerate(PERCENTILES):
        va, vb = stats.percentile(lat_a, q), stats.percentile(lat_b, q)
        interval, se, p = _log_ratio_summary(va, vb, reps_a[:, j], reps_b[:, j], s.confidence)
        enough = plan.count > 0 and min(n_a, n_b) >= s.min_samples.get(label, 0)
        out.append(
            _Estimate(
                operation or OVERALL,
                label,
                "ms",
                "relative",
                va,
                vb,
                stats.relative_change(va, vb),
                interval,
                se,
                p,
                latency_threshold(va, s),
                n_a,
                n_b,
                plan,
                enough,
                enough and p is not None,
                _test_label(plan),
            )
        )
    return out


def _error_rows(side: _Side, mask: np.ndarray, plan: _Plan) -> np.ndarray:
    """Per block: [errors, requests]."""
    blocks = plan.blocks_of(side.send_second[mask])
    errors = side.samples["error"].notna().to_numpy(dtype=float)[mask]
    return np.column_stack(
        [np.bincount(blocks, weights=errors, minlength=plan.count), np.bincount(blocks, minlength=plan.count)]
    )


def error_estimate(a: _Side, b: _Side, operation: str | None, s: PairedSettings) -> _Estimate:
    """Error rate B − A (absolute), paired by blocks: errors come in bursts both sides share."""
    ma, mb = a.rows(operation), b.rows(operation)
    n_a, n_b = int(ma.sum()), int(mb.sum())
    e_a = int(a.samples["error"].notna().to_numpy(dtype=bool)[ma].sum())
    e_b = int(b.samples["error"].notna().to_numpy(dtype=bool)[mb].sum())
    ra, rb = (e_a / n_a if n_a else None), (e_b / n_b if n_b else None)
    plan = plan_blocks(min(n_a, n_b) / max(1, sum(a.segments)), a.segments, s)
    interval, se, p = None, None, None
    if plan.count and ra is not None and rb is not None:
        if e_a == 0 and e_b == 0:
            interval, p = stats.Interval(0.0, 0.0), 1.0  # nothing to test (Tarone: not in the family)
        else:
            weights = stats.block_weights(plan.count, s.n_boot, np.random.default_rng(s.seed))
            sa = stats.weighted_block_sums(_error_rows(a, ma, plan), weights)
            sb = stats.weighted_block_sums(_error_rows(b, mb, plan), weights)
            valid = (sa[:, 1] > 0) & (sb[:, 1] > 0)
            diffs = sb[valid, 0] / sb[valid, 1] - sa[valid, 0] / sa[valid, 1]
            interval = stats.bootstrap_interval(diffs, s.confidence)
            se, p = stats.bootstrap_se(diffs), stats.bootstrap_p_value(rb - ra, diffs)
    change = None if ra is None or rb is None else rb - ra
    return _Estimate(
        operation or OVERALL,
        "error_rate",
        "fraction",
        "absolute",
        ra,
        rb,
        change,
        interval,
        se,
        p,
        s.error_threshold,
        n_a,
        n_b,
        plan,
        plan.count > 0,
        se is not None and p is not None,
        _test_label(plan),
    )


def _cpu_seconds(side: _Side) -> tuple[np.ndarray, np.ndarray] | None:
    """(CPU seconds, completed requests) per second of the pooled timeline; NaN CPU in a repeat
    that did not measure it; None when no repeat did."""
    cpu_parts, count_parts, measured = [], [], False
    for run, length in zip(side.runs, side.segments, strict=True):
        cpu_s, counts = np.full(length, np.nan), np.zeros(length)
        cpu = run.per_second_cpu()
        if cpu is not None:
            measured = True
            cpu_s[: min(length, cpu.size)] = cpu[:length] / 100.0
        done = run.per_second_counts()[:length]
        counts[: done.size] = done
        cpu_parts.append(cpu_s)
        count_parts.append(counts)
    return (np.concatenate(cpu_parts), np.concatenate(count_parts)) if measured else None


def _cpu_rows(values: tuple[np.ndarray, np.ndarray], keep: np.ndarray, plan: _Plan) -> np.ndarray:
    blocks = plan.blocks_of(np.flatnonzero(keep))
    cpu_s, counts = values
    return np.column_stack(
        [
            np.bincount(blocks, weights=cpu_s[keep], minlength=plan.count),
            np.bincount(blocks, weights=counts[keep], minlength=plan.count),
        ]
    )


def _paired_cpu_rows(
    va: tuple[np.ndarray, np.ndarray], vb: tuple[np.ndarray, np.ndarray], plan: _Plan
) -> tuple[np.ndarray, np.ndarray]:
    """Per block [CPU s, requests] of each side over the seconds both measured, edges dropped."""
    keep = np.isfinite(va[0]) & np.isfinite(vb[0]) & (va[1] > 0) & (vb[1] > 0)
    keep[plan.edge_seconds()] = False  # partial first and last seconds of each repeat
    rows_a, rows_b = _cpu_rows(va, keep, plan), _cpu_rows(vb, keep, plan)
    both = (rows_a[:, 1] > 0) & (rows_b[:, 1] > 0)
    return rows_a[both], rows_b[both]


def _per_request(rows: np.ndarray) -> float | None:
    total = float(rows[:, 1].sum())
    return 1000.0 * float(rows[:, 0].sum()) / total if total > 0 else None


def cpu_estimate(a: _Side, b: _Side, block_s: int, s: PairedSettings) -> _Estimate:
    """CPU-ms per request of each target over the seconds both measured, paired by blocks."""
    va, vb = _cpu_seconds(a), _cpu_seconds(b)
    width, seconds = max(1, block_s), sum(a.segments)
    plan = _Plan(width, max(1, sum(n // width for n in a.segments)), a.segments)
    values: list[float | None] = [None, None]
    interval, se, p, enough = None, None, None, True
    for i, v in enumerate((va, vb)):
        if v is not None and seconds > 2:
            values[i] = _per_request(_paired_cpu_rows(v, v, plan)[0])  # this side alone
    if va is not None and vb is not None and seconds > 2:
        rows_a, rows_b = _paired_cpu_rows(va, vb, plan)
        plan, enough = _Plan(plan.seconds, len(rows_a), plan.segments), len(rows_a) >= s.min_blocks
        values = [_per_request(rows_a), _per_request(rows_b)]
        if enough:
            weights = stats.block_weights(plan.count, s.n_boot, np.random.default_rng(s.seed))
            sa, sb = stats.weighted_block_sums(rows_a, weights), stats.weighted_block_sums(rows_b, weights)
            ratio_a, ratio_b = sa[:, 0] / sa[:, 1], sb[:, 0] / sb[:, 1]
            interval, se, p = _log_ratio_summary(values[0], values[1], ratio_a, ratio_b, s.confidence)
    test = _test_label(plan) if p is not None else "untested (the target CPU was not measured on both sides)"
    n_a, n_b = len(a.samples), len(b.samples)
    change = stats.relative_change(values[0], values[1]) if p is not None else None
    return _Estimate(
        OVERALL, "cpu_per_request", "cpu-ms", "relative", values[0], values[1], change, interval, se, p,
        s.threshold, n_a, n_b, plan, enough, enough and p is not None, test,
    )  # fmt: skip


# ---------------------------------------------------------------- family-wise verdicts


def _status(
    est: _Estimate, p_adjusted: float | None, mde: float | None, s: PairedSettings
) -> tuple[AbStatus, str]:
    """compare's :func:`classify` with the Holm-adjusted p; ``~`` and ``=`` are both no_change."""
    significant = None
    if est.p_value is not None and est.interval is not None:
        significant = p_adjusted is not None and p_adjusted < s.alpha and est.interval.excludes_zero()
    status = classify(est.change, significant, est.threshold, True, mde=mde, enough_samples=est.enough)
    if status == "not_significant" or status == "within_threshold":
        return "no_change", MARKS[status]
    return status, MARKS[status]


def _mde(est: _Estimate, level: float, s: PairedSettings) -> float | None:
    if est.se is None:
        return None
    mde = stats.mde_from_se(est.se, alpha=level, power=s.power)
    return math.expm1(mde) if est.change_kind == "relative" else mde


def finalize(estimates: list[_Estimate], s: PairedSettings) -> tuple[list[AbMetric], int]:
    """Holm over the judged metrics, MDE at Holm's first-step level alpha / m, statuses."""
    family = [i for i, e in enumerate(estimates) if e.judged and e.p_value is not None]
    adjusted = stats.holm_adjust([float(estimates[i].p_value or 0.0) for i in family])
    p_adj: dict[int, float] = dict(zip(family, adjusted, strict=True))
    level = s.alpha / max(1, len(family))
    out = []
    for i, est in enumerate(estimates):
        mde = _mde(est, level, s)
        status, mark = _status(est, p_adj.get(i), mde, s)
        out.append(
            AbMetric(
                operation=est.operation,
                metric=est.metric,
                unit=est.unit,
                change_kind=est.change_kind,
                a=est.a,
                b=est.b,
                change=est.change,
                ci_low=None if est.interval is None else est.interval.low,
                ci_high=None if est.interval is None else est.interval.high,
                p_value=est.p_value,
                p_adjusted=p_adj.get(i),
                mde=mde,
                threshold=est.threshold,
                n_a=est.n_a,
                n_b=est.n_b,
                blocks=est.plan.count,
                block_seconds=est.plan.seconds,
                test=est.test,
                status=status,
                mark=mark,
            )
        )
    return out, len(family)


# ---------------------------------------------------------------- series, sides, warnings


def _none_if_nan(values: np.ndarray) -> list[float | None]:
    return [float(v) if math.isfinite(v) else None for v in values]


def window_series(a: _Side, b: _Side, plan: _Plan, p95: AbMetric | None) -> AbSeries:
    """Overall p95 of each side per paired window (HDR), their ratio, and the overall band."""
    count = max(plan.count, 0)
    per = [
        grouped_values_at(
            plan.blocks_of(side.send_second), side.samples["latency_ms"].to_numpy(dtype=float), [95.0], count
        )[:, 0]
        for side in (a, b)
    ]
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(per[0] > 0, per[1] / per[0], np.nan)
    band = (
        (None, None)
        if p95 is None or p95.ci_low is None or p95.ci_high is None
        else (1 + p95.ci_low, 1 + p95.ci_high)
    )
    return AbSeries(
        block_seconds=plan.seconds,
        t=plan.block_starts(),
        a=_none_if_nan(per[0]),
        b=_none_if_nan(per[1]),
        ratio=_none_if_nan(ratio),
        ratio_estimate=None if p95 is None or p95.change is None else 1.0 + p95.change,
        band_low=band[0],
        band_high=band[1],
        repeat_starts=plan.repeat_starts(),
    )


def _target_text(target: rundir.TargetInfo) -> str:
    parts = [target.url]
    if target.config_profile:
        parts.append(f"profile {target.config_profile}")
    if target.version:
        parts.append(f"version {target.version}")
    if target.pids:
        parts.append("pids " + ",".join(map(str, target.pids)))
    parts.append("started by the harness" if target.managed else "external")
    return ", ".join(parts)


def side_info(name: Literal["a", "b"], side: _Side, cpu_ms: float | None) -> AbSide:
    run = side.run
    parts = [(r.per_second_cpu(), n) for r, n in zip(side.runs, side.segments, strict=True)]
    cpu = [c[:n] for c, n in parts if c is not None]
    return AbSide(
        side=name,
        run_dir=str(run.path),
        run_id=run.run_id,
        target=_target_text(run.manifest.target),
        requests=len(side.samples),
        errors=int(side.samples["error"].notna().sum()),
        cpu_percent_mean=float(np.nanmean(np.concatenate(cpu))) if cpu else None,
        cpu_ms_per_request=cpu_ms,
    )


def _ops(side: _Side) -> set[str]:
    return {str(op) for op in side.samples["operation"].dropna().unique()}


def _run_warnings(label: str, side: str, run: CompareRun, cpu_anywhere: bool) -> list[str]:
    out, m = [], run.manifest
    if m.status != "complete":
        out.append(f"{label} ({m.run_id}): run status is {m.status}")
    if m.tags.get("ab_side", side) != side:
        out.append(f"{label} ({m.run_id}) is tagged ab_side={m.tags['ab_side']}")
    if cpu_anywhere and run.per_second_cpu() is None:
        out.append(f"{label}: the target's CPU was not measured in this repeat (its seconds left out)")
    return out


def duet_warnings(a: _Side, b: _Side) -> list[str]:
    out = []
    repeats = len(a.runs)
    for side, runs, cpu in (("a", a.runs, _cpu_seconds(a)), ("b", b.runs, _cpu_seconds(b))):
        for i, run in enumerate(runs, start=1):
            out += _run_warnings(side if repeats == 1 else f"{side}-{i}", side, run, cpu is not None)
        if cpu is None:
            out.append(f"{side}: the target's CPU was not measured (CPU per request untested)")
    ab_ids = sorted({str(r.manifest.tags.get("ab")) for r in (*a.runs, *b.runs)})
    if len(ab_ids) > 1:
        out.append(f"the sides belong to different ab runs: {' vs '.join(ab_ids)}")
    scenarios = sorted({r.manifest.scenario_name for r in (*a.runs, *b.runs)})
    if len(scenarios) > 1:
        out.append(f"different scenarios: {' vs '.join(scenarios)}")
    only = sorted(_ops(a) ^ _ops(b))
    if only:
        out.append(f"operations present on one side only (not compared): {only}")
    return out


# ---------------------------------------------------------------- differential CPU profile


def _profile_side(name: Literal["a", "b"], side: _Side) -> AbProfileSide:
    """Whether every repeat of the side has a CPU hotspot table, and why not (its manifest record)."""
    failures: list[tuple[int, str, str]] = []  # (repeat, status, why)
    for i, run in enumerate(side.runs, start=1):
        record = run.manifest.profiles.get("cpu")
        if record is None:
            failures.append((i, "skipped", "not CPU-profiled"))
        elif record.status != "ok" or not record.files.get("hotspots"):
            failures.append((i, record.status, record.reason or "no hotspot table"))
    status: Literal["ok", "failed", "skipped"] = "ok"
    reason = None
    if failures:
        first, kind, reason = failures[0]
        status = "failed" if kind == "failed" else "skipped"
        everywhere = len(failures) == len(side.runs) and len({why for *_, why in failures}) == 1
        if len(side.runs) > 1 and not everywhere:
            reason = f"repeat {first}: {reason}"
    samples = hotspot_samples(RunSet(list(side.runs), name))
    profiled = len(side.runs) - len(failures)
    return AbProfileSide(side=name, status=status, reason=reason, profiled=profiled, samples=samples)


def cpu_profile(a: _Side, b: _Side, top: int = 15) -> AbProfile | None:
    """The differential CPU hotspots B vs A (compare's differ over each side's repeats); None when
    neither side was CPU-profiled (no ``cpu`` record in any manifest)."""
    if not any("cpu" in run.manifest.profiles for run in (*a.runs, *b.runs)):
        return None
    sides = (_profile_side("a", a), _profile_side("b", b))
    missing = [p.side for p in sides if p.profiled == 0]
    if missing:
        why = " and ".join(missing)
        note = f"no differential hotspots: side {why} {'was' if len(missing) == 1 else 'were'} not profiled"
        return AbProfile(a=sides[0], b=sides[1], note=note)
    set_a, set_b = RunSet(list(a.runs), "a"), RunSet(list(b.runs), "b")
    where = {**hotspot_locations(set_a), **hotspot_locations(set_b)}  # B's line where both ran it
    rows = [
        AbHotspot(
            function=where.get(d.frame, (d.frame, ""))[0],
            location=where.get(d.frame, ("", ""))[1],
            a_percent=round(d.base_percent, 3),
            b_percent=round(d.new_percent, 3),
            change_points=round(d.delta_percent, 3),
        )
        for d in differential_hotspots(set_a, set_b, top=top)
    ]
    empty = None if rows else "no differential hotspots: the hotspot tables are empty"
    return AbProfile(a=sides[0], b=sides[1], hotspots=rows, note=empty)


# ---------------------------------------------------------------- top level


def _operations(a: _Side, b: _Side) -> list[str]:
    return sorted(_ops(a) & _ops(b))


def paired_compare(a_dir: Path, b_dir: Path, settings: PairedSettings | None = None) -> AbResult:
    """Compare the two sides of one duet run (A = baseline, B = candidate) window by window.

    Raises :class:`harness.contract.rundir.RunDirError` when a folder is not a readable run folder
    or the two were not measured over the same window.
    """
    return paired_compare_repeats([(a_dir, b_dir)], settings)


def _repeats(pairs: Sequence[tuple[Path, Path]], starts: list[float], plan: _Plan) -> list[AbRepeat]:
    blocks = plan.blocks_per_repeat()
    return [
        AbRepeat(
            index=i,
            a_run_dir=str(a_dir),
            b_run_dir=str(b_dir),
            window_start=start,
            window_seconds=length,
            blocks=blocks[i - 1],
        )
        for i, ((a_dir, b_dir), start, length) in enumerate(
            zip(pairs, starts, plan.segments, strict=True), start=1
        )
    ]


def paired_compare_repeats(
    pairs: Sequence[tuple[Path, Path]], settings: PairedSettings | None = None
) -> AbResult:
    """Compare the (A, B) run folders of every repeat of one duet run as one paired comparison:
    the paired windows of all repeats pooled (blocks never straddle two repeats).

    Raises :class:`harness.contract.rundir.RunDirError` when a folder is not a readable run folder
    or the two of a pair were not measured over the same window; ValueError without pairs.
    """
    if not pairs:
        raise ValueError("paired_compare_repeats: no (a, b) run folders")
    s = settings or PairedSettings()
    pairs = [(Path(a_dir), Path(b_dir)) for a_dir, b_dir in pairs]
    a, b, starts = pooled_sides([(RunFolder(a_dir), RunFolder(b_dir)) for a_dir, b_dir in pairs])
    estimates: list[_Estimate] = []
    for operation in [None, *_operations(a, b)]:
        estimates.extend(latency_estimates(a, b, operation, s))
        estimates.append(error_estimate(a, b, operation, s))
        if operation is None:
            estimates.append(cpu_estimate(a, b, estimates[0].plan.seconds, s))
    metrics, judged = finalize(estimates, s)
    p95 = next((m for m in metrics if m.operation == OVERALL and m.metric == "p95"), None)
    cpu = next(e for e in estimates if e.metric == "cpu_per_request")
    ma, mb = a.run.manifest, b.run.manifest
    return AbResult(
        kind=AB_KIND,
        schema_version=AB_SCHEMA_VERSION,
        ab_id=ma.tags.get("ab"),
        scenario=mb.scenario_name,
        assign=ma.tags.get("ab_assign"),
        settings=s,
        window_start=starts[0],
        window_seconds=sum(a.segments),
        a=side_info("a", a, cpu.a),
        b=side_info("b", b, cpu.b),
        headline=headline_of(metrics, judged),
        metrics=metrics,
        series=window_series(a, b, estimates[0].plan, p95),
        warnings=duet_warnings(a, b),
        repeats=_repeats(pairs, starts, estimates[0].plan),
        profile=cpu_profile(a, b),
    )
