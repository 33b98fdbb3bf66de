"""ROI arithmetic on a cost model whose answer is known by hand; the roi command's outputs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from harness.commands import roi as roi_cmd
from harness.roi.model import DEFAULT_COST_MODEL, CostModelError, load_cost_model
from harness.roi.outputs import load_roi
from harness.roi.roi import Measured, compute_roi, investment
from harness.testing.synthetic import SyntheticSpec, make_run

KNOWN = {
    "schema_version": 1,
    "currency": "USD",
    "infrastructure": {
        "vcpu_hour": {"value": 0.10},
        "gb_hour": {"value": 0.01},
        "headroom": {"value": 1},
        "replicas": {"value": 1},
        "hours_per_month": {"value": 1000},
    },
    "traffic": {"requests_per_month": {"value": 3.6e9}},
    "people": {"engineer_hourly_rate": {"value": 100}, "team_members_trained": {"value": 2}},
    "investment": {
        "initial_hours": {"low": 40, "high": 80},
        "monitoring_hours_per_week": {"value": 0},
        "quarterly_review_hours": {"value": 30},
        "tool_cost_per_month": {"low": 500, "high": 1500},
        "training_hours_per_member": {"value": 10},
    },
    "support": {"cost_per_failed_request": {"value": 0.0001}},
    "revenue": {"enabled": False},
}
BEFORE = Measured(cpu_ms_per_request=10.0, peak_rss_mb=1024.0, error_rate=0.01, p50_ms=200.0)
AFTER = Measured(cpu_ms_per_request=4.0, peak_rss_mb=512.0, error_rate=0.001, p50_ms=100.0)


@pytest.fixture()
def known_model(tmp_path: Path):
    path = tmp_path / "model.yaml"
    path.write_text(yaml.safe_dump(KNOWN))
    return load_cost_model(path)


def test_roi_arithmetic_matches_the_hand_computation(known_model) -> None:
    result = compute_roi(BEFORE, {"low": AFTER, "point": AFTER, "high": AFTER}, known_model)
    point = result.cases["point"]
    # CPU: 10 ms x 3.6e9 / 1000 / 3600 = 10,000 vCPU-h = $1000 -> $400; memory $10 -> $5;
    # support: 3.6e7 failures x $0.0001 = $3600 -> $360.
    assert point.monthly_cost_before == pytest.approx(
        {"cpu": 1000, "memory": 10, "support": 3600, "revenue_loss": 0}
    )
    assert point.monthly_savings == pytest.approx(3845.0)
    assert point.one_off_investment == pytest.approx(8000.0)  # (60 h + 2 x 10 h) x $100
    assert point.recurring_monthly == pytest.approx(2000.0)  # 30 h / 3 x $100 + $1000 tools
    assert point.payback_months == pytest.approx(8000.0 / 1845.0)
    assert point.roi_12_months == pytest.approx((12 * 3845 - 32000) / 32000)
    assert point.requests_per_month_for_6_month_payback == pytest.approx(
        (8000 / 6 + 2000 - 5) / (3840 / 3.6e9)
    )


def test_investment_ranges_drive_low_and_high_cases(known_model) -> None:
    assert investment(known_model, "low") == pytest.approx((10000.0, 2500.0))
    assert investment(known_model, "high") == pytest.approx((6000.0, 1500.0))
    result = compute_roi(BEFORE, {"low": AFTER, "point": AFTER, "high": AFTER}, known_model)
    assert (
        result.cases["low"].payback_months
        > result.cases["point"].payback_months
        > result.cases["high"].payback_months
    )


def test_no_savings_never_pays_back(known_model) -> None:
    result = compute_roi(BEFORE, {"low": BEFORE, "point": BEFORE, "high": BEFORE}, known_model)
    assert result.cases["point"].payback_months is None
    assert result.cases["point"].roi_12_months == pytest.approx(-1.0)


def test_revenue_sensitivity_is_used_only_when_enabled(tmp_path: Path) -> None:
    data = json.loads(json.dumps(KNOWN))
    data["revenue"] = {
        "enabled": True,
        "monthly_revenue": {"value": 100000},
        "loss_per_100ms": {"value": 0.01},
    }
    path = tmp_path / "m.yaml"
    path.write_text(yaml.safe_dump(data))
    result = compute_roi(BEFORE, {"low": AFTER, "point": AFTER, "high": AFTER}, load_cost_model(path))
    # 100 ms less median latency x 1% per 100 ms x $100,000 = $1000 more per month
    assert result.cases["point"].monthly_savings == pytest.approx(3845.0 + 1000.0)


def test_default_cost_model_documents_every_figure() -> None:
    model = load_cost_model()
    rows = model.sources()
    assert rows and all(r["source"] for r in rows)
    assert (
        model.figure("investment", "initial_hours").lo == 40
        and model.figure("investment", "initial_hours").hi == 80
    )
    assert model.figure("investment", "tool_cost_per_month").hi == 2000
    assert "guide" in model.figure("investment", "monitoring_hours_per_week").source
    assert DEFAULT_COST_MODEL.is_file()


def test_bad_cost_model_is_a_clear_error(tmp_path: Path) -> None:
    data = json.loads(json.dumps(KNOWN))
    del data["traffic"]["requests_per_month"]
    path = tmp_path / "m.yaml"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(CostModelError, match=r"traffic\.requests_per_month"):
        load_cost_model(path)


def test_roi_command_writes_json_and_html(tmp_path: Path, known_model, capsys) -> None:
    before = make_run(tmp_path, SyntheticSpec(seed=1, run_id="before", cpu_percent=40, duration_s=20))
    after = make_run(
        tmp_path, SyntheticSpec(seed=2, run_id="after", cpu_percent=20, latency_scale=0.5, duration_s=20)
    )
    model_path = tmp_path / "model.yaml"
    model_path.write_text(yaml.safe_dump(KNOWN))
    assert (
        roi_cmd.main(["--before", str(before), "--after", str(after), "--cost-model", str(model_path)]) == 0
    )
    data = json.loads((after / "roi.json").read_text())
    assert load_roi(after).model_dump() == load_roi(after / "roi.json").model_dump()
    point = data["cases"]["point"]
    # CPU halves (40% -> 20% at the same rate): the CPU line of the cost roughly halves.
    assert point["monthly_cost_after"]["cpu"] == pytest.approx(
        point["monthly_cost_before"]["cpu"] / 2, rel=0.1
    )
    low, high = data["cases"]["low"], data["cases"]["high"]
    assert low["monthly_savings"] <= point["monthly_savings"] <= high["monthly_savings"]
    benefits = {b["benefit"]: b for b in data["benefits"]}
    assert benefits["response time"]["measured"] == pytest.approx(-0.5, abs=0.06)
    html = (after / "roi.html").read_text()
    assert "claimed vs measured" in html and "<svg" in html
    assert "typical payback of 3–6 months" in html  # the claim, from claims.yaml
    assert roi_cmd.main(["--before", str(before), "--after", str(tmp_path / "nope")]) == 2
    assert (
        roi_cmd.main(
            ["--before", str(before), "--after", str(after), "--cost-model", str(tmp_path / "x.yaml")]
        )
        == 2
    )
    assert roi_cmd.main(["--before", str(before)]) == 2
