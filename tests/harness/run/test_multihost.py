"""A distributed run across hosts of our own (network namespaces, tests/netns.py), checked against
the same scenario run on one host.

Hosts on one bridge, each with its own address in a private /24: ``target`` (the reference
runtime, which starts its model backend on its own loopback), ``master`` (``harness run --workers 2
--master-bind ADDR:PORT --allow-remote``) and ``worker1``/``worker2`` (``harness run --worker
--master-host ADDR``). Then, right after, the single-host run: the same scenario, ``--workers 2``
(master and workers as local processes), against a runtime of the same configuration, everything
on loopback in the root namespace.

What must hold: both workers' samples reach the master's run folder; the combined open-model rate
is the plan's within ±2 %; and the two summaries agree — the same sends per operation exactly (each
worker's slot of the one schedule, and its seeded mix, do not depend on where it runs) and each
operation's p50 within a stated bound of the other run's (:func:`assert_same_law`).
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest

from harness.contract import rundir
from tests import netns
from tests.harness.conftest import ROOT, write

RATE, DURATION_S = 100, 10  # 1000 sends in a 10 s window: the ±2 % check keeps its power
MASTER_PORT = 5557
#: light operations only: the target must keep up on this shared machine (complex_analysis at this
#: rate queues for seconds and times out, which would measure the backlog, not the hosts)
WEIGHTS = {"command_ack": 1, "simple_query": 1}
SCENARIO = f"""\
name: multihost
load:
  model: open
  rate: {RATE}
  duration: {DURATION_S}s
  max_in_flight: 200
  timeout: 10s
  drain: 2s
mix:
""" + "".join(f"  - {{operation: {op}, weight: {w}}}\n" for op, w in WEIGHTS.items())
BIN = Path(sys.executable).parent
#: polls a URL until it answers 200 (run on the host that will use it: the target is not routed
#: from the root namespace)
WAIT_HEALTHY = """
import sys, time, urllib.request
deadline = time.monotonic() + 60
while time.monotonic() < deadline:
    try:
        if urllib.request.urlopen(sys.argv[1], timeout=2).status == 200:
            sys.exit(0)
    except OSError:
        time.sleep(0.2)
sys.exit(1)
"""


def require_netns() -> None:
    reason = netns.netns_unavailable()
    if reason is not None:
        pytest.skip(f"network namespaces unavailable: {reason}")


@pytest.fixture
def lab() -> Iterator[netns.Lab]:
    require_netns()
    netns.clean_leftovers()
    hosts = netns.Lab(["target", "master", "worker1", "worker2"])
    try:
        hosts.up()
        yield hosts
    finally:
        hosts.down()


def runtime_argv(host: str, state_dir: Path) -> list[str]:
    """``reference-runtime serve`` as ``make serve`` runs it (port 0: the bound port goes to a file)."""
    where = ["--host", host, "--port", "0", "--state-dir", str(state_dir)]
    return [str(BIN / "reference-runtime"), "serve", *where]


def start_runtimes(lab: netns.Lab, tmp_path: Path, env: dict[str, str]) -> tuple[str, str]:
    """The reference runtime on the ``target`` host and one on loopback in the root namespace,
    started together (start-up is the slow part; the second idles until its run); their URLs once
    each has bound its port. The lab stops them."""
    started = []
    for host, address in (("target", lab.address("target")), (None, "127.0.0.1")):
        state = tmp_path / f"state-{host or 'root'}"
        proc = lab.popen(host, runtime_argv(address, state), state.with_suffix(".log"), env=env)
        started.append((proc, address, state / "port"))
    deadline = time.monotonic() + 60
    urls = []
    for proc, address, port_file in started:
        while not port_file.is_file():
            assert proc.poll() is None, f"the runtime exited with {proc.returncode}"
            assert time.monotonic() < deadline, "the runtime did not bind within 60 s"
            time.sleep(0.1)
        urls.append(f"http://{address}:{port_file.read_text().strip()}")
    return urls[0], urls[1]


def wait_healthy(prefix: list[str], url: str) -> None:
    """Until ``url`` answers 200, asked from the namespace ``prefix`` runs in (the target is not
    routed from the root namespace)."""
    done = subprocess.run([*prefix, sys.executable, "-c", WAIT_HEALTHY, f"{url}/v1/health"], timeout=90)
    assert done.returncode == 0, f"{url} not healthy within 60 s"


def harness_argv(*args: str) -> list[str]:
    return [sys.executable, "-m", "harness", "run", *args]


def harness_run(scenario: Path, url: str, reports: Path, *extra: str) -> list[str]:
    options = ["--target", url, "--reports-dir", str(reports), "--no-report", "--quiet", "--json"]
    return harness_argv(str(scenario), *options, *extra)


@dataclass(frozen=True)
class Measured:
    """What a run folder says (every sample column: the worker's too)."""

    manifest: rundir.Manifest
    summary: rundir.Summary
    samples: pd.DataFrame


def run_folder_of(stdout: str) -> Measured:
    """The run folder named by ``harness run --json``, which must have completed."""
    result = json.loads(stdout.strip().splitlines()[-1])
    assert result["exit_code"] == 0 and result["status"] == "complete", result
    path = Path(result["run_dir"])
    return Measured(rundir.load_manifest(path), rundir.load_summary(path), rundir.load_samples(path))


def multi_host_run(lab: netns.Lab, tmp_path: Path, scenario: Path, url: str, env: dict[str, str]) -> Measured:
    """The master on one host, a worker on each of two others, the target on a fourth."""
    logs = tmp_path / "logs"
    bind = f"{lab.address('master')}:{MASTER_PORT}"
    distributed = ("--allow-remote", "--workers", "2", "--master-bind", bind)
    argv = harness_run(scenario, url, tmp_path / "reports-multi", *distributed)
    master = lab.popen("master", argv, logs / "master", pipe_stdout=True, env=env, cwd=ROOT)
    connect = ("--worker", "--master-host", lab.address("master"), "--master-port", str(MASTER_PORT))
    workers = [
        lab.popen(name, harness_argv(*connect), logs / name, env=env, cwd=ROOT)
        for name in ("worker1", "worker2")
    ]
    stdout, _ = master.communicate(timeout=240)
    assert master.returncode == 0, (logs / "master").read_text()[-3000:]
    for worker in workers:  # the master's quit message ends them
        assert worker.wait(timeout=30) == 0
    return run_folder_of(stdout)


def single_host_run(tmp_path: Path, scenario: Path, url: str, env: dict[str, str]) -> Measured:
    """The same scenario, master and two workers as local processes, all on loopback."""
    done = subprocess.run(
        harness_run(scenario, url, tmp_path / "reports-single", "--workers", "2"),
        env=env, cwd=ROOT, capture_output=True, text=True, timeout=240,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    return run_folder_of(done.stdout)


def window_send_rate(run: Measured) -> float:
    """Requests actually sent per second inside the measured window (all workers together)."""
    samples = run.samples
    start = float(run.manifest.load.window_start or 0.0)
    sent = samples["start"].between(start, start + DURATION_S, inclusive="left")
    return float(sent.sum()) / DURATION_S


def iqr_ms(samples: pd.DataFrame, op: str) -> tuple[float, float]:
    latency = samples.loc[(samples["operation"] == op) & samples["error"].isna(), "latency_ms"]
    return float(latency.quantile(0.25)), float(latency.quantile(0.75))


def assert_same_law(multi: Measured, single: Measured) -> None:
    """Sends: equal per operation (completed + dropped), exactly. Latency: with one law, each run's
    p50 sits inside the other's interquartile range (sampling: the median's rank error is
    ~0.5/sqrt(n) ≈ 0.02 for n ≈ 500, against 0.25 to either quartile); the band is widened to
    [p25 / 2, 2 · p75] because on this shared machine the load of other processes changes the
    target's latency between two runs a minute apart (measured: command_ack p50 8.3 vs 14.7 ms in
    two back-to-back runs), which is not what is compared here."""
    assert set(multi.summary.operations) == set(single.summary.operations) == set(WEIGHTS)
    for op in WEIGHTS:
        sends = [m.summary.operations[op].count + m.summary.operations[op].dropped for m in (multi, single)]
        assert sends[0] == sends[1], (op, sends)
        for this, other in ((multi, single), (single, multi)):
            p50 = this.summary.operations[op].latency_ms.p50
            low, high = iqr_ms(other.samples, op)
            assert p50 is not None and low / 2 <= p50 <= 2 * high, (op, p50, low, high)


@pytest.mark.slow
@pytest.mark.timeout(600)  # two 10 s runs and two runtimes' start-ups, on a busy machine
def test_two_workers_on_other_hosts_match_a_single_host_run(lab: netns.Lab, tmp_path: Path) -> None:
    scenario = write(tmp_path, "multihost.yaml", SCENARIO)
    key = "mbx_" + secrets.token_urlsafe(24)
    env = {**os.environ, "MOTHERBOX_API_KEY": key, "HARNESS_API_KEY": key}
    (tmp_path / "logs").mkdir()
    remote, local = start_runtimes(lab, tmp_path, env)
    wait_healthy(lab.argv("master", []), remote)
    wait_healthy([], local)
    multi = multi_host_run(lab, tmp_path, scenario, remote, env)
    single = single_host_run(tmp_path, scenario, local, env)

    samples = multi.samples
    assert multi.manifest.load.workers == 2
    assert sorted(samples["worker"].unique().tolist()) == [0, 1]  # both workers' samples arrived
    per_worker = samples.groupby("worker").size()
    assert per_worker.max() - per_worker.min() <= 1  # slot i of every 2 of one global schedule
    assert multi.manifest.target.url.startswith(f"http://{lab.address('target')}:")

    multi_rate, single_rate = window_send_rate(multi), window_send_rate(single)
    assert multi_rate == pytest.approx(RATE, rel=0.02)
    assert single_rate == pytest.approx(RATE, rel=0.02)
    assert multi.summary.overall.errors == single.summary.overall.errors == 0
    assert multi.summary.overall.count + multi.summary.overall.dropped == RATE * DURATION_S
    assert_same_law(multi, single)
    print(f"\nmulti-host: {report_line(multi, multi_rate)}\nsingle-host: {report_line(single, single_rate)}")


def report_line(run: Measured, rate: float) -> str:
    ops = run.summary.operations
    return f"{rate:.2f} req/s sent; " + ", ".join(
        f"{op} n={ops[op].count} p50={ops[op].latency_ms.p50}ms" for op in WEIGHTS
    )


def test_a_crashed_runs_lab_is_cleaned_up_and_a_live_one_is_not(tmp_path: Path) -> None:
    """The namespaces (and what runs in them) of a pid that is gone are removed; ours stay."""
    require_netns()
    gone = subprocess.Popen(["true"])
    gone.wait()
    crashed, alive = netns.Lab(["a"], tag=f"{netns.PREFIX}-{gone.pid}-0"), netns.Lab(["a"])
    try:
        for lab in (crashed, alive):
            lab.up()
        leftover = crashed.popen("a", ["sleep", "60"], tmp_path / "sleep.log")
        crashed.processes.clear()  # as if its test had crashed: nobody stops it
        inside = ["ip", "netns", "pids", crashed.namespace("a")]
        deadline = time.monotonic() + 10
        while not subprocess.run(inside, capture_output=True, text=True).stdout.strip():
            assert time.monotonic() < deadline, "sleep never entered its namespace"
            time.sleep(0.05)
        removed = netns.clean_leftovers()
        assert leftover.wait(timeout=10) == -9
        assert set(crashed.created) <= set(removed)
        listed = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
        assert crashed.tag not in listed and alive.namespace("a") in listed
    finally:
        for lab in (crashed, alive):
            lab.down()
