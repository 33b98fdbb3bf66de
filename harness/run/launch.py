"""Launch ``harness run`` as a child process and find the run folder it wrote.

Nightly, the switch sweep and the detection bench run many scenarios back to back. Each run goes
through the real command (``python -m harness run ...``) in its own process, so Locust's gevent
patching and any crash stay out of the caller, and the run is exactly what a user would get. The
run folder is found by a unique ``launch`` tag rather than by parsing output.

The child dies with the caller (:func:`harness.contract.lifecycle.child_env`); when the caller is
interrupted (Ctrl-C, SIGTERM) or the run times out, the child gets SIGTERM first, so it stops its
load and writes its run folder as ``aborted``, and SIGKILL only after :data:`STOP_GRACE_S`.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from harness.contract import lifecycle, rundir

LAUNCH_TAG = "launch"
#: How long a stopped child gets to write its aborted run folder before it is killed.
STOP_GRACE_S = 60.0


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
    env = lifecycle.child_env({**os.environ, **request.env})
    with subprocess.Popen(
        command_for(request, launch_id), env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    ) as proc:
        try:
            stdout, stderr = proc.communicate(timeout=request.timeout_s)
            code, output = proc.returncode, (stdout or "") + (stderr or "")
        except subprocess.TimeoutExpired:
            stdout, stderr = _stop(proc)
            code = 3
            output = (stdout or "") + (stderr or "") + f"\ntimed out after {request.timeout_s} s"
        except KeyboardInterrupt:
            _stop(proc)  # the child writes its run folder as aborted; then the caller stops too
            raise
    parent = request.out or request.reports_dir / "runs"
    return RunOutcome(code, find_run(parent, launch_id), output[-3000:])


def _stop(proc: subprocess.Popen[str]) -> tuple[str, str]:
    """SIGTERM (the child stops its load and closes its run folder), SIGKILL after the grace."""
    with contextlib.suppress(ProcessLookupError):
        proc.send_signal(signal.SIGTERM)
    try:
        return proc.communicate(timeout=STOP_GRACE_S)
    except subprocess.TimeoutExpired:
        proc.kill()
        return proc.communicate()
