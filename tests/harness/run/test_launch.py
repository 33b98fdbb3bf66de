"""`harness run` launched as a child (nightly, sweeps): a timeout stops it with SIGTERM first, so
it still writes its run folder, marked aborted (real Locust processes, a loopback server)."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.contract import rundir
from harness.run.launch import RunRequest, launch
from tests.harness.conftest import write

pytestmark = pytest.mark.slow


def test_a_timed_out_child_writes_its_run_folder_as_aborted(tmp_path: Path, fast_server: str) -> None:
    scenario = write(
        tmp_path,
        "long.yaml",
        f"name: long\ntarget: {{url: '{fast_server}'}}\nload: {{rate: 10, duration: 60s, drain: 1s}}\n"
        "mix: [{name: get_x, path: /x}]\n",
    )
    outcome = launch(RunRequest(scenario=scenario, reports_dir=tmp_path / "reports", timeout_s=6))
    assert outcome.exit_code == 3 and "timed out" in outcome.output_tail
    assert outcome.run_dir is not None
    manifest = rundir.load_manifest(outcome.run_dir)
    assert manifest.status == "aborted" and "SIGTERM" in (manifest.abort_reason or "")
    assert rundir.load_summary(outcome.run_dir).overall.count > 0
