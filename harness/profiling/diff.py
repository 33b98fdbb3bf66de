"""``harness profile-diff``: the functions whose CPU share changed most between two profiled runs.

Reads each run's hotspot table (py-spy's, else scalene's, as ``manifest.profiles`` lists it),
diffs them (:func:`harness.profiling.collapsed.diff_hotspots`) and writes ``profile-diff.json``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

from harness.contract import rundir
from harness.profiling.collapsed import diff_hotspots

SCHEMA_VERSION = 1
DIFF_FILE = "profile-diff.json"


def hotspots_of(run_dir: Path) -> dict[str, Any]:
    """The run's CPU hotspot table; RunDirError when it was not CPU-profiled."""
    manifest = rundir.load_manifest(run_dir)
    for name in ("cpu", "scalene"):
        record = manifest.profiles.get(name)
        if record is None or record.status != "ok" or "hotspots" not in record.files:
            continue
        ref = Path(record.files["hotspots"])
        for path in (run_dir / ref, Path.cwd() / ref, run_dir.parent.parent.parent / ref):
            if path.is_file():
                data: dict[str, Any] = json.loads(path.read_text())
                return data
    raise rundir.RunDirError(f"{run_dir}: no CPU hotspot table (run it with --profile cpu)")


def profile_diff(
    run_a: Path, run_b: Path, *, top: int = 20, by: Literal["self", "total"] = "self", out: Path | None = None
) -> tuple[list[dict[str, Any]], Path]:
    """The ``top`` rows of the diff from ``run_a`` to ``run_b``, written to ``out`` (default in run_b).

    Raises RunDirError (not a run folder, no hotspot table), ValueError or KeyError (bad table).
    """
    rows = diff_hotspots(hotspots_of(run_a), hotspots_of(run_b), top=top, key=f"{by}_percent")
    out = out or run_b / DIFF_FILE
    payload = {"schema_version": SCHEMA_VERSION, "run_a": str(run_a), "run_b": str(run_b), "by": by}
    rundir.write_json_atomic(out, {**payload, "rows": rows})
    return rows, out
