"""compare stops crying wolf: absolute floor, minimum samples, MDE and 'inconclusive'."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from harness.commands import compare as compare_cmd
from harness.compare import stats
from harness.compare.compare import MARKS, CompareResult, CompareSettings, compare_paths
from harness.compare.result import default_min_samples
from harness.testing.synthetic import SyntheticOp, SyntheticSpec, make_run

LATENCY = ("p50", "p95", "p99")


def _find(result: CompareResult, metric: str, operation: str = "overall"):
    return next(m for m in result.metrics if m.metric == metric and m.operation == operation)


def _fast_ops(median_ms: float = 0.8) -> tuple[SyntheticOp, ...]:
    return (SyntheticOp("simple_query", 1.0, median_ms, 0.2, 0.0),)


def test_identical_runs_have_no_regression_and_every_mark_is_known(tmp_path: Path) -> None:
    spec = SyntheticSpec(seed=11, run_id="same-a", duration_s=20)
    a = make_run(tmp_path, spec)
    b = make_run(tmp_path, SyntheticSpec(seed=11, run_id="same-b", duration_s=20))
    result = compare_paths([a], [b])
    assert not result.has_regression and not result.improvements
    for m in result.metrics:
        assert m.status not in ("regression", "improvement")
        assert m.mark == MARKS[m.status]
        if m.metric in LATENCY and m.status != "too_few_samples":
            assert m.change == 0.0 and m.mde is not None and m.mde >= 0


def test_a_significant_change_below_min_effect_is_not_a_regression(tmp_path: Path) -> None:
    # 0.8 ms -> 1.04 ms (+30 %, +0.24 ms): the 0.73 -> 0.96 ms case.
    base = make_run(tmp_path, SyntheticSpec(seed=1, run_id="f1", ops=_fast_ops(), duration_s=30))
    slower = make_run(
        tmp_path, SyntheticSpec(seed=2, run_id="f2", ops=_fast_ops(), duration_s=30, latency_scale=1.3)
    )
    no_floor = _find(compare_paths([base], [slower], CompareSettings(min_effect_ms=0.0)), "p50")
    assert no_floor.status == "regression"  # the change is real and significant
    floored = _find(compare_paths([base], [slower], CompareSettings(min_effect_ms=0.5)), "p50")
    assert floored.status == "within_threshold" and floored.mark == "="
    assert floored.base is not None and floored.new is not None and floored.new - floored.base < 0.5


def test_a_regression_seen_on_too_few_samples_is_too_few_samples(tmp_path: Path) -> None:
    # 5 req/s for 10 s: about 50 samples a side, enough for p50 (20), not for p95 (60) or p99 (300).
    spec = {"ops": _fast_ops(20.0), "duration_s": 10, "rate": 5.0}
    base = make_run(tmp_path, SyntheticSpec(seed=3, run_id="t1", **spec))
    slower = make_run(tmp_path, SyntheticSpec(seed=4, run_id="t2", latency_scale=2.0, **spec))
    unguarded = compare_paths([base], [slower], CompareSettings(min_samples={}))
    assert _find(unguarded, "p95").status == "regression"
    result = compare_paths([base], [slower])
    assert _find(result, "p50").status == "regression"
    for metric in ("p95", "p99"):
        m = _find(result, metric)
        assert m.status == "too_few_samples" and m.mark == "#"
    assert "p95(overall)" not in [m.label for m in result.regressions]


def test_mde_shrinks_as_the_run_lengthens(tmp_path: Path) -> None:
    def mde(duration: float) -> float:
        a = make_run(tmp_path, SyntheticSpec(seed=5, run_id=f"m{duration}a", duration_s=duration))
        b = make_run(tmp_path, SyntheticSpec(seed=6, run_id=f"m{duration}b", duration_s=duration))
        value = _find(compare_paths([a], [b]), "p50", "command_ack").mde
        assert value is not None
        return value

    short, long = mde(10), mde(60)
    assert long < 0.7 * short  # ~1/sqrt(6) in theory


def test_not_significant_with_mde_above_the_threshold_is_inconclusive(tmp_path: Path) -> None:
    a = make_run(tmp_path, SyntheticSpec(seed=7, run_id="i1", duration_s=10))
    b = make_run(tmp_path, SyntheticSpec(seed=8, run_id="i2", duration_s=10))
    # no absolute floor: with one, the size that matters for an 8 ms p50 is max(1 %, 1 ms / 8 ms)
    settings = CompareSettings(threshold=0.01, min_effect_ms=0.0)
    strict = _find(compare_paths([a], [b], settings), "p50", "command_ack")
    assert strict.mde is not None and strict.mde > 0.01
    assert strict.status == "inconclusive" and strict.mark == "!"
    floored = _find(compare_paths([a], [b], CompareSettings(threshold=0.01)), "p50", "command_ack")
    assert floored.mde == strict.mde and floored.status == "not_significant"  # MDE < 1 ms / 8 ms
    loose = _find(compare_paths([a], [b], CompareSettings(threshold=0.9)), "p50", "command_ack")
    assert loose.status == "not_significant" and loose.mde == strict.mde


def test_mde_formula_gives_the_stated_power_in_simulation() -> None:
    alpha, se = 0.01, 0.04
    z = stats.normal_quantile(1 - alpha / 2)
    mde = stats.minimum_detectable_effect(-z * se, z * se, alpha=alpha)
    # A normal estimate of a true change equal to the MDE is rejected 95 % of the time.
    estimates = np.random.default_rng(0).normal(mde, se, 200_000)
    power = float(np.mean(np.abs(estimates) > z * se))
    assert power == pytest.approx(0.95, abs=0.005)
    # Textbook two-sample MDE for means: (z_{1-a/2} + z_{0.95}) * sigma * sqrt(2 / n).
    sigma, n = 3.0, 400
    half = z * sigma * np.sqrt(2 / n)
    expected = (z + stats.normal_quantile(0.95)) * sigma * np.sqrt(2 / n)
    assert stats.minimum_detectable_effect(1.0 - half, 1.0 + half, alpha=alpha) == pytest.approx(expected)


def test_minimum_samples_follow_the_rank_argument() -> None:
    assert default_min_samples() == {"p50": 20, "p95": 60, "p99": 300}
    # with 300 samples, the chance that none lies above the true p99 is about 5 %
    assert pytest.approx(0.049, abs=0.002) == 0.99**300
    for q in (95.0, 99.0):
        n = stats.minimum_samples_for_percentile(q)
        # n leaves about a 5 % chance that no sample lies above the true percentile; half of n not
        assert (q / 100) ** n < 0.051 < (q / 100) ** (n // 2)
    assert stats.minimum_samples_for_percentile(50.0, floor=0) == 6


def test_cli_min_effect_parses_and_bad_values_name_the_option(
    base_run: Path, aa_runs: list[Path], tmp_path: Path, capsys
) -> None:
    out = tmp_path / "out"
    assert compare_cmd.main([str(base_run), str(aa_runs[0]), "--min-effect", "0.2ms", "--out", str(out)]) == 0
    data = json.loads((out / "compare.json").read_text())
    assert data["schema_version"] == 2 and data["settings"]["min_effect_ms"] == pytest.approx(0.2)
    assert data["settings"]["min_samples"] == {"p50": 20, "p95": 60, "p99": 300}
    assert all("mde" in m for m in data["metrics"])
    printed = capsys.readouterr().out
    assert "MDE" in printed
    for bad in ("banana", "0.2"):
        assert compare_cmd.main([str(base_run), str(aa_runs[0]), "--min-effect", bad]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and "--min-effect" in err[0]


def test_rate_and_p95_printed_by_compare_are_the_runs_summary_figures(tmp_path: Path) -> None:
    """One definition per fact: compare's rate and p95 of each side equal the run's summary."""
    from harness.contract.runfolder import RunFolder

    a = make_run(tmp_path, SyntheticSpec(seed=5, run_id="sum-a", duration_s=12, rate=40.0))
    b = make_run(tmp_path, SyntheticSpec(seed=6, run_id="sum-b", duration_s=12, rate=30.0))
    result = compare_paths([a], [b])
    for side, folder in (("base", a), ("new", b)):
        overall = RunFolder(folder).summary.overall
        assert getattr(_find(result, "rate"), side) == pytest.approx(overall.rate)
        assert getattr(_find(result, "p95"), side) == pytest.approx(overall.latency_ms.p95)
