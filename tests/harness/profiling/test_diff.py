"""``harness profile-diff`` without profilers: hotspot tables planted in synthetic run folders."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from harness.commands import profile_diff as profile_diff_cmd
from harness.contract import rundir
from harness.profiling.diff import DIFF_FILE, profile_diff
from harness.testing.synthetic import SyntheticSpec, make_run


def _profiled(parent: Path, name: str, shares: dict[str, float]) -> Path:
    run = make_run(parent, SyntheticSpec(seed=len(name), run_id=name, duration_s=3))
    rows = [{"function": f, "file": "app.py", "self_percent": p} for f, p in shares.items()]
    (run / "hotspots.json").write_text(json.dumps({"hotspots": rows}))
    record = rundir.ProfileRecord(status="ok", files={"hotspots": "hotspots.json"})
    manifest = rundir.load_manifest(run).model_copy(update={"profiles": {"cpu": record}})
    rundir.write_model(run / rundir.MANIFEST_FILE, manifest)
    return run


def test_the_function_whose_share_grew_most_comes_first_and_is_written(tmp_path: Path) -> None:
    before = _profiled(tmp_path, "before", {"parse": 10.0, "hog": 5.0, "idle": 30.0})
    after = _profiled(tmp_path, "after", {"parse": 11.0, "hog": 40.0, "idle": 28.0})
    rows, out = profile_diff(before, after, top=2)
    assert [r["function"] for r in rows] == ["hog (app.py)", "idle (app.py)"]
    assert rows[0]["delta_percent"] == pytest.approx(35.0)
    assert out == after / DIFF_FILE
    assert json.loads(out.read_text())["rows"] == rows


def test_a_run_without_cpu_profile_is_exit_2_naming_it(tmp_path: Path, capsys) -> None:
    profiled = _profiled(tmp_path, "p", {"f": 1.0})
    plain = make_run(tmp_path, SyntheticSpec(seed=9, run_id="plain", duration_s=3))
    with pytest.raises(rundir.RunDirError, match="no CPU hotspot table"):
        profile_diff(profiled, plain)
    parser = argparse.ArgumentParser()
    profile_diff_cmd.add_arguments(parser)
    assert profile_diff_cmd.run(parser.parse_args([str(profiled), str(plain)])) == 2
    assert "CPU hotspot table" in " ".join(capsys.readouterr().out.split())  # rich wraps lines
    assert not (plain / DIFF_FILE).exists()
