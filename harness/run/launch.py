"""Launch ``harness run`` as a child process and find the run folder it wrote.

Nightly, the switch sweep and the detection bench run many scenarios back to back. Each run goes
through the real command (``python -m harness run ...``) in its own process, so Locust's gevent
patching and any crash stay out of the caller, and the run is exactly what a user would get. The
run folder is found by a unique ``launch`` tag rather than by parsing output.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from harness.contract import rundir

LAUNCH_TAG = "launch"


@dataclass(frozen=True)
class RunRequest:
    scenario: Path
    time_scale: float = 1.0
    duration: str | None = None
    runtime_config: str | None = None  # baseline | optimized | a YAML file
    tags: Mapping[str, str] = field(default_factory=dict)
    out: Path | None = None  # parent folder of the run folder (default REPORTS/runs)
    reports_dir: Path = Path("reports")
    profile: str | None = None  # e.g. "cpu"
    gate: bool = False
    env: Mapping[str, str] = field(default_factory=dict)
    timeout_s: float | None = None


@dataclass(frozen=True)
class RunOutcome:
    exit_code: int
    run_dir: Path | None
    output_tail: str


def command_for(request: RunRequest, launch_id: str) -> list[str]:
    cmd = [sys.executable, "-m", "harness", "run", str(request.scenario), "--quiet"]
    cmd += ["--time-scale", f"{request.time_scale:g}", "--reports-dir", str(request.reports_dir)]
    if request.duration:
        cmd += ["--duration", request.duration]
    if request.runtime_config:
        cmd += ["--config", request.runtime_config]
    if request.out is not None:
        cmd += ["--out", str(request.out)]
    if request.profile:
        cmd += ["--profile", request.profile]
    if request.gate:
        cmd.append("--gate")
    for key, value in {**request.tags, LAUNCH_TAG: launch_id}.items():
        cmd += ["--tag", f"{key}={value}"]
    return cmd


def find_run(parent: Path, launch_id: str) -> Path | None:
    if not parent.is_dir():
        return None
    for manifest_path in sorted(parent.glob(f"*/{rundir.MANIFEST_FILE}"), reverse=True):
        try:
            if rundir.load_manifest(manifest_path.parent).tags.get(LAUNCH_TAG) == launch_id:
                return manifest_path.parent
        except rundir.RunDirError:
            continue
    return None


def launch(request: RunRequest) -> RunOutcome:
    """Run one scenario to completion; ``run_dir`` is None when no run folder was written."""
    launch_id = secrets.token_hex(6)
    env = {**os.environ, **request.env}
    try:
        proc = subprocess.run(
            command_for(request, launch_id),
            env=env,
            capture_output=True,
            text=True,
            timeout=request.timeout_s,
            check=False,
        )
        code, output = proc.returncode, (proc.stdout or "") + (proc.stderr or "")
    except subprocess.TimeoutExpired as exc:
        code, output = 3, f"timed out after {request.timeout_s} s: {exc}"
    parent = request.out or request.reports_dir / "runs"
    return RunOutcome(code, find_run(parent, launch_id), output[-3000:])
