from __future__ import annotations

from pathlib import Path

import pytest

from harness.contract.runfolder import RunFolder
from harness.verdict import series
from harness.verdict.evaluate import evaluate, gate_failures
from harness.verdict.model import RuleResult
from harness.verdict.rules import RuleSpec, parse_rule


def one(run_dir: Path, text: str, baseline: Path | None = None, required: bool = False) -> RuleResult:
    spec = RuleSpec("r", parse_rule(text), "cli", required=required)
    verdict = evaluate(RunFolder(run_dir), [spec], baseline=RunFolder(baseline) if baseline else None)
    return verdict.rules[0]


def test_whole_run_pass_and_fail_use_summary_values(runs: dict[str, Path]) -> None:
    good = one(runs["good"], "p95(command_ack) < 100ms")
    slow = one(runs["slow"], "p95(command_ack) < 100ms")
    assert good.status == "pass" and good.measured is not None and good.measured < 100
    assert slow.status == "fail" and slow.measured is not None and slow.measured > 100
    assert slow.where["operation"] == "command_ack"
    assert slow.threshold == 100.0 and slow.threshold_display == "< 100 ms"


def test_warn_severity_reports_warn_not_fail(runs: dict[str, Path]) -> None:
    result = one(runs["slow"], "p95(command_ack) < 100ms warn")
    assert result.status == "warn"
    assert gate_failures([result]) == []


@pytest.mark.parametrize(
    ("run", "text", "reason_fragment"),
    [
        ("no_monitor", "cpu <= 80%", "no cpu_percent"),
        ("no_monitor", "rss < 1GB for 10s", "monitor disabled"),
        ("no_runtime_metrics", "queue_depth <= 1000", "no queue_depth"),
        ("no_runtime_metrics", "cache_hit_rate(l1) >= 80%", "no cache_hit_rate_l1"),
        ("good", "p95(complex_analysis) < 30s", "did not run"),
        ("good", "p95 <= 2x baseline", "no baseline"),
        ("good", "storage_growth < 1GB/day", "too short"),
        ("good", "rss_growth < 50MB/h", "too short"),
        ("good", "rss_per_agent < 100MB", "agents"),
        ("good", "recovery_time < 2min", "not a spike run"),
        ("good", "breaking_point >= 100", "not a stress run"),
        ("good", "p95 < 1s for 2h", "shorter than the window"),
    ],
)
def test_missing_data_is_not_measured_never_pass(
    run: str, text: str, reason_fragment: str, runs: dict[str, Path]
) -> None:
    result = one(runs[run], text)
    assert result.status == "not-measured"
    assert result.measured is None
    assert reason_fragment in (result.reason or "")


def test_required_not_measured_fails_the_gate(runs: dict[str, Path]) -> None:
    optional = one(runs["good"], "p95(complex_analysis) < 30s")
    required = one(runs["good"], "p95(complex_analysis) < 30s", required=True)
    assert gate_failures([optional]) == []
    assert gate_failures([required]) == [required]


def test_within_window_finds_the_stall_the_whole_run_hides(runs: dict[str, Path]) -> None:
    whole = one(runs["stall"], "p50 < 100ms")
    windowed = one(runs["stall"], "p99 < 1s within 10s")
    assert whole.status == "pass"
    assert windowed.status == "fail"
    assert windowed.measured is not None and windowed.measured > 1000
    start, end = windowed.where["window_start_s"], windowed.where["window_end_s"]
    assert end - start == 10
    assert one(runs["good"], "p99 < 1s within 10s").status == "pass"


def test_for_window_needs_a_sustained_breach(runs: dict[str, Path]) -> None:
    # Held sends all complete when a stall ends: one second of p95 > 1 s, then normal seconds.
    isolated = one(runs["stall"], "p95 < 1s for 1s")
    sustained = one(runs["stall"], "p95 < 1s for 2s")
    assert isolated.status == "fail"
    assert isolated.where["longest_breach_s"] == 1
    assert sustained.status == "pass"
    assert sustained.measured is not None and sustained.measured > 1000  # worst second, still reported
    slow = one(runs["slow"], "p95 < 100ms for 5s")
    assert slow.status == "fail" and slow.where["longest_breach_s"] >= 5


@pytest.mark.parametrize("metric", ["p50", "p95", "p99", "p99.9", "max"])
def test_windowed_latency_is_the_hdr_percentile_of_the_window(runs: dict[str, Path], metric: str) -> None:
    import numpy as np

    from harness.derive.percentiles import histogram_of

    run = RunFolder(runs["stall"])
    assert run.samples is not None
    q = {"p50": 50.0, "p95": 95.0, "p99": 99.0, "p99.9": 99.9, "max": 100.0}[metric]
    for operation in (None, "command_ack"):
        subject = metric if operation is None else f"{metric}({operation})"
        samples = run.samples if operation is None else run.samples[run.samples["operation"] == operation]
        rule = parse_rule(f"{subject} < 1s for 1s")
        found = series.window_values(rule, run, 1)  # all operations: timeseries.csv when it has the column
        assert found is not None
        for second in range(run.seconds):
            hist = histogram_of(samples.loc[samples["sec"] == second, "latency_ms"])
            expected = hist.get_value_at_percentile(q) / 1000.0 if hist.get_total_count() else np.nan
            np.testing.assert_equal(found[1][second], expected)
        within = series.window_values(parse_rule(f"{subject} < 1s within 10s"), run, 10)
        assert within is not None
        inside = samples.loc[(samples["sec"] >= 10) & (samples["sec"] < 20), "latency_ms"]
        assert within[1][10] == histogram_of(inside).get_value_at_percentile(q) / 1000.0
        assert np.isfinite(within[1]).all()


def test_for_window_on_monitored_series(runs: dict[str, Path]) -> None:
    assert one(runs["good"], "cpu <= 20% for 10s").status == "fail"  # synthetic CPU ~35%
    assert one(runs["good"], "cpu <= 80% for 10s").status == "pass"


def test_for_window_counts_seconds_on_long_runs(
    runs: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Runs longer than MAX_WINDOWS seconds thin the sliding windows; the per-second bins of a
    # ``for`` rule must not be thinned, or a 40 s breach would count as 4 "seconds".
    monkeypatch.setattr(series, "MAX_WINDOWS", 4)
    result = one(runs["good"], "cpu <= 20% for 10s")  # synthetic CPU ~35% throughout
    assert result.status == "fail"
    assert result.where["longest_breach_s"] == 40
    assert result.where["window_end_s"] - result.where["window_start_s"] == 40


def test_error_rate_per_operation_and_window(runs: dict[str, Path]) -> None:
    whole = one(runs["errors"], "error_rate(command_ack) < 1%")
    windowed = one(runs["errors"], "error_rate < 1% within 10s")
    assert whole.status == "fail" and whole.measured == pytest.approx(0.05, abs=0.02)
    assert windowed.status == "fail" and windowed.measured_display is not None
    assert windowed.measured_display.endswith("%")
    assert one(runs["good"], "error_rate < 1% within 10s").status == "pass"


def test_two_times_baseline(runs: dict[str, Path]) -> None:
    regressed = one(runs["slow"], "p95 <= 2x baseline", baseline=runs["good"])
    same = one(runs["good"], "p95 <= 2x baseline", baseline=runs["good"])
    assert regressed.status == "fail"
    assert same.status == "pass"
    assert regressed.threshold == pytest.approx(2 * same.measured)  # type: ignore[operator]
    assert "2x baseline" in regressed.threshold_display


def test_concurrency_is_measured_from_samples(runs: dict[str, Path]) -> None:
    result = one(runs["good"], "concurrency >= 1")
    assert result.status == "pass" and result.measured is not None and result.measured >= 1


def test_scenario_expect_and_gates_become_required_rules(runs: dict[str, Path], tmp_path: Path) -> None:
    from harness.verdict.expect import expect_rules, gate_rules

    scenario = {
        "expect": {
            "overall": {"p95": "2s", "error_rate": "0.1%", "min_rate": 10},
            "command_ack": {"p99_9": 0.5},
        },
        "gates": ["p95(handoff) < 5s"],
    }
    specs = expect_rules(scenario) + gate_rules(scenario)
    texts = [s.rule.text for s in specs]
    assert texts == [
        "p95 < 2000ms",
        "error_rate < 0.1%",
        "rate >= 10 req/s",
        "p99.9(command_ack) < 500ms",
        "p95(handoff) < 5s",
    ]
    assert all(s.required for s in specs)
    verdict = evaluate(RunFolder(runs["good"]), specs)
    assert verdict.status == "pass", [r for r in verdict.rules if r.status != "pass"]


def test_rss_growth_on_a_long_enough_run(tmp_path: Path) -> None:
    from harness.testing.synthetic import SyntheticSpec, make_run

    leaking = make_run(
        tmp_path, SyntheticSpec(run_id="leak", rate=2, duration_s=700, rss_growth_mb_per_h=200)
    )
    result = one(leaking, "rss_growth < 50MB/h")
    assert result.status == "fail"
    assert result.measured == pytest.approx(200, rel=0.05)
    assert one(leaking, "storage_growth < 1GB/day").reason == (
        "the monitor recorded no storage size (column storage_mb; the target exports no "
        "motherbox_database_bytes)"
    )


def test_small_rate_thresholds_display_per_hour(runs: dict[str, Path]) -> None:
    result = one(runs["good"], "rate(handoff) >= 100/h")
    assert result.status == "pass"
    assert result.measured_display is not None and result.measured_display.endswith("/h")
    assert result.threshold_display == ">= 100/h"


def test_windowed_rule_without_timeseries(runs: dict[str, Path], tmp_path: Path) -> None:
    import shutil

    copy = Path(shutil.copytree(runs["good"], tmp_path / "good"))
    (copy / "timeseries.csv").unlink()
    result = one(copy, "p99 < 1s within 10s")
    assert result.status == "not-measured" and "timeseries.csv is missing" in (result.reason or "")
    assert one(copy, "p99 < 1s").status == "pass"  # whole-run values come from summary.json
