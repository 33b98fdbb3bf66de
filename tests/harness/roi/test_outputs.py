"""roi.json: today's file format (a fixture of schema version 1) keeps loading; bad files are clear errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.roi.model import load_cost_model
from harness.roi.outputs import RoiFileError, RoiResult, load_roi, write_roi_json
from harness.roi.roi import Measured, compute_roi

FIXTURE = Path(__file__).resolve().parents[2] / "fixtures" / "roi" / "v1" / "roi.json"


def test_version_1_fixture_loads_with_every_section() -> None:
    result = load_roi(FIXTURE)
    assert result.schema_version == 1 and result.currency == "USD"
    assert set(result.cases) == {"low", "point", "high"}
    point = result.cases["point"]
    assert point.monthly_savings == pytest.approx(
        sum(point.monthly_cost_before.values()) - sum(point.monthly_cost_after.values())
    )
    assert [b.benefit for b in result.benefits] == [
        "response time",
        "resource usage",
        "throughput",
        "error rate",
        "availability",
    ]
    assert result.compare is not None and result.compare.base.runs == ["before"]
    assert result.claims["payback_months"] == {
        "low": 3.0,
        "high": 6.0,
        "unit": "",
        "source": "guide: Typical ROI: 3-6 months",
    }


def test_written_file_round_trips_and_keeps_todays_fields(tmp_path: Path) -> None:
    fixture = load_roi(FIXTURE)
    write_roi_json(fixture, tmp_path)
    assert json.loads((tmp_path / "roi.json").read_text()) == json.loads(FIXTURE.read_text())
    assert load_roi(tmp_path) == fixture


def test_computed_result_carries_the_claims_of_the_claims_file() -> None:
    fixture = load_roi(FIXTURE)
    result = compute_roi(
        fixture.before, {c: fixture.cases[c].after for c in ("low", "point", "high")}, load_cost_model()
    )
    assert result.claims == fixture.claims
    assert [row for row in result.assumptions if row["name"].startswith("claims.")] == [
        row for row in fixture.assumptions if row["name"].startswith("claims.")
    ]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('{"kind": "motherbox-perf/roi", "schema_version": 99}', "unsupported schema_version 99"),
        ('{"kind": "motherbox-perf/compare", "schema_version": 1}', "not a motherbox-perf/roi file"),
        ("{not json", "unreadable JSON"),
        ('{"kind": "motherbox-perf/roi", "schema_version": 1}', "currency"),
    ],
)
def test_bad_files_are_one_line_errors(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "roi.json"
    path.write_text(content)
    with pytest.raises(RoiFileError, match=message):
        load_roi(path)


def test_missing_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(RoiFileError, match=r"roi\.json"):
        load_roi(tmp_path)


def test_unmeasured_figures_are_noted() -> None:
    empty = Measured(cpu_ms_per_request=None, peak_rss_mb=None, error_rate=None, p50_ms=1.0)
    result: RoiResult = compute_roi(empty, {"low": empty, "point": empty, "high": empty}, load_cost_model())
    assert result.notes == [
        "cpu_ms_per_request not measured: counted as no change",
        "peak_rss_mb not measured: counted as no change",
        "error_rate not measured: counted as no change",
    ]
