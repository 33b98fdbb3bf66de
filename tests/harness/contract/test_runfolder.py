"""The one run-folder loader: typed files, read lazily and once, the recorded window start."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from harness.contract import rundir
from harness.contract.columns import DROPPED
from harness.contract.runfolder import RunFolder, infer_window_start
from harness.testing.synthetic import SyntheticSpec, make_run

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "runs"


@pytest.fixture(scope="module")
def dropped_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    parent = tmp_path_factory.mktemp("runfolder")
    return make_run(parent, SyntheticSpec(run_id="d", rate=40, duration_s=6, dropped_fraction=0.2, seed=3))


def test_window_start_is_the_recorded_one_not_a_guess(tmp_path: Path) -> None:
    # A real run: timeseries.csv rounds ts to whole seconds, so the old guess was 0.31 s early.
    folder = RunFolder(shutil.copytree(FIXTURES / "v1-smoke", tmp_path / "run"))
    recorded = folder.manifest.load.window_start
    assert recorded is not None and folder.window_start == recorded
    assert infer_window_start(folder) == pytest.approx(recorded - 0.3088572)
    samples = folder.samples
    assert samples is not None
    expected = np.floor(samples["ts"].to_numpy() - recorded)
    assert (samples["sec"].to_numpy() == expected).all()


def test_folders_without_a_recorded_window_start_fall_back(tmp_path: Path, dropped_run: Path) -> None:
    run = shutil.copytree(dropped_run, tmp_path / "old")
    data = json.loads((run / rundir.MANIFEST_FILE).read_text())
    recorded = data["load"].pop("window_start")
    (run / rundir.MANIFEST_FILE).write_text(json.dumps(data))
    assert RunFolder(run).window_start == pytest.approx(recorded)  # inferred from timeseries or samples
    (run / rundir.SAMPLES_FILE).unlink()
    (run / rundir.TIMESERIES_FILE).unlink()
    assert RunFolder(run).window_start is None


def test_done_samples_leave_out_dropped_sends(dropped_run: Path) -> None:
    folder = RunFolder(dropped_run)
    samples, done = folder.require_samples(), folder.done_samples
    assert done is not None
    dropped = int((samples["error"] == DROPPED).sum())
    assert dropped > 0 and len(done) == len(samples) - dropped
    assert not (done["error"] == DROPPED).any()
    assert folder.seconds == 6 and folder.require_summary().overall.dropped == dropped


def test_files_are_read_once_and_absent_files_read_as_none(tmp_path: Path, dropped_run: Path) -> None:
    run = shutil.copytree(dropped_run, tmp_path / "run")
    folder = RunFolder(run)
    assert folder.summary is not None and folder.timeseries is not None and folder.samples is not None
    for name in (rundir.SUMMARY_FILE, rundir.TIMESERIES_FILE, rundir.SAMPLES_FILE):
        (run / name).unlink()
    assert folder.summary is not None and folder.samples is not None  # cached, not read again
    fresh = RunFolder(run)
    assert fresh.summary is None and fresh.timeseries is None and fresh.samples is None
    with pytest.raises(rundir.RunDirError, match=r"summary\.json: not found"):
        fresh.require_summary()
    with pytest.raises(rundir.RunDirError, match=r"samples\.parquet: not found"):
        fresh.require_samples()


def test_invalid_files_raise_the_contract_error(tmp_path: Path, dropped_run: Path) -> None:
    run = shutil.copytree(dropped_run, tmp_path / "run")
    (run / rundir.SAMPLES_FILE).write_text("not parquet")
    with pytest.raises(rundir.RunDirError, match=r"samples\.parquet"):
        _ = RunFolder(run).samples
    (run / rundir.MANIFEST_FILE).write_text("{")
    with pytest.raises(rundir.RunDirError, match=r"manifest\.json"):
        RunFolder(run)
