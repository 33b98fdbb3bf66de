"""Profiling under load, end to end, against a stand-in runtime with known hot spots.

The stand-in (tests/harness/fake_runtime.py) has the reference runtime's command line; with
FAKE_FAULTS=1 each request burns CPU in ``cpu_hog_burn`` and keeps memory in ``leak_retain``.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from harness.contract import rundir
from harness.report.run_page import render_report
from tests.harness.conftest import harness, write

pytestmark = pytest.mark.slow

SCENARIO = """\
name: fakeprof
load: {rate: 25, duration: 4s, drain: 2s}
mix:
  - {name: q, path: /v1/things}
profile: {memory_duration: 6s}
"""


def profiled_run(tmp_path: Path, faults: bool) -> Path:
    tmp_path.mkdir(parents=True, exist_ok=True)
    scenario = write(tmp_path, "fake.yaml", SCENARIO)
    reports = tmp_path / "reports"
    env = {
        **os.environ,
        "HARNESS_RUNTIME_MODULE": "tests.harness.fake_runtime",
        "FAKE_FAULTS": "1" if faults else "0",
    }
    out = harness(
        "run",
        str(scenario),
        "--profile",
        "cpu,memory",
        "--reports-dir",
        str(reports),
        "--profiles-dir",
        str(tmp_path / "profiles"),
        "--quiet",
        env=env,
        timeout=240,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    return (reports / "latest").resolve()


def load_profile(run_dir: Path, kind: str, name: str) -> dict:
    """A profile file, named by the manifest relative to the run folder (it lives inside it)."""
    record = rundir.load_manifest(run_dir).profiles[kind]
    assert record.status == "ok", record.reason
    ref = Path(record.files[name])
    assert not ref.is_absolute() and ref.parts[:2] == ("profiles", run_dir.name), ref
    return json.loads((run_dir / ref).read_text())


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    base = tmp_path_factory.mktemp("prof")
    return profiled_run(base / "on", True), profiled_run(base / "off", False)


def test_cpu_hog_is_the_top_hotspot_only_with_faults(runs):
    on, off = runs
    hot_on = load_profile(on, "cpu", "hotspots")["hotspots"]
    assert hot_on[0]["function"] == "cpu_hog_burn"
    hot_off = load_profile(off, "cpu", "hotspots")["hotspots"]
    assert all(r["function"] != "cpu_hog_burn" for r in hot_off)
    files = rundir.load_manifest(on).profiles["cpu"].files
    assert {"speedscope", "flamegraph", "collapsed", "hotspots"} <= set(files)
    own = load_profile(on, "cpu", "hotspots")["own_code"]
    assert own["rule"] == "files under tests/" and own["hotspots"][0]["file"].startswith("tests/")
    index = on.parent.parent.parent / "profiles" / on.name  # --profiles-dir keeps a link, no copy
    assert index.is_symlink() and index.resolve() == (on / "profiles" / on.name).resolve()
    html = render_report(on, out=on / "profiled.html").read_text()
    assert "../../../profiles/" not in html and 'href="profiles/' in html


def test_leaking_site_tops_the_memory_list_only_with_faults(runs):
    on, off = runs
    mem_on = load_profile(on, "memory", "memory")
    assert mem_on["top_sites"][0]["function"] == "leak_retain"
    assert mem_on["leaked_at_exit_mb"] > 1.0
    mem_off = load_profile(off, "memory", "memory")
    assert all(site["function"] != "leak_retain" for site in mem_off["top_sites"][:5])
    files = rundir.load_manifest(on).profiles["memory"].files
    assert {"flamegraph", "leaks_flamegraph", "stats", "memory"} <= set(files)


def test_profile_diff_between_the_two_runs(runs, tmp_path):
    on, off = runs
    out = harness("profile-diff", str(off), str(on), "--json", str(tmp_path / "diff.json"))
    assert out.returncode == 0, out.stdout + out.stderr
    rows = json.loads((tmp_path / "diff.json").read_text())["rows"]
    assert rows[0]["function"].startswith("cpu_hog_burn") and rows[0]["delta_percent"] > 20
    assert "cpu_hog_burn" in out.stdout


def test_unattachable_pid_leaves_the_run_going(tmp_path, fast_server):
    sleeper = subprocess.Popen(["sleep", "60"])  # not a Python process: py-spy cannot profile it
    try:
        scenario = write(
            tmp_path,
            "s.yaml",
            "name: s\nload: {rate: 10, duration: 2s, drain: 1s}\nmix: [{name: a, path: /x}]\n",
        )
        out = harness(
            "run",
            str(scenario),
            "--target",
            fast_server,
            "--profile",
            "cpu",
            "--pid",
            str(sleeper.pid),
            "--reports-dir",
            str(tmp_path / "r"),
            "--profiles-dir",
            str(tmp_path / "p"),
            "--quiet",
        )
    finally:
        sleeper.kill()
        sleeper.wait()
    assert out.returncode == 0, out.stdout + out.stderr
    record = rundir.load_manifest((tmp_path / "r" / "latest").resolve()).profiles["cpu"]
    assert record.status == "failed" and "py-spy" in (record.reason or "")
    assert "CPU profiling off" in out.stdout


def test_no_profiler_outlives_the_run(runs):
    ps = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout
    for run_dir in runs:
        assert f"--output {run_dir}" not in ps
    assert "tests.harness.fake_runtime" not in ps.replace(sys.argv[0], "")


REAL = """\
name: realprof
load: {rate: 25, duration: 6s, drain: 5s}
mix:
  - {operation: simple_query}
profile: {memory_duration: 6s}
"""


def test_reference_runtime_faults_show_in_both_profiles(tmp_path):
    """The reference runtime's own fault injector: cpu_hog_burn and leak_retain top the tables."""
    scenario = write(tmp_path, "real.yaml", REAL)
    env = {
        **os.environ,
        "MOTHERBOX_FAULTS__CPU_HOG__MS": "5",
        "MOTHERBOX_FAULTS__MEMORY_LEAK__BYTES_PER_REQUEST": "65536",
    }
    out = harness(
        "run",
        str(scenario),
        "--profile",
        "cpu,memory",
        "--reports-dir",
        str(tmp_path / "reports"),
        "--profiles-dir",
        str(tmp_path / "profiles"),
        "--quiet",
        env=env,
        timeout=240,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    run_dir = (tmp_path / "reports" / "latest").resolve()
    hot = load_profile(run_dir, "cpu", "hotspots")["hotspots"][0]
    assert (hot["function"], hot["file"]) == ("cpu_hog_burn", "reference_runtime/faults.py")
    site = load_profile(run_dir, "memory", "memory")["top_sites"][0]
    assert (site["function"], site["file"]) == ("leak_retain", "reference_runtime/faults.py")  # as imported
