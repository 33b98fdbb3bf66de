"""The run-folder contract: atomic writes, version checks, old fixtures keep loading."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from harness.contract import meta, rundir
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


def test_old_manifests_load_into_typed_load_machine_and_git() -> None:
    synthetic_v1 = rundir.load_manifest(FIXTURES / "v1")  # written before window_start was recorded
    assert synthetic_v1.machine.fingerprint == "synthetic" and synthetic_v1.machine.memory_bytes is None
    assert synthetic_v1.git.commit == "0000000" and synthetic_v1.git.dirty is False
    assert synthetic_v1.load.time_scale == 1.0 and synthetic_v1.load.window_start is None
    real_v1 = rundir.load_manifest(FIXTURES / "v1-smoke")  # a real `harness run` of schema v1
    assert real_v1.load.workers == 0 and real_v1.load.window_start == pytest.approx(1796098823.3088572)
    assert real_v1.load.pacer is not None and real_v1.load.pacer.sent == 350
    assert real_v1.load.setup_context and "project_id" in real_v1.load.setup_context
    assert real_v1.machine.memory_bytes == 25276059648 and real_v1.machine.fingerprint == "ea652e24a1376153"


def test_rewriting_an_old_manifest_keeps_its_fields_and_extras(tmp_path: Path) -> None:
    run = shutil.copytree(FIXTURES / "v1-smoke", tmp_path / "run")
    data = json.loads((run / rundir.MANIFEST_FILE).read_text())
    data["machine"]["gpu"] = "none"  # a key a later writer might add
    (run / rundir.MANIFEST_FILE).write_text(json.dumps(data))
    rundir.write_manifest(run, rundir.load_manifest(run))
    again = json.loads((run / rundir.MANIFEST_FILE).read_text())
    assert again["machine"] == data["machine"] and again["git"] == data["git"]
    assert again["load"] == data["load"]


def test_build_manifest_lists_the_files_present_and_this_machine(tmp_path: Path) -> None:
    (tmp_path / "locust.log").write_text("")
    manifest = rundir.build_manifest(
        tmp_path,
        run_id="r",
        scenario_name="s",
        scenario={"name": "s"},
        target=rundir.TargetInfo(url="http://127.0.0.1:1", managed=False),
        load=rundir.LoadInfo(model="open", window_start=1.0),
        started_at="2026-01-01T00:00:00+00:00",
        ended_at=None,
        duration_s=1.0,
        status="complete",
        optional_files={"locust_log": "locust.log", "target_log": "target.log"},
    )
    assert list(manifest.files) == ["samples", "summary", "timeseries", "histograms", "locust_log"]
    assert manifest.machine.fingerprint == meta.machine_info().fingerprint
    assert manifest.git == meta.git_info()
