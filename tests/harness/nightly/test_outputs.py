"""nightly.json: every version's fixture keeps loading, the newest is what the writer writes; bad
files are clear errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.nightly.markdown import markdown
from harness.nightly.outputs import SCHEMA_VERSION, NightlyFileError, load_nightly, write_nightly_json

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "nightly"
FIXTURE = FIXTURES / "v1" / "nightly.json"
NEWEST = FIXTURES / f"v{SCHEMA_VERSION}" / "nightly.json"


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


def test_a_version_1_file_is_written_back_as_today_s_format(tmp_path: Path) -> None:
    loaded = load_nightly(FIXTURE)
    assert loaded.baseline_ref is None and all(s.paired is None for s in loaded.steps)
    write_nightly_json(loaded, tmp_path)
    expected = json.loads(FIXTURE.read_text())
    expected.update(schema_version=SCHEMA_VERSION, baseline_ref=None, baseline_commit=None)
    for step in expected["steps"]:
        step["paired"] = None
    written = json.loads((tmp_path / "nightly.json").read_text())
    assert written == expected and list(written) == list(loaded.to_json())


def test_newest_fixture_is_what_the_writer_writes(tmp_path: Path) -> None:
    """It holds every field the writer emits (a new field needs a new version)."""
    raw = json.loads(NEWEST.read_text())
    assert raw["schema_version"] == SCHEMA_VERSION
    write_nightly_json(load_nightly(NEWEST), tmp_path)
    assert json.loads((tmp_path / "nightly.json").read_text()) == raw
    assert list(raw["steps"][0]["paired"]["headline"][0]) == list(
        load_nightly(NEWEST).steps[0].paired.headline[0].model_dump()  # type: ignore[union-attr]
    )


def test_version_2_fixture_holds_paired_steps() -> None:
    result = load_nightly(NEWEST)
    assert result.baseline_ref == "main" and result.baseline_commit
    steady, endurance, spike = result.steps
    assert steady.paired is not None and steady.paired.verdict == "regression"
    assert endurance.paired is not None and endurance.paired.verdict == "no_change"
    assert spike.paired is None and spike.run_status == "aborted"
    assert result.exit_code() == 1 and result.failed_steps == ["spike"]
    text = markdown(result)
    assert "HEAD vs main (3046cb9c5e1f), paired" in text
    assert (
        f"| steady | steady_state | complete | REGRESSION vs main ([ab.html]({steady.paired.ab_html})) |"
        in text
    )
    assert "| p95(overall) | 69.95 ms | 90.69 ms | +29.6% | [+22.1%, +43.8%] | 19.0% | regression |" in text


def test_markdown_of_the_fixture_lists_steps_and_extras() -> None:
    text = markdown(load_nightly(FIXTURE))
    assert "| steady | steady_scenario | complete | steady: " not in text  # regressions are per step
    assert "p50(overall) +25.2%" in text and "rss_slope_r2=" in text and "Exit code: 1" in text


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('{"kind": "motherbox-perf/nightly", "schema_version": 3}', "unsupported schema_version 3"),
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
