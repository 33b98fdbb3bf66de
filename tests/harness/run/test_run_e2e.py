"""End-to-end runs of `harness run` against tiny loopback servers (real Locust processes)."""

import subprocess
import sys

import pandas as pd
import pytest

from harness.contract import rundir
from tests.harness.conftest import ROOT, harness, interrupt_after, two_op_scenario, write
from tests.harness.servers import serve

pytestmark = pytest.mark.slow

PLAIN = two_op_scenario(
    "plain", rate=40, duration="4s", extra_mix="  - {name: broken, path: /status/503, weight: 0.5}\n"
)


def run_dir_of(reports):
    latest = reports / "latest"
    assert latest.is_symlink()
    return latest.resolve()


def run_plain(tmp_path, text, target, *extra):
    """`harness run` of scenario ``text`` against ``target`` (must exit 0): the process and its run folder."""
    scenario = write(tmp_path, "plain.yaml", text)
    reports = tmp_path / "reports"
    out = harness("run", str(scenario), "--target", target, "--reports-dir", str(reports), *extra)
    assert out.returncode == 0, out.stdout + out.stderr
    return out, run_dir_of(reports)


def test_smoke_run_writes_a_run_folder_rundir_can_read(tmp_path, mixed_server):
    reports = tmp_path / "reports"
    out, run_dir = run_plain(tmp_path, PLAIN, mixed_server, "--tag", "k=v")
    manifest = rundir.load_manifest(run_dir)
    summary = rundir.load_summary(run_dir)
    samples = rundir.load_samples(run_dir)
    assert manifest.status == "complete" and manifest.tags == {"k": "v"}
    assert set(rundir.SAMPLE_COLUMNS) <= set(samples.columns)
    # 40 req/s for 4 s, open model: every scheduled send happened
    assert summary.overall.count + summary.overall.dropped == 160
    assert summary.operations["broken"].error_rate == 1.0
    assert summary.operations["get_x"].errors == 0
    assert summary.operations["get_x"].latency_ms.p50 >= 5.0  # the server's fast path is 5 ms
    assert rundir.load_histograms(run_dir).latency[rundir.OVERALL]
    assert list(rundir.load_timeseries(run_dir).columns[: len(rundir.TIMESERIES_COLUMNS)]) == list(
        rundir.TIMESERIES_COLUMNS
    )
    for name in ("locust_stats.csv", "monitor.csv"):
        assert (run_dir / name).is_file()
    assert not (run_dir / ".work").exists()
    assert "get_x" in out.stdout and "run folder" in out.stdout
    import sqlite3

    with sqlite3.connect(reports / "history.db") as conn:
        assert conn.execute("select status from runs").fetchall() == [("complete",)]
        ops = {r[0] for r in conn.execute("select operation from op_summaries")}
    assert {"get_x", "post_y", "broken", rundir.OVERALL} <= ops


CO = """\
name: co
load:
  model: {model}
  {load}
  max_in_flight: 1
  queue_timeout: 3s
  drain: 3s
mix:
  - {{name: get, path: /x}}
"""


def test_coordinated_omission_correction_shows_the_stall(tmp_path):
    """Stall 1 s every 4 s. Open model: corrected p99 shows it while service time does not;
    the closed model (a single user) hides it like any classic load tester."""
    reports = tmp_path / "reports"
    results = {}
    with serve("stall", period=4, stall=1, delay_ms=2) as url:
        for model, load in (("open", "rate: 50\n  duration: 8s"), ("closed", "users: 1\n  duration: 8s")):
            scenario = write(tmp_path, f"{model}.yaml", CO.format(model=model, load=load))
            out = harness("run", str(scenario), "--target", url, "--reports-dir", str(reports), "--quiet")
            assert out.returncode == 0, out.stdout + out.stderr
            results[model] = rundir.load_summary(run_dir_of(reports)).overall
    open_, closed = results["open"], results["closed"]
    assert open_.latency_ms.p99 > 500  # the stall, seen from the intended send times
    assert open_.service_time_ms.p99 < 100  # only the one request caught in each stall waited
    assert closed.latency_ms.p99 < 100  # coordinated omission: the closed loop hides the stall
    assert open_.late > 20 and open_.dropped == 0


def test_distributed_run_with_two_workers(tmp_path, fast_server):
    _, run_dir = run_plain(tmp_path, PLAIN.replace("rate: 40", "rate: 60"), fast_server, "--workers", "2")
    samples = rundir.load_samples(run_dir)
    assert sorted(samples["worker"].unique().tolist()) == [0, 1]
    assert len(samples) == 240  # the global schedule, split between the workers, sent exactly once
    per_worker = samples.groupby("worker").size()
    assert per_worker.min() == per_worker.max() == 120
    intended = samples["intended_start"].sort_values().diff().dropna()
    assert intended.median() == pytest.approx(1 / 60, rel=0.01)
    assert rundir.load_manifest(run_dir).load.workers == 2
    assert (run_dir / "locust_stats.csv").is_file()
    stats = pd.read_csv(run_dir / "locust_stats.csv")
    assert int(stats.loc[stats["Name"] == "Aggregated", "Request Count"].iloc[0]) == 240


def test_ctrl_c_writes_collected_data_and_marks_aborted(tmp_path, fast_server):
    scenario = write(tmp_path, "long.yaml", PLAIN.replace("duration: 4s", "duration: 60s"))
    reports = tmp_path / "reports"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "harness",
            "run",
            str(scenario),
            "--target",
            fast_server,
            "--reports-dir",
            str(reports),
            "--no-report",
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    interrupt_after(proc, 9)
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 3, stdout + stderr
    run_dir = run_dir_of(reports)
    manifest = rundir.load_manifest(run_dir)
    assert manifest.status == "aborted" and "interrupt" in (manifest.abort_reason or "")
    summary = rundir.load_summary(run_dir)
    assert 0 < summary.overall.count < 60 * 40  # some, not all: startup time varies on a busy machine
    assert summary.duration_s < 30
