"""No secret is ever written: a distinctive key goes through `harness run` (the reference runtime,
managed), `harness report`, `harness gate` and `harness compare`, and no file written holds it."""

import json
import os
import uuid
from pathlib import Path

import pytest

from harness.contract import rundir
from harness.contract.redact import REDACTED
from tests.harness.conftest import harness, write

pytestmark = pytest.mark.slow

SCENARIO = """\
name: secrets
target:
  api_key: {{value: {key}}}
  headers: {{Authorization: "Bearer {key}", X-Env: perf}}
load: {{rate: 10, duration: 2s, drain: 1s}}
mix:
  - {{name: projects, path: /v1/projects, expect_status: [200], headers: {{X-Session-Token: "{key}"}}}}
expect:
  overall: {{error_rate: 1%}}
"""


def files_holding(root: Path, secret: bytes) -> list[str]:
    return [str(p) for p in root.rglob("*") if p.is_file() and secret in p.read_bytes()]


def test_the_key_is_in_no_file_written_by_run_report_gate_and_compare(tmp_path):
    key = f"sekrit-{uuid.uuid4().hex}"
    reports, profiles = tmp_path / "reports", tmp_path / "profiles"
    env = {**os.environ, "MOTHERBOX_API_KEY": key, "HARNESS_PROFILES_DIR": str(profiles)}
    scenario = write(tmp_path, "secrets.yaml", SCENARIO.format(key=key))
    run = harness("run", str(scenario), "--reports-dir", str(reports), "--gate", env=env)
    assert run.returncode == 0, run.stdout + run.stderr
    run_dir = (reports / "latest").resolve()
    summary = rundir.load_summary(run_dir)
    assert summary.overall.count == 20 and summary.overall.errors == 0  # the key was used, and right
    for command in (
        ("report", "latest"),
        ("gate", "latest"),
        ("compare", str(run_dir), str(run_dir)),
    ):
        out = harness(*command, "--reports-dir", str(reports), env=env)
        assert out.returncode == 0, out.stdout + out.stderr
    written = [p.name for p in run_dir.iterdir()]
    assert {"report.html", "verdict.json", "compare.json", "target.log", "manifest.json"} <= set(written)
    assert not (run_dir / ".work").exists()  # the work folder (which once held plan.json) is gone
    assert files_holding(tmp_path / "reports", key.encode()) == []
    assert not profiles.exists() or files_holding(profiles, key.encode()) == []
    target = json.loads((run_dir / rundir.MANIFEST_FILE).read_text())["scenario"]["target"]
    assert target["api_key"]["value"] == REDACTED and target["headers"]["Authorization"] == REDACTED
    assert target["headers"]["X-Env"] == "perf"  # only credentials are redacted
