"""nightly.json: today's format (a schema version 1 fixture) keeps loading; bad files are clear errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.nightly.outputs import NightlyFileError, load_nightly, write_nightly_json
from harness.nightly.suite import markdown

FIXTURE = Path(__file__).resolve().parents[2] / "fixtures" / "nightly" / "v1" / "nightly.json"


def test_version_1_fixture_loads_with_every_kind_of_step() -> None:
    result = load_nightly(FIXTURE)
    saved = json.loads(FIXTURE.read_text())
    assert [s.step for s in result.steps] == ["steady", "endurance", "spike", "stress", "profile"]
    # the derived fields are recomputed from the steps and agree with what was written
    assert result.regressions == saved["regressions"] and result.exit_code() == saved["exit_code"] == 1
    assert result.failed_steps == saved["failed_steps"] == []
    steps = {s.step: s for s in result.steps}
    assert steps["endurance"].extras.rss_slope_mb_per_h == pytest.approx(2043.949, rel=1e-6)
    assert steps["spike"].extras.recovery_time is None and "not a spike run" in (
        steps["spike"].extras.reason or ""
    )
    assert steps["profile"].extras.profiles == {}
    assert steps["steady"].baseline == "reports/runs/n0-steady"


def test_written_file_equals_the_fixture(tmp_path: Path) -> None:
    write_nightly_json(load_nightly(FIXTURE), tmp_path)
    assert json.loads((tmp_path / "nightly.json").read_text()) == json.loads(FIXTURE.read_text())


def test_markdown_of_the_fixture_lists_steps_and_extras() -> None:
    text = markdown(load_nightly(FIXTURE))
    assert "| steady | steady_scenario | complete | steady: " not in text  # regressions are per step
    assert "p50(overall) +25.2%" in text and "rss_slope_r2=" in text and "Exit code: 1" in text


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('{"kind": "motherbox-perf/nightly", "schema_version": 2}', "unsupported schema_version 2"),
        ('{"kind": "motherbox-perf/roi", "schema_version": 1}', "not a motherbox-perf/nightly file"),
        ("[]", "expected a JSON object"),
        ('{"kind": "motherbox-perf/nightly", "schema_version": 1, "steps": []}', "nightly_id"),
    ],
)
def test_bad_files_are_one_line_errors(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "nightly.json"
    path.write_text(content)
    with pytest.raises(NightlyFileError, match=message):
        load_nightly(path)
