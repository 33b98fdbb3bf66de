"""The run-folder contract: atomic writes, version checks, old fixtures keep loading."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from harness.contract import rundir
from harness.testing import synthetic

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "runs"


def test_atomic_write_leaves_nothing_behind_when_the_writer_fails(tmp_path: Path) -> None:
    target = tmp_path / "summary.json"
    target.write_text("old")
    with pytest.raises(RuntimeError), rundir.atomic_path(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("boom")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["summary.json"]


def test_unsupported_schema_version_is_a_clear_error(tmp_path: Path) -> None:
    run = synthetic.make_run(tmp_path, synthetic.SyntheticSpec(duration_s=5, rate=20))
    data = json.loads((run / rundir.MANIFEST_FILE).read_text())
    data["schema_version"] = 99
    (run / rundir.MANIFEST_FILE).write_text(json.dumps(data))
    with pytest.raises(rundir.RunDirError, match="unsupported schema_version 99"):
        rundir.load_manifest(run)


@pytest.mark.parametrize("version_dir", sorted(p.name for p in FIXTURES.iterdir()))
def test_old_run_folders_keep_loading(version_dir: str, tmp_path: Path) -> None:
    run = shutil.copytree(FIXTURES / version_dir, tmp_path / version_dir)
    manifest = rundir.load_manifest(run)
    summary = rundir.load_summary(run)
    assert manifest.run_id == summary.run_id
    assert summary.overall.count > 0
    assert summary.overall.latency_ms.p95 is not None


def test_resolve_run_dir_accepts_ids_and_paths(tmp_path: Path) -> None:
    run = synthetic.make_run(tmp_path / "runs", synthetic.SyntheticSpec(duration_s=3, rate=10, run_id="abc"))
    assert rundir.resolve_run_dir("abc", reports_dir=tmp_path) == run
    assert rundir.resolve_run_dir(run) == run
    with pytest.raises(rundir.RunDirError):
        rundir.resolve_run_dir("nope", reports_dir=tmp_path)


def test_synthetic_latency_scale_shifts_percentiles(tmp_path: Path) -> None:
    base = rundir.load_summary(synthetic.make_run(tmp_path, synthetic.SyntheticSpec(seed=1, run_id="a")))
    slow = rundir.load_summary(
        synthetic.make_run(tmp_path, synthetic.SyntheticSpec(seed=1, run_id="b", latency_scale=1.5))
    )
    assert slow.overall.latency_ms.p50 == pytest.approx(base.overall.latency_ms.p50 * 1.5, rel=0.01)
