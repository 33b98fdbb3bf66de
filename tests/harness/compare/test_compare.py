"""compare on synthetic runs with known distributions: shifts are found, noise is not."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from harness.commands import compare as compare_cmd
from harness.compare import stats
from harness.compare.compare import CompareSettings, ThresholdError, compare_paths, parse_fraction
from harness.testing.synthetic import SyntheticOp, SyntheticSpec, make_run


def _find(result, metric: str, operation: str = "overall"):
    return next(m for m in result.metrics if m.metric == metric and m.operation == operation)


def test_a_known_10_percent_slowdown_is_a_regression(base_run: Path, slower_run: Path) -> None:
    result = compare_paths([base_run], [slower_run])
    assert result.has_regression
    # simple_query (40 ms): +10 % is 4 ms, above the 1 ms floor (command_ack's 0.8 ms is not)
    p50 = _find(result, "p50", "simple_query")
    assert p50.status == "regression" and p50.mark == "+"
    assert p50.change is not None and 0.05 < p50.change < 0.16
    assert p50.ci_low is not None and p50.ci_high is not None
    assert p50.ci_low < 0.10 < p50.ci_high  # the interval covers the true shift
    assert p50.p_value is not None and p50.p_value < 0.01


@pytest.mark.parametrize("index", range(4))
def test_pure_noise_between_seeds_is_not_a_regression(
    base_run: Path, aa_runs: list[Path], index: int
) -> None:
    result = compare_paths([base_run], [aa_runs[index]])
    assert not result.has_regression, [f"{m.metric}({m.operation}) {m.change}" for m in result.regressions]
    assert any(m.mark == "~" for m in result.metrics)


def test_speedup_is_an_improvement_not_a_regression(runs_dir: Path, base_run: Path) -> None:
    faster = make_run(runs_dir, SyntheticSpec(seed=404, run_id="faster", latency_scale=0.85))
    result = compare_paths([base_run], [faster])
    assert not result.has_regression
    assert _find(result, "p50", "command_ack").status == "improvement"
    assert _find(result, "p50", "command_ack").mark == "-"


def test_error_rate_increase_is_a_regression_in_percentage_points(tmp_path: Path) -> None:
    ops = (SyntheticOp("command_ack", 1.0, 8.0, 0.4, 0.0),)
    bad_ops = (SyntheticOp("command_ack", 1.0, 8.0, 0.4, 0.03),)
    base = make_run(tmp_path, SyntheticSpec(seed=1, run_id="b", ops=ops, duration_s=30))
    new = make_run(tmp_path, SyntheticSpec(seed=2, run_id="n", ops=bad_ops, duration_s=30))
    err = _find(compare_paths([base], [new]), "error_rate")
    assert err.status == "regression"
    assert err.change_kind == "absolute"
    assert err.change == pytest.approx(0.03, abs=0.01)


def test_threshold_hides_significant_but_small_changes(base_run: Path, slower_run: Path) -> None:
    result = compare_paths([base_run], [slower_run], CompareSettings(threshold=0.5))
    assert not result.has_regression
    assert _find(result, "p50", "command_ack").status == "within_threshold"


def test_repeats_are_pooled_and_their_p95_spread_reported(tmp_path: Path) -> None:
    def group(name: str, scale: float, seeds: range, rss: float) -> Path:
        paths = [
            make_run(
                tmp_path,
                SyntheticSpec(
                    seed=s,
                    run_id=f"{name}{i}",
                    latency_scale=scale,
                    duration_s=10,
                    rss_start_mb=rss + i,
                    tags={"repeat_group": name, "repeat": str(i)},
                ),
            )
            for i, s in enumerate(seeds)
        ]
        return paths[0]

    base = group("g1", 1.0, range(10, 13), 100.0)
    new = group("g2", 1.2, range(20, 23), 160.0)
    result = compare_paths([base], [new])
    assert len(result.base.runs) == 3 and len(result.new.runs) == 3
    assert result.base.cv_p95 is not None and result.base.cv_p95 >= 0
    assert _find(result, "p50", "command_ack").status == "regression"
    rss = _find(result, "peak_rss")
    assert rss.test.startswith("welch") and rss.status == "regression"
    single = compare_paths([base], [new], pool_repeats=False)
    assert len(single.base.runs) == 1
    assert _find(single, "peak_rss").status == "untested"


def test_beta_shortcut_matches_a_brute_force_bootstrap() -> None:
    rng = np.random.default_rng(7)
    values = np.sort(rng.lognormal(3.0, 0.6, 2000))
    fast = stats.bootstrap_percentile(values, 95.0, 4000, np.random.default_rng(1))
    picks = np.random.default_rng(2).integers(0, values.size, size=(4000, values.size))
    slow = np.sort(values[picks], axis=1)[:, stats.order_index(values.size, 95.0) - 1]
    assert np.mean(fast) == pytest.approx(np.mean(slow), rel=0.01)
    assert np.std(fast) == pytest.approx(np.std(slow), rel=0.15)


def test_point_estimates_are_the_summary_percentiles(base_run: Path, slower_run: Path) -> None:
    from harness.contract import rundir

    result = compare_paths([base_run], [slower_run])
    for side, run in (("base", base_run), ("new", slower_run)):
        summary = rundir.load_summary(run)
        for name, op in [("overall", summary.overall), *summary.operations.items()]:
            for metric in ("p50", "p95", "p99"):
                assert getattr(_find(result, metric, name), side) == getattr(op.latency_ms, metric)


def test_bootstrap_replicates_use_the_hdr_rank_and_buckets() -> None:
    values = np.random.default_rng(4).lognormal(3.0, 0.6, 999)
    point = stats.percentile(values, 95.0)
    reported = stats.hdr_sorted(values)
    assert point == reported[stats.order_index(values.size, 95.0) - 1]
    replicates = stats.bootstrap_percentile(reported, 95.0, 2000, np.random.default_rng(1))
    assert set(replicates.tolist()) <= set(reported.tolist())  # every replicate is an HDR value
    assert np.median(replicates) == pytest.approx(point, rel=0.02)


@pytest.mark.parametrize(("text", "expected"), [("5%", 0.05), ("0.05", 0.05), (" 12.5% ", 0.125), ("0", 0.0)])
def test_parse_fraction_accepts_percent_and_fraction(text: str, expected: float) -> None:
    assert parse_fraction(text, "--threshold") == pytest.approx(expected)


@pytest.mark.parametrize("text", ["5", "abc", "-3%", "nan%"])
def test_parse_fraction_rejects_bad_input_naming_the_argument(text: str) -> None:
    with pytest.raises(ThresholdError, match="--threshold"):
        parse_fraction(text, "--threshold")


def test_exit_codes_and_outputs(
    base_run: Path, slower_run: Path, aa_runs: list[Path], tmp_path: Path, capsys
) -> None:
    out = tmp_path / "out"
    assert compare_cmd.main([str(base_run), str(slower_run), "--out", str(out)]) == 1
    data = json.loads((out / "compare.json").read_text())
    assert data["verdict"] == "regression" and "p50(simple_query)" in data["regressions"]
    html = (out / "compare.html").read_text()
    assert "Regression" in html and "command_ack" in html
    assert compare_cmd.main([str(base_run), str(aa_runs[0]), "--out", str(out)]) == 0
    assert json.loads((out / "compare.json").read_text())["verdict"] == "ok"
    assert compare_cmd.main([str(base_run), str(tmp_path / "missing")]) == 2
    assert "not a run folder" in capsys.readouterr().err
    assert compare_cmd.main([str(base_run), str(slower_run), "--threshold", "ten"]) == 2
    assert "--threshold" in capsys.readouterr().err
    assert compare_cmd.main([str(base_run), str(slower_run), "--alpha", "2%", "--bootstrap", "5"]) == 2
    assert "--bootstrap" in capsys.readouterr().err


def test_html_escapes_scenario_names(tmp_path: Path) -> None:
    evil = "<script>alert(1)</script>"
    a = make_run(tmp_path, SyntheticSpec(seed=1, run_id="x1", scenario=evil, duration_s=10))
    b = make_run(tmp_path, SyntheticSpec(seed=2, run_id="x2", scenario=evil, duration_s=10))
    assert compare_cmd.main([str(a), str(b), "--out", str(tmp_path)]) in (0, 1)
    html = (tmp_path / "compare.html").read_text()
    assert evil not in html and "&lt;script&gt;" in html


def _attach_hotspots(run: Path, rows: list[dict[str, object]]) -> None:
    (run / "hotspots.json").write_text(json.dumps({"hotspots": rows}))
    manifest = json.loads((run / "manifest.json").read_text())
    manifest["profiles"] = {"cpu": {"status": "ok", "files": {"hotspots": "hotspots.json"}}}
    (run / "manifest.json").write_text(json.dumps(manifest))


def test_differential_hotspots_rank_the_frame_that_grew(tmp_path: Path) -> None:
    a = make_run(tmp_path, SyntheticSpec(seed=1, run_id="h1", duration_s=10))
    b = make_run(tmp_path, SyntheticSpec(seed=2, run_id="h2", duration_s=10))
    _attach_hotspots(
        a, [{"function": "handle", "self_percent": 30.0}, {"function": "encode", "self_percent": 10.0}]
    )
    _attach_hotspots(
        b,
        [{"function": "handle", "self_percent": 25.0}, {"function": "slow_path_burn", "self_percent": 20.0}],
    )
    rows = compare_paths([a], [b]).hotspots
    assert rows[0].frame == "slow_path_burn" and rows[0].delta_percent == pytest.approx(20.0)
    assert {r.frame for r in rows} == {"handle", "encode", "slow_path_burn"}


def test_two_stage_interval_carries_run_to_run_noise() -> None:
    rng = np.random.default_rng(3)
    # Three repeats per side whose whole runs shift by a few percent (machine state), no real change.
    base = [rng.lognormal(3.0, 0.4, 3000) * f for f in (0.95, 1.0, 1.05)]
    new = [rng.lognormal(3.0, 0.4, 3000) * f for f in (0.97, 1.03, 1.08)]
    pooled = stats.percentile_change_ci(
        np.concatenate(base), np.concatenate(new), 50.0, confidence=0.99, n_boot=2000, seed=0
    )
    two_stage = stats.repeated_percentile_change_ci(base, new, 50.0, confidence=0.99, n_boot=2000, seed=0)
    assert pooled is not None and two_stage is not None
    assert (two_stage.high - two_stage.low) > 2 * (pooled.high - pooled.low)
    assert pooled.excludes_zero() and not two_stage.excludes_zero()


def test_window_bootstrap_widens_the_interval_when_seconds_are_correlated() -> None:
    rng = np.random.default_rng(5)
    seconds = np.repeat(np.arange(60), 50)
    # Each second has its own slowdown factor (a noisy neighbour, a GC pause): requests of one
    # second are not independent, which the request bootstrap ignores.
    per_second = rng.lognormal(0.0, 0.15, 60)
    base = rng.lognormal(3.0, 0.3, seconds.size) * per_second[seconds]
    new = rng.lognormal(3.0, 0.3, seconds.size) * rng.lognormal(0.0, 0.15, 60)[seconds]
    windows = stats.window_percentile_change_ci(
        (base, seconds), (new, seconds), (50.0,), confidence=0.99, n_boot=1000, seed=0
    )[0]
    requests = stats.percentile_change_ci(base, new, 50.0, confidence=0.99, n_boot=1000, seed=0)
    assert windows is not None and requests is not None
    assert (windows.high - windows.low) > 1.5 * (requests.high - requests.low)


def test_both_bootstrap_units_find_the_known_shift(base_run: Path, slower_run: Path) -> None:
    for unit in ("seconds", "requests"):
        result = compare_paths([base_run], [slower_run], CompareSettings(bootstrap_unit=unit))
        assert _find(result, "p50", "simple_query").status == "regression", unit
