"""No file holds the key: a distinctive key goes through ``harness run`` (managed reference
runtime, ``--gate``, ``--profile cpu``), ``harness report``, ``harness gate``, ``harness compare``
and ``harness profile-diff``; then every file written since the probe began is grepped for it —
the probe's folder (reports, profiles), the temporary folder (the runtime's state folder, any
stray work file) and the repository outside ``.venv``/``.git``. The scenario file, which holds
the key on purpose (``api_key: {value: ...}``, the form once copied into ``manifest.json``), is
the one file left out.
"""

from __future__ import annotations

import os
import tempfile
import time
import uuid
from pathlib import Path

from bench.chaos.common import ROOT, Row, files_holding, harness, last_line, output, write
from harness.contract import rundir

PROBE = "key on disk"
WHAT = "distinctive key through run/gate/report/compare/profile: files holding it"
EXPECT = "0 files"
SCENARIO = """\
name: secrets
target:
  api_key: {{value: {key}}}
  headers: {{Authorization: "Bearer {key}"}}
load: {{rate: 10, duration: 3s, drain: 1s}}
mix:
  - {{operation: simple_query, weight: 1}}
  - {{operation: command_ack, weight: 1}}
"""


def _commands(tmp: Path, scenario: Path) -> list[list[str]]:
    reports, profiles = str(tmp / "reports"), str(tmp / "profiles")
    run = ["run", str(scenario), "--reports-dir", reports, "--gate", "--quiet", "--profile", "cpu"]
    return [
        [*run, "--profiles-dir", profiles],
        ["report", "latest", "--reports-dir", reports],
        ["gate", "latest", "--reports-dir", reports],
        ["compare", "latest", "latest", "--reports-dir", reports],
        ["profile-diff", "latest", "latest", "--reports-dir", reports],
    ]


def _scan(tmp: Path, key: bytes, since: float, skip: frozenset[Path]) -> list[Path]:
    roots = [tmp, Path(tempfile.gettempdir())]
    roots += [p for p in ROOT.iterdir() if p.name not in (".venv", ".git") and p.is_dir()]
    found = {f for root in roots for f in files_holding(root, key, newer_than=since, skip=skip)}
    return sorted(found)


def probe(tmp: Path) -> Row:
    started, since = time.monotonic(), time.time() - 1
    key = f"chaos-{uuid.uuid4().hex}"
    scenario = write(tmp, "secrets.yaml", SCENARIO.format(key=key))
    env = {**os.environ, "MOTHERBOX_API_KEY": key}
    failed = []
    for args in _commands(tmp, scenario):
        out = harness(*args, env=env, timeout=300)
        if out.returncode not in (0, 1):  # 1: a gate or a comparison said no; still a result
            failed.append(f"{args[0]}: exit {out.returncode} ({last_line(output(out))})")
    run_dir = (tmp / "reports" / "latest").resolve()
    for name in ("report.html", "verdict.json", "compare.json", "profile-diff.json"):
        failed += [] if (run_dir / name).is_file() else [f"no {name} written"]
    try:
        overall = rundir.load_summary(run_dir).overall
        used = f"{overall.count} requests with the key, {overall.errors} errors"
        failed += [] if overall.count > 0 and overall.errors == 0 else [used]
    except rundir.RunDirError as exc:
        used, failed = "no summary", [*failed, f"no summary: {exc}"]
    holding = _scan(tmp, key.encode(), since, frozenset({scenario}))
    written = sum(1 for p in tmp.rglob("*") if p.is_file())
    count = f"{len(holding)} files of {written} written"
    detail = ("holding the key: " + ", ".join(str(p) for p in holding[:5])) if holding else "no file"
    detail += f"; {used}; " + (
        "; ".join(failed) if failed else "run --gate --profile cpu, report, gate, compare, profile-diff"
    )
    ok = not holding and not failed
    return Row(PROBE, WHAT, count, EXPECT, ok, detail, time.monotonic() - started)
