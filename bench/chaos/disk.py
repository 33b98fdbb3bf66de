"""Disk full and read-only folders under ``harness run`` (a fast loopback test server as target).

- Read-only ``--out`` and read-only ``--reports-dir``: exit 2 with one line before any load. As
  root the folder is a read-only tmpfs mount (root ignores permission bits); otherwise chmod 555.
- Disk full: ``--out`` on tiny tmpfs mounts of three sizes, so the disk fills at different points
  (while the samples are merged, while the derived files are written, ...): exit 3, the manifest
  ``aborted`` with the reason, no traceback, the key not on the disk. Without the right to mount
  (not root) a full disk is simulated with ``RLIMIT_FSIZE`` (writes past the limit fail with
  EFBIG, SIGXFSZ ignored): another write error, the same path through the harness.
"""

from __future__ import annotations

import contextlib
import os
import resource
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

from bench.chaos.common import ROOT, TRACEBACK, Row, files_holding, harness, last_line, output, write
from harness.contract import rundir
from tests.harness.servers import serve

PROBE = "disk"
WHAT = "read-only --out / --reports-dir; --out on a full disk"
EXPECT = "read-only: exit 2 before load; full: exit 3, manifest aborted; 0 tracebacks"
KEY = "chaos-disk-k3y-91ab"
FULL_SIZES = ("48k", "96k", "160k")
SIMULATED_FSIZE = 40_000  # bytes, when a tmpfs cannot be mounted
SCENARIO = """\
name: disk
target:
  api_key: {{value: {key}}}
load: {{rate: {rate}, duration: {duration}, drain: 1s}}
mix:
  - {{name: get_x, path: /x}}
"""


def can_mount() -> bool:
    return sys.platform.startswith("linux") and os.geteuid() == 0


@contextlib.contextmanager
def tmpfs(path: Path, options: str) -> Iterator[bool]:
    """A tmpfs mounted at ``path`` with ``options`` (True), or nothing mounted (False)."""
    path.mkdir(parents=True, exist_ok=True)
    mounted = (
        can_mount()
        and subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(path)]).returncode == 0
    )
    try:
        yield mounted
    finally:
        if mounted:
            subprocess.run(["umount", "-l", str(path)])


@contextlib.contextmanager
def read_only(path: Path) -> Iterator[str]:
    with tmpfs(path, "ro,size=64k") as mounted:
        if mounted:
            yield "read-only tmpfs"
            return
        path.chmod(0o555)
        try:
            yield "chmod 555"
        finally:
            path.chmod(0o755)


def _read_only_case(tmp: Path, url: str, option: str) -> str | None:
    """What went wrong with a read-only ``option`` folder, or None."""
    folder = tmp / f"ro{option.replace('-', '_')}"
    scenario = write(tmp, "ro.yaml", SCENARIO.format(key=KEY, rate=5, duration="2s"))
    with read_only(folder) as how:
        other = ["--reports-dir", str(tmp / "reports")] if option == "--out" else []
        out = harness(
            "run", str(scenario), "--target", url, option, str(folder), *other, "--quiet", timeout=60
        )
    text = output(out)
    problems = [] if out.returncode == 2 else [f"exit {out.returncode}"]
    problems += ["traceback"] if TRACEBACK in text else []
    problems += [] if option in last_line(text) else [f"message {last_line(text)!r}"]
    return f"read-only {option} ({how}): " + ", ".join(problems) if problems else None


def _limit_file_size() -> None:
    resource.setrlimit(resource.RLIMIT_FSIZE, (SIMULATED_FSIZE, SIMULATED_FSIZE))
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)


def _full_run(tmp: Path, url: str, out_dir: Path, simulate: bool) -> subprocess.CompletedProcess[str]:
    scenario = write(tmp, "full.yaml", SCENARIO.format(key=KEY, rate=200, duration="8s"))
    cmd = [sys.executable, "-m", "harness", "run", str(scenario), "--target", url, "--out", str(out_dir)]
    cmd += ["--reports-dir", str(tmp / "reports"), "--quiet"]
    return subprocess.run(
        cmd, cwd=ROOT, capture_output=True, text=True, timeout=180,
        preexec_fn=_limit_file_size if simulate else None,
    )  # fmt: skip


def _full_case(tmp: Path, url: str, size: str) -> tuple[str, str | None]:
    """(outcome, problem or None) of one full-disk run."""
    out_dir = tmp / f"full-{size}"
    with tmpfs(out_dir, f"size={size}") as mounted:
        label = f"tmpfs {size}" if mounted else f"RLIMIT_FSIZE {SIMULATED_FSIZE} B"
        out = _full_run(tmp, url, out_dir, simulate=not mounted)
        run_dirs = [p for p in out_dir.iterdir() if p.is_dir()]
        try:
            manifest = rundir.load_manifest(run_dirs[0])
            state = f"manifest {manifest.status}"
        except (IndexError, rundir.RunDirError):
            state = "no manifest"
        keyed = files_holding(out_dir, KEY.encode())
    text = output(out)
    outcome = f"{label}: exit {out.returncode}, {state}"
    problems = [] if out.returncode == 3 else [f"exit {out.returncode}"]
    problems += [] if state == "manifest aborted" else [state]
    problems += ["traceback"] if TRACEBACK in text else []
    problems += [f"key in {len(keyed)} files"] if keyed else []
    return outcome, (f"{label}: " + ", ".join(problems) + f" ({last_line(text)})") if problems else None


def probe(tmp: Path) -> Row:
    started = time.monotonic()
    with serve("fixed", delay_ms=1) as url:
        problems = [p for p in (_read_only_case(tmp, url, o) for o in ("--out", "--reports-dir")) if p]
        outcomes = []
        for size in FULL_SIZES if can_mount() else FULL_SIZES[:1]:
            outcome, problem = _full_case(tmp, url, size)
            outcomes.append(outcome)
            problems += [problem] if problem else []
    count = f"read-only: 2 cases; full: {'; '.join(outcomes)}"
    detail = "; ".join(problems) or "read-only folders: exit 2, one line naming the option"
    return Row(PROBE, WHAT, count, EXPECT, not problems, detail, time.monotonic() - started)
