"""Synthetic runs for report tests, built once per session."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.contract import rundir
from harness.derive.files import write_derived_files
from harness.testing.synthetic import SyntheticOp, SyntheticSpec, make_run

XSS = '<script>alert("x")</script>'
SMALL = {"rate": 40.0, "duration_s": 30.0}


def inject_error_kind(run_dir: Path, kind: str) -> None:
    """Rename the run's error kind and re-derive its files through the real derivation path."""
    manifest = rundir.load_manifest(run_dir)
    samples = rundir.load_samples(run_dir)
    samples.loc[samples["error"] == "HTTP 503", "error"] = kind
    samples.to_parquet(run_dir / rundir.SAMPLES_FILE, index=False)
    duration = manifest.duration_s or 0.0
    write_derived_files(
        run_dir,
        manifest.run_id,
        samples,
        window_start=float(samples["intended_start"].min()),
        duration_s=duration,
        stages=[(0.0, duration, 40.0)],
    )


def add_profiles(run_dir: Path) -> None:
    """CPU and memory profiles in harness.profiling's format (some rows partial), and a failed one."""
    profile_dir = run_dir / "profile"
    profile_dir.mkdir()
    hotspots = {  # the shape harness.profiling writes, with rows missing keys
        "schema_version": 1,
        "kind": "motherbox-perf/hotspots",
        "hotspots": [
            {
                "function": "hog",
                "file": "reference_runtime/faults.py",
                "line": 42,
                "self_percent": 61.0,
                "total_percent": 70.0,
            },
            {"function": "<lambda>"},  # missing keys must not break the table
            {"name": "handle", "self_share": 0.125},
            {"function": "tiny", "location": "x.py:1", "self_percent": 0.5},
        ],
    }
    (profile_dir / "hotspots.json").write_text(json.dumps(hotspots))
    memory = {
        "schema_version": 1,
        "kind": "motherbox-perf/memory",
        "peak_memory_mb": 321.5,
        "rss_growth_mb_per_h": 12.0,
        "top_sites": [
            {
                "function": "leak",
                "file": "f.py",
                "line": 3,
                "location": "f.py:3",
                "mb": 45.2,
                "allocations": 900,
            }
        ],
    }
    (profile_dir / "memory.json").write_text(json.dumps(memory))
    (profile_dir / "profile.speedscope.json").write_text("{}")
    manifest = rundir.load_manifest(run_dir)
    profiles = {
        "cpu": rundir.ProfileRecord(
            status="ok",
            files={"hotspots": "profile/hotspots.json", "speedscope": "profile/profile.speedscope.json"},
        ),
        "memory": rundir.ProfileRecord(status="ok", files={"memory": "profile/memory.json"}),
        "scalene": rundir.ProfileRecord(status="failed", reason="scalene is not installed"),
    }
    rundir.write_model(run_dir / rundir.MANIFEST_FILE, manifest.model_copy(update={"profiles": profiles}))


@pytest.fixture(scope="session")
def report_runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    parent = tmp_path_factory.mktemp("report-runs")
    failing_ops = (
        SyntheticOp("command_ack", 0.7, 150.0, 0.4, 0.02, 100.0),
        SyntheticOp("handoff", 0.3, 300.0, 0.5, 0.0, 2000.0),
    )
    runs = {
        "good": make_run(parent, SyntheticSpec(run_id="good", **SMALL)),
        "failing": make_run(parent, SyntheticSpec(run_id="failing", ops=failing_ops, **SMALL)),
        "aborted": make_run(parent, SyntheticSpec(run_id="aborted", status="aborted", **SMALL)),
        "bare": make_run(parent, SyntheticSpec(run_id="bare", monitor=False, **SMALL)),
        "xss": make_run(
            parent,
            SyntheticSpec(
                run_id="xss",
                scenario=f"evil {XSS}",
                ops=(SyntheticOp("command_ack", 1.0, 8.0, 0.4, 0.1, 100.0),),
                **SMALL,
            ),
        ),
    }
    inject_error_kind(runs["xss"], XSS)
    add_profiles(runs["good"])
    return runs
