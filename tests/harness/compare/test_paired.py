"""harness ab's analysis on duet-like synthetic pairs: A and B share the window and its interference."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from pathlib import Path

import numpy as np
import pytest

from harness.compare import stats
from harness.compare.ab_result import AB_SCHEMA_VERSION, AbFileError, AbResult, load_ab, write_ab_json
from harness.compare.compare import ThresholdError, compare_paths
from harness.compare.paired import (
    PairedSettings,
    paired_compare,
    paired_compare_repeats,
    paired_settings,
    plan_blocks,
)
from harness.contract.rundir import RunDirError, load_summary
from harness.testing.synthetic import SyntheticOp, SyntheticSpec, make_run

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "ab"
#: Two fast operations with modest per-request spread: the shared interference dominates.
OPS = (SyntheticOp("query", 0.7, 20.0, 0.3), SyntheticOp("write", 0.3, 30.0, 0.3))


def duet(
    parent: Path, seed: int, *, scale: float = 1.0, duration_s: float = 30.0, sigma: float = 0.5, **kw: object
) -> tuple[Path, Path]:
    """A and B of one duet: the same window and interference, independent per-request noise."""
    common = dict(duration_s=duration_s, ops=OPS, interference_seed=1000 + seed, interference_sigma=sigma)
    common.update(kw)
    tags = {"ab": f"ab{seed}", "ab_assign": "mirror"}
    a = make_run(
        parent / "a", SyntheticSpec(seed=10 + seed, run_id="a", tags={**tags, "ab_side": "a"}, **common)
    )
    b = make_run(
        parent / "b",
        SyntheticSpec(
            seed=5000 + seed, run_id="b", latency_scale=scale, tags={**tags, "ab_side": "b"}, **common
        ),
    )
    return a, b


def _find(result, metric: str, operation: str = "overall"):
    return next(m for m in result.metrics if m.metric == metric and m.operation == operation)


def test_interference_is_shared_and_off_by_default() -> None:
    spec = SyntheticSpec(duration_s=10, interference_seed=3, interference_sigma=0.5)
    from harness.testing.synthetic import interference_factors, make_samples

    assert interference_factors(SyntheticSpec()) is None
    assert np.array_equal(interference_factors(spec), interference_factors(dataclasses.replace(spec, seed=9)))
    plain = make_samples(SyntheticSpec(duration_s=10), 0.0)
    assert np.array_equal(plain["latency_ms"], make_samples(SyntheticSpec(duration_s=10), 0.0)["latency_ms"])


@pytest.mark.parametrize("seed", range(4))
def test_identical_targets_under_heavy_interference_never_regress_and_pairing_narrows(
    tmp_path: Path, seed: int
) -> None:
    a, b = duet(tmp_path, seed)
    result = paired_compare(a, b, PairedSettings())
    assert not result.has_regression, [(m.label, m.change, m.p_adjusted) for m in result.regressions]
    assert result.headline.verdict in ("no_regression", "inconclusive")
    unpaired = compare_paths([a], [b])
    paired_p95, seq_p95 = _find(result, "p95"), _find(unpaired, "p95")
    width = (paired_p95.ci_high - paired_p95.ci_low) / (seq_p95.ci_high - seq_p95.ci_low)
    print(f"seed {seed}: paired/unpaired p95 CI width {width:.3f}")
    assert width < 1.0
    assert width < 0.5  # measured 0.15-0.23 over seeds 0-4


def test_printed_percentiles_equal_each_sides_summary(tmp_path: Path) -> None:
    a, b = duet(tmp_path, 7)
    result = paired_compare(a, b)
    for side_dir, side in ((a, "a"), (b, "b")):
        summary = load_summary(side_dir)
        for m in result.metrics:
            if m.metric in ("p50", "p95", "p99"):
                ops = summary.overall if m.operation == "overall" else summary.operations[m.operation]
                assert getattr(m, side) == getattr(ops.latency_ms, m.metric)
    assert result.a.requests == load_summary(a).overall.count


def test_a_30_percent_slower_b_is_a_regression(tmp_path: Path) -> None:
    a, b = duet(tmp_path, 0, scale=1.3)
    result = paired_compare(a, b)
    assert result.has_regression and result.headline.verdict == "regression"
    p95 = _find(result, "p95")
    assert p95.status == "regression" and p95.mark == "+"
    assert p95.ci_low is not None and p95.ci_high is not None and p95.ci_low < 0.3 < p95.ci_high
    assert p95.p_adjusted is not None and p95.p_adjusted < 0.01
    assert _find(result, "cpu_per_request").status != "regression"  # CPU did not change


def test_mde_shrinks_as_the_run_lengthens(tmp_path: Path) -> None:
    short = paired_compare(*duet(tmp_path / "short", 1, duration_s=15))
    long = paired_compare(*duet(tmp_path / "long", 1, duration_s=90))
    for metric in ("p50", "p95"):
        ms, ml = _find(short, metric).mde, _find(long, metric).mde
        assert ms is not None and ml is not None and ml < 0.75 * ms, (metric, ms, ml)


def test_min_effect_floor_and_sample_floor(tmp_path: Path) -> None:
    a, b = duet(tmp_path, 2, scale=1.3)
    floored = paired_compare(a, b, PairedSettings(min_effect_ms=1000.0))
    assert not floored.has_regression
    assert _find(floored, "p95").status == "no_change" and _find(floored, "p95").mark == "="
    few = paired_compare(a, b, PairedSettings(min_samples={"p50": 10**6, "p95": 10**6, "p99": 10**6}))
    assert not few.has_regression and _find(few, "p95").status == "too_few_samples"


def test_holm_adjusts_a_borderline_metric_among_many() -> None:
    p = [0.004, *([0.5] * 15)]
    adjusted = stats.holm_adjust(p)
    assert p[0] < 0.01 < adjusted[0] == pytest.approx(0.064)
    assert stats.holm_adjust([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])


def test_holm_is_applied_over_the_judged_metrics(tmp_path: Path) -> None:
    result = paired_compare(*duet(tmp_path, 3))
    judged = [m for m in result.metrics if m.p_adjusted is not None]
    assert result.headline.judged == len(judged) >= 10
    assert all(m.p_value is not None and m.p_adjusted >= m.p_value for m in judged)
    smallest = min(judged, key=lambda m: m.p_value or 1.0)
    assert smallest.p_adjusted == pytest.approx(min(1.0, len(judged) * (smallest.p_value or 0.0)))


def test_p_value_readings_agree_where_both_resolve() -> None:
    rng = np.random.default_rng(0)
    reps = rng.normal(0.02, 0.01, 20000)
    share = 2 * min(np.mean(reps <= 0), np.mean(reps >= 0))
    assert stats.bootstrap_p_value(0.02, reps) == pytest.approx(share, rel=0.15)
    assert stats.bootstrap_p_value(0.0, np.zeros(10)) == 1.0


def test_weighted_block_percentiles_with_unit_weights_is_the_hdr_percentile() -> None:
    rng = np.random.default_rng(1)
    lat = rng.lognormal(1.0, 0.8, 5000)
    blocks = rng.integers(0, 17, lat.size)
    out = stats.weighted_block_percentiles(lat, blocks, 17, np.ones((1, 17)), (50.0, 95.0, 99.0))
    assert list(out[0]) == [stats.percentile(lat, q) for q in (50.0, 95.0, 99.0)]


def test_mismatched_windows_are_refused(tmp_path: Path) -> None:
    a = make_run(tmp_path / "a", SyntheticSpec(run_id="a", duration_s=10))
    later = SyntheticSpec(
        run_id="b", duration_s=10, started_at=dt.datetime(2026, 11, 1, 2, 0, 1, tzinfo=dt.UTC)
    )
    b = make_run(tmp_path / "b", later)
    with pytest.raises(RunDirError, match="same window"):
        paired_compare(a, b)
    c = make_run(tmp_path / "c", SyntheticSpec(run_id="c", duration_s=12))
    with pytest.raises(RunDirError, match="same window"):
        paired_compare(a, c)


def test_cpu_per_request_is_untested_without_cpu(tmp_path: Path) -> None:
    a, b = duet(tmp_path, 4, monitor=False)
    result = paired_compare(a, b)
    cpu = _find(result, "cpu_per_request")
    assert cpu.status == "untested" and cpu.mark == "?" and cpu.p_adjusted is None
    assert any("CPU was not measured" in w for w in result.warnings)


def test_settings_from_cli_strings() -> None:
    s = paired_settings(threshold="5%", alpha="0.01", min_effect="1ms", n_boot=2000, seed=0)
    assert (s.threshold, s.alpha, s.min_effect_ms, s.n_boot) == (0.05, 0.01, 1.0, 2000)
    with pytest.raises(ThresholdError, match="--min-effect"):
        paired_settings(threshold="5%", alpha="0.01", min_effect="1")
    with pytest.raises(ThresholdError, match="--threshold"):
        paired_settings(threshold="five", alpha="0.01")


def test_ab_json_round_trip(tmp_path: Path) -> None:
    a, b = duet(tmp_path, 5, scale=1.3)
    result = paired_compare(a, b)
    path = write_ab_json(result, tmp_path / "out")
    loaded = load_ab(path)
    assert loaded == result and load_ab(tmp_path / "out").has_regression
    assert json.loads(path.read_text())["kind"] == "motherbox-perf/ab"
    assert len(loaded.series.t) == len(loaded.series.a) == len(loaded.series.ratio) > 5


def test_v1_fixture_loads() -> None:
    loaded = load_ab(FIXTURES / "v1")
    raw = json.loads((FIXTURES / "v1" / "ab.json").read_text())
    assert loaded.schema_version == raw["schema_version"] == 1 < AB_SCHEMA_VERSION
    assert loaded.headline.verdict == raw["headline"]["verdict"]
    dumped = list(AbResult.model_validate(raw).model_dump())
    assert dumped[: len(raw)] == list(raw)  # every v1 field kept, in order; v2's added after
    assert loaded.repeats == [] and loaded.profile is None and loaded.series.repeat_starts == []
    assert {m.status for m in loaded.metrics} >= {"regression", "too_few_samples"}


def test_v2_fixture_loads_with_repeats_and_hotspots() -> None:
    loaded = load_ab(FIXTURES / "v2")
    raw = json.loads((FIXTURES / "v2" / "ab.json").read_text())
    assert loaded.schema_version == raw["schema_version"] == AB_SCHEMA_VERSION == 2
    assert list(AbResult.model_validate(raw).model_dump()) == list(raw)
    assert [r.index for r in loaded.repeats] == [1, 2]
    assert sum(r.blocks for r in loaded.repeats) == _find(loaded, "p95").blocks
    assert loaded.profile is not None and loaded.profile.hotspots[0].function == "slow_path_burn"
    assert loaded.profile.hotspots[0].change_points > 0 and loaded.series.repeat_starts == [20.0]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"schema_version": 99}, "unsupported schema_version 99"),
        ({"kind": "motherbox-perf/compare"}, "not a"),
    ],
)
def test_bad_ab_files_are_one_clear_error(tmp_path: Path, change: dict[str, object], message: str) -> None:
    raw = json.loads((FIXTURES / "v1" / "ab.json").read_text())
    (tmp_path / "ab.json").write_text(json.dumps({**raw, **change}))
    with pytest.raises(AbFileError, match=message):
        load_ab(tmp_path)


# ------------------------------------------------------------------ repeats (harness ab --repeat N)


def test_repeats_pool_their_paired_windows_and_the_mde_shrinks(tmp_path: Path) -> None:
    pairs = [duet(tmp_path / f"r{i}", 20 + i, duration_s=20) for i in range(3)]
    singles = [paired_compare(*pair) for pair in pairs]
    one = singles[0]
    pooled = paired_compare_repeats(pairs)
    for metric in ("p50", "p95"):
        single, both = _find(one, metric), _find(pooled, metric)
        assert both.blocks == 3 * single.blocks and both.n_a == 3 * single.n_a
        mean_single = float(np.mean([_find(r, metric).mde for r in singles]))
        # ~1/sqrt(3) expected; one repeat's MDE is itself noisy (20 blocks), so against their mean
        assert both.mde is not None and both.mde < 0.8 * mean_single, (metric, both.mde, mean_single)
    assert [r.index for r in pooled.repeats] == [1, 2, 3]
    assert [r.blocks for r in pooled.repeats] == [_find(one, "p95").blocks] * 3
    assert pooled.window_seconds == 60 and pooled.series.repeat_starts == [20.0, 40.0]
    assert len(pooled.series.t) == _find(pooled, "p95").blocks
    assert pooled.a.requests == 3 * one.a.requests
    assert one.repeats[0].a_run_dir == str(pairs[0][0]) and one.series.repeat_starts == []


def test_blocks_never_straddle_two_repeats() -> None:
    s = PairedSettings()
    plan = plan_blocks(per_second=10.0, segments=(47, 45), s=s)  # W = 4: 47 s = 11 blocks + a 3 s tail
    assert (plan.seconds, plan.count, plan.blocks_per_repeat()) == (4, 22, [11, 11])
    seconds = np.arange(92)
    blocks = plan.blocks_of(seconds)
    first, second = set(blocks[:47]), set(blocks[47:])
    assert not first & second  # no block holds seconds of both repeats
    assert sorted(first | second) == list(range(plan.count))
    assert list(blocks[40:47]) == [10] * 7  # the tail joins its own repeat's last block
    assert plan.block_starts()[11] == 47.0 and plan.repeat_starts() == [47.0]
    one = plan_blocks(per_second=10.0, segments=(92,), s=s)
    assert list(one.blocks_of(seconds)) == list(np.clip(seconds // one.seconds, 0, one.count - 1))


def test_repeats_must_each_be_one_duet(tmp_path: Path) -> None:
    a, _ = duet(tmp_path / "r1", 1, duration_s=10)
    later = SyntheticSpec(
        run_id="b", duration_s=10, started_at=dt.datetime(2026, 11, 1, 2, 0, 5, tzinfo=dt.UTC)
    )
    with pytest.raises(RunDirError, match="same window"):
        paired_compare_repeats(
            [duet(tmp_path / "r0", 0, duration_s=10), (a, make_run(tmp_path / "x", later))]
        )


# ------------------------------------------------------------------ differential CPU hotspots


def attach_cpu_profile(run: Path, rows: list[dict[str, object]], total: int = 1000) -> None:
    """A py-spy-like hotspot table in the run folder, named by its manifest (as `--profile cpu` does)."""
    folder = run / "profiles" / run.name
    folder.mkdir(parents=True)
    (folder / "hotspots.json").write_text(json.dumps({"total_samples": total, "hotspots": rows}))
    manifest = json.loads((run / "manifest.json").read_text())
    files = {"hotspots": f"profiles/{run.name}/hotspots.json"}
    manifest["profiles"] = {"cpu": {"status": "ok", "files": files}}
    (run / "manifest.json").write_text(json.dumps(manifest))


def skip_cpu_profile(run: Path, reason: str) -> None:
    manifest = json.loads((run / "manifest.json").read_text())
    manifest["profiles"] = {"cpu": {"status": "skipped", "reason": reason}}
    (run / "manifest.json").write_text(json.dumps(manifest))


def hot(function: str, share: float, line: int) -> dict[str, object]:
    return {
        "function": function,
        "file": "app.py",
        "line": line,
        "location": f"app.py:{line}",
        "self_percent": share,
    }


def test_differential_hotspots_name_the_function_that_grew_with_file_and_line(tmp_path: Path) -> None:
    a, b = duet(tmp_path, 30, duration_s=10)
    attach_cpu_profile(a, [hot("handle", 60.0, 10), hot("encode", 40.0, 20)], total=400)
    attach_cpu_profile(b, [hot("handle", 35.0, 10), hot("encode", 25.0, 20), hot("slow_path_burn", 40.0, 42)])
    profile = paired_compare(a, b).profile
    assert profile is not None and profile.note is None
    top = profile.hotspots[0]
    assert (top.function, top.location) == ("slow_path_burn", "app.py:42")
    assert (top.a_percent, top.b_percent, top.change_points) == (0.0, 40.0, 40.0)
    assert [h.function for h in profile.hotspots][-1] == "handle"  # shrank most: last
    assert profile.hotspots[-1].change_points == pytest.approx(-25.0)
    assert (profile.a.samples, profile.b.samples, profile.a.profiled) == (400, 1000, 1)


def test_a_side_without_a_profile_is_a_note_not_a_crash(tmp_path: Path) -> None:
    a, b = duet(tmp_path, 31, duration_s=10)
    skip_cpu_profile(a, "a running service (--a URL) without --a-pid PID")
    attach_cpu_profile(b, [hot("handle", 100.0, 10)])
    profile = paired_compare(a, b).profile
    assert profile is not None and profile.hotspots == []
    assert profile.a.status == "skipped" and "--a-pid" in (profile.a.reason or "")
    assert profile.note == "no differential hotspots: side a was not profiled"
    assert paired_compare(*duet(tmp_path / "plain", 32, duration_s=10)).profile is None
