"""compare.json: a typed, versioned file; files of older versions keep loading."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from harness.compare.compare import compare_paths, write_compare_json
from harness.compare.result import COMPARE_SCHEMA_VERSION, CompareFileError, load_compare

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "compare"


@pytest.mark.parametrize("version_dir", sorted(p.name for p in FIXTURES.iterdir()))
def test_old_compare_files_keep_loading(version_dir: str) -> None:
    loaded = load_compare(FIXTURES / version_dir)
    raw = json.loads((FIXTURES / version_dir / "compare.json").read_text())
    assert loaded.verdict == raw["verdict"] and loaded.regressions == raw["regressions"]
    assert [m.label for m in loaded.metrics if m.status == "regression"] == raw["regressions"]
    assert loaded.settings.alpha == raw["settings"]["alpha"] and loaded.base.runs == raw["base"]["runs"]


def test_newest_fixture_is_what_compare_writes() -> None:
    """The fixture holds every field the writer emits, in its order (a new field needs a new version)."""
    newest = FIXTURES / f"v{COMPARE_SCHEMA_VERSION}"
    raw = json.loads((newest / "compare.json").read_text())
    assert raw["schema_version"] == COMPARE_SCHEMA_VERSION
    assert list(raw) == list(load_compare(newest).model_dump())
    assert list(raw["settings"]) == list(load_compare(newest).model_dump()["settings"])
    assert list(raw["metrics"][0]) == list(load_compare(newest).metrics[0].model_dump())
    assert {"inconclusive", "too_few_samples", "regression"} <= {m["status"] for m in raw["metrics"]}


def test_v1_files_load_with_the_settings_they_were_computed_with() -> None:
    """Version 1 had no absolute floor, no minimum samples and no MDE."""
    loaded = load_compare(FIXTURES / "v1")
    assert loaded.settings.min_effect_ms == 0.0 and loaded.settings.min_samples == {}
    assert all(m.mde is None for m in loaded.metrics)


def test_written_file_loads_back_equal(base_run: Path, slower_run: Path, tmp_path: Path) -> None:
    result = compare_paths([base_run], [slower_run])
    json_path = write_compare_json(result, tmp_path)
    loaded = load_compare(json_path)
    assert loaded.model_dump() == result.to_json()
    assert loaded.verdict == "regression" and "p50(simple_query)" in loaded.regressions
    assert list(json.loads(json_path.read_text())) == list(result.to_json())


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"schema_version": 99}, "unsupported schema_version 99"),
        ({"kind": "motherbox-perf/run"}, "not a motherbox-perf/compare file"),
        ({"verdict": "maybe"}, "verdict"),
    ],
)
def test_bad_compare_files_are_one_clear_error(
    tmp_path: Path, change: dict[str, object], message: str
) -> None:
    path = shutil.copy(FIXTURES / "v1" / "compare.json", tmp_path / "compare.json")
    data = json.loads(Path(path).read_text())
    Path(path).write_text(json.dumps({**data, **change}))
    with pytest.raises(CompareFileError, match=message):
        load_compare(Path(path))
    with pytest.raises(CompareFileError, match="not found"):
        load_compare(tmp_path / "missing.json")
