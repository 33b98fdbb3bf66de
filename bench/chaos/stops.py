"""SIGTERM and SIGKILL of ``harness run`` mid-load against a managed reference runtime: every
process it started (the runtime, the runtime's model backend, the Locust driver; found as its
descendants by psutil while the load runs) must be gone within a bounded wait. SIGTERM must also
end the run like Ctrl-C: exit 3, manifest ``aborted`` naming the signal, no traceback. Noted
beside (not a failure): the managed runtime's temporary state folder a SIGKILLed harness could
not remove (it holds the runtime's key file, mode 0700); the probe removes it.
"""

from __future__ import annotations

import shutil
import signal
import time
from collections.abc import Iterable
from pathlib import Path

from bench.chaos.common import (
    TRACEBACK,
    Row,
    alive,
    descendants,
    describe,
    kill_all,
    start_harness,
    wait_until,
    write,
)
from harness.contract import rundir

PROBE = "stop harness"
WHAT = "SIGTERM / SIGKILL of `harness run` mid-load: processes left behind"
EXPECT = "0 orphans; SIGTERM: exit 3, manifest aborted"
ORPHAN_WAIT_S = 20.0
#: what the harness has running mid-load: the runtime, its model backend, the Locust driver
ROLES = (" serve ", "model-backend", "harness.load.driver")
SCENARIO = """\
name: stop-{name}
load: {{rate: 10, duration: 60s, drain: 1s}}
mix:
  - {{operation: command_ack, weight: 1}}
  - {{operation: simple_query, weight: 1}}
"""


def _one(tmp: Path, sig: signal.Signals) -> tuple[int, list[str], str]:
    """(orphans left, what went wrong, what happened) for one signal."""
    name = sig.name.lower()
    reports = tmp / name / "reports"
    scenario = write(tmp / name, "stop.yaml", SCENARIO.format(name=name))
    proc = start_harness("run", str(scenario), "--reports-dir", str(reports), "--quiet", "--no-report")
    pids: list[int] = []
    try:
        if not wait_until(lambda: any(reports.glob("runs/*/.work/parts/part-*.parquet")), 120):
            proc.kill()
            return 0, [f"{sig.name}: no samples within 120 s: {proc.communicate()[1][-200:]}"], ""
        started = descendants(proc.pid)
        pids = [p.pid for p in started]
        names = {p.pid: describe(p, width=400) for p in started}
        signalled = time.monotonic()
        proc.send_signal(sig)
        stdout, stderr = proc.communicate(timeout=120)
        wait_until(lambda: not any(alive(pid) for pid in pids), ORPHAN_WAIT_S)
        took = time.monotonic() - signalled
        left = [names[pid][-90:] for pid in pids if alive(pid)]
        problems = [f"{sig.name}: left {left}"] if left else []
        if sig == signal.SIGTERM:
            problems += _sigterm_problems(proc.returncode, stdout + stderr, reports)
        stale = _stale_state_folders(names.values())
        seen = {role for name in names.values() for role in ROLES if role in name}
        if len(seen) < len(ROLES):
            problems.append(f"{sig.name}: only saw {sorted(seen)} running")
        note = f"{sig.name}: {len(pids) - len(left)}/{len(pids)} gone after {took:.1f} s"
        return (
            len(left),
            problems,
            note + (f", {stale} runtime state folder(s) left in the temp dir" if stale else ""),
        )
    finally:
        proc.kill()
        kill_all(pids)


def _stale_state_folders(command_lines: Iterable[str]) -> int:
    """How many of the managed runtime's temporary state folders are still there (each holds the
    runtime's key file, mode 0700; a SIGKILLed harness cannot remove it). Removed here."""
    folders = {
        line.split("--state-dir ", 1)[1].split(" ", 1)[0] for line in command_lines if "--state-dir " in line
    }
    stale = [Path(f) for f in folders if Path(f).is_dir()]
    for folder in stale:
        shutil.rmtree(folder, ignore_errors=True)
    return len(stale)


def _sigterm_problems(code: int | None, text: str, reports: Path) -> list[str]:
    problems = [] if code == 3 else [f"SIGTERM: exit {code}"]
    if TRACEBACK in text:
        problems.append("SIGTERM: traceback")
    run_dirs = list(reports.glob("runs/*"))
    try:
        manifest = rundir.load_manifest(run_dirs[0])
        if manifest.status != "aborted" or "SIGTERM" not in (manifest.abort_reason or ""):
            problems.append(f"SIGTERM: manifest {manifest.status}: {manifest.abort_reason}")
    except (IndexError, rundir.RunDirError) as exc:
        problems.append(f"SIGTERM: no manifest: {exc}")
    return problems


def probe(tmp: Path) -> Row:
    started = time.monotonic()
    results = {sig.name: _one(tmp, sig) for sig in (signal.SIGTERM, signal.SIGKILL)}
    orphans = sum(n for n, _, _ in results.values())
    problems = [p for _, found, _ in results.values() for p in found]
    count = ", ".join(f"{name}: {n} orphans" for name, (n, _, _) in results.items())
    notes = "; ".join(note for _, _, note in results.values() if note)
    detail = "; ".join(problems) or f"runtime, model backend and driver were running; {notes}"
    return Row(PROBE, WHAT, count, EXPECT, orphans == 0 and not problems, detail, time.monotonic() - started)
