"""`harness ab`: the duet plan and its splitting (no Locust), bad input, the sides the harness
starts (a git ref's worktree, a command line), and short duet runs against stand-in servers (real
Locust processes: marked slow), with `--profile cpu` and `--repeat N`."""

import argparse
import json
import shlex
import subprocess
import sys
import uuid
from collections import Counter
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from harness.compare.ab_result import load_ab
from harness.compare.paired import paired_compare
from harness.contract import rundir
from harness.contract.columns import DROPPED
from harness.contract.runfolder import RunFolder
from harness.load.collector import SIDED_SCHEMA, Collector, merge_parts
from harness.load.contract import OpSpec, Plan, SidePlan
from harness.load.recorder import Recorder, SidedRecorder
from harness.load.sides import Sides, check_sides
from harness.run.duet import CommandService, GitWorktree, rate_share, resolve_ref
from harness.run.options import make_console
from harness.run.target import TargetError
from tests.harness.conftest import harness, two_op_scenario, write
from tests.harness.servers import keyed_server, serve

SCENARIO = two_op_scenario("duet", rate=30, duration="6s")


def plan(assign="mirror", **sides):
    ops = [OpSpec(label="x", method="GET", path="/x", weight=1.0)]
    side_plans = {
        k: SidePlan(url=v, ops=ops) for k, v in (sides or {"a": "http://h:1", "b": "http://h:2/"}).items()
    }
    return Plan(
        run_id="r",
        target_url="http://h:1",
        model="open",
        stages=[(0.0, 1.0, 10.0, 10.0)],
        duration_s=1.0,
        max_in_flight=10,
        timeout=1.0,
        drain=1.0,
        ops=ops,
        work_dir="/tmp",
        sides=side_plans,
        assign=assign,
    )


# ------------------------------------------------------------------ splitting, without Locust


def test_mirror_sends_every_slot_to_both_sides_in_a_shuffled_order():
    sides = Sides(plan("mirror"), seed=3)
    picks = [sides.pick() for _ in range(200)]
    assert all(sorted(p) == ["a", "b"] for p in picks)
    firsts = Counter(p[0] for p in picks)
    assert 60 < firsts["a"] < 140  # neither side is always sent first
    assert sides.url("b", "/x") == "http://h:2/x"


def test_alternate_is_balanced_randomized_and_seeded():
    sides = Sides(plan("alternate"), seed=5)
    picks = [sides.pick()[0] for _ in range(1000)]
    counts = Counter(picks)
    assert counts["a"] == counts["b"] == 500
    running = 0
    for side in picks:  # never more than one ahead: blocks of two, each a random permutation
        running += 1 if side == "a" else -1
        assert abs(running) <= 2
    assert picks[:40] != ["a", "b"] * 20  # randomized, not strictly alternating
    again = Sides(plan("alternate"), seed=5)
    assert [again.pick()[0] for _ in range(1000)] == picks


def test_each_side_s_share_of_the_schedule():
    assert rate_share("mirror") == 1.0 and rate_share("alternate") == 0.5


def test_closed_model_users_split_half_half():
    sides = Sides(plan(), seed=0)
    assert Counter(sides.of_user(i) for i in range(10)) == {"a": 5, "b": 5}


def test_the_sides_must_render_the_same_mix():
    good = plan()
    check_sides(good)
    other = [OpSpec(label="y", method="GET", path="/y", weight=1.0)]
    bad = good.model_copy(update={"sides": {**good.sides, "b": SidePlan(url="http://h:2", ops=other)}})
    with pytest.raises(ValueError, match="differ"):
        check_sides(bad)


def test_plan_without_sides_is_an_ordinary_plan():
    ordinary = plan().model_copy(update={"sides": {}})
    assert Plan.model_validate_json(ordinary.model_dump_json()).sides == {}


def test_samples_split_by_side_into_standard_columns(tmp_path):
    recorder = SidedRecorder()
    for i, side in enumerate(["a", "b", "a", "b", "b"]):
        recorder.on_request("x", 5.0, 10, context={"intended": 100.0 + i, "side": side}, start_time=100.0 + i)
    recorder.record_unsent("x", 106.0, DROPPED, side="a")
    collector = Collector(tmp_path / "parts", sided=True)
    collector.add(recorder.take(), 0)
    collector.close()
    assert pq.read_schema(tmp_path / "parts" / collector.parts[0]) == SIDED_SCHEMA
    counts = {}
    for side in ("a", "b"):
        target = tmp_path / f"{side}.parquet"
        counts[side] = merge_parts(tmp_path / "parts", collector.parts, target, side=side)
        assert tuple(pq.read_schema(target).names) == rundir.SAMPLE_COLUMNS
    assert counts == {"a": 3, "b": 3}


def test_an_ordinary_run_records_and_writes_no_side_column(tmp_path):
    recorder = Recorder()
    recorder.on_request("x", 5.0, 10, context={"intended": 1.0, "side": "a"}, start_time=1.0)
    chunk = recorder.take()
    assert "side" not in chunk and not hasattr(recorder, "side")  # nothing per request for one target
    collector = Collector(tmp_path / "parts")
    collector.add(chunk, 0)
    collector.close()
    merge_parts(tmp_path / "parts", collector.parts, tmp_path / "s.parquet")
    assert tuple(pq.read_schema(tmp_path / "s.parquet").names) == rundir.SAMPLE_COLUMNS


# ------------------------------------------------------------------ bad input: exit 2, one line


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--a", "http://127.0.0.1:9", "--a-config", "baseline", "--b", "http://127.0.0.1:9"], "exactly one"),
        (["--b", "http://127.0.0.1:9"], "exactly one"),
        (["--a-config", "no-such-profile", "--b", "http://127.0.0.1:9"], "no-such-profile"),
        (["--a", "http://10.1.2.3:80", "--b", "http://127.0.0.1:9"], "--allow-remote"),
        (["--a", "http://127.0.0.1:9", "--b", "http://127.0.0.1:9", "--min-effect", "fast"], "--min-effect"),
        (["--a", "http://127.0.0.1:9", "--b", "http://127.0.0.1:9", "--threshold", "5"], "--threshold"),
        (["--a-ref", "no-such-xyz", "--b", "http://127.0.0.1:9"], "--a-ref: unknown git ref 'no-such-xyz'"),
        (["--a-ref", "HEAD", "--a-cmd", "x {port}", "--b", "http://127.0.0.1:9"], "exactly one"),
        (["--a", "http://127.0.0.1:9", "--b-cmd", "python -m http.server"], "must contain {port}"),
        (["--a", "http://127.0.0.1:9", "--b-cmd", "python 'unclosed {port}"], "--b-cmd: cannot parse"),
        (["--a", "http://127.0.0.1:9", "--b-ref", "HEAD", "--b-pid", "1"], "--b-pid"),
        (["--a", "http://127.0.0.1:9", "--b", "http://127.0.0.1:9", "--repeat", "0"], "--repeat 0: must be"),
    ],
)
def test_bad_input_exits_2_with_a_clear_message(tmp_path, args, message):
    scenario = write(tmp_path, "s.yaml", SCENARIO)
    out = harness("ab", str(scenario), *args, "--out", str(tmp_path / "ab"), "--quiet")
    assert out.returncode == 2, out.stdout + out.stderr
    text = out.stdout + out.stderr
    assert message in text and len(text.strip().splitlines()) == 1, text
    assert not (tmp_path / "ab").exists()


def test_unreachable_url_exits_3_and_writes_nothing(tmp_path):
    scenario = write(tmp_path, "s.yaml", SCENARIO)
    with serve("fixed", delay_ms=1) as up:
        down = "http://127.0.0.1:9"
        out = harness("ab", str(scenario), "--a", up, "--b", down, "--out", str(tmp_path / "ab"), "--quiet")
    assert out.returncode == 3, out.stdout + out.stderr
    assert "unreachable" in out.stdout
    assert list((tmp_path / "ab").iterdir()) == []


# ------------------------------------------------------------------ duet runs (real Locust)


def run_ab(tmp_path, a, b, *extra):
    """`harness ab` of URLs ``a`` and ``b``: the process and its one ab folder."""
    return run_sides(tmp_path, SCENARIO, "--a", a, "--b", b, *extra)


def run_sides(tmp_path, scenario, *args):
    path = write(tmp_path, "s.yaml", scenario)
    dirs = ("--out", str(tmp_path / "ab"), "--reports-dir", str(tmp_path / "reports"))
    out = harness("ab", str(path), *args, *dirs, "--quiet")
    folders = list((tmp_path / "ab").iterdir())
    assert len(folders) == 1, out.stdout + out.stderr
    return out, folders[0]


@pytest.mark.slow
def test_identical_targets_mirror_no_regression_same_counts_same_window(tmp_path):
    with serve("fixed", delay_ms=10) as a, serve("fixed", delay_ms=10) as b:
        out, ab_dir = run_ab(tmp_path, a, b, "--tag", "k=v", "--assign", "mirror")
    assert out.returncode == 0, out.stdout + out.stderr
    assert "REGRESSION" not in out.stdout
    assert json.loads((ab_dir / "ab.json").read_text())["headline"]["verdict"] != "regression"
    folders = {side: RunFolder(ab_dir / side) for side in ("a", "b")}
    counts = {side: f.require_summary().overall.count for side, f in folders.items()}
    assert counts["a"] == counts["b"] == 180  # 30 req/s for 6 s, each slot sent to both sides
    assert folders["a"].window_start == folders["b"].window_start
    for side, folder in folders.items():
        manifest = folder.manifest
        assert manifest.duration_s == 6.0 and manifest.load.window_start == folders["a"].window_start
        assert manifest.tags == {"k": "v", "ab": ab_dir.name, "ab_side": side, "ab_assign": "mirror"}
        assert (ab_dir / side / "monitor.csv").is_file()
        assert folder.require_summary().overall.target_rate == 30.0  # mirror: the whole schedule each
    assert (ab_dir / "ab.json").is_file() and (ab_dir / "ab.html").is_file()


@pytest.mark.slow
def test_b_thirty_percent_slower_is_a_regression(tmp_path):
    with serve("fixed", delay_ms=10) as a, serve("fixed", delay_ms=13) as b:
        out, ab_dir = run_ab(tmp_path, a, b, "--assign", "mirror")
    assert out.returncode == 1, out.stdout + out.stderr
    assert "REGRESSION" in out.stdout
    assert json.loads((ab_dir / "ab.json").read_text())["headline"]["verdict"] == "regression"


@pytest.mark.slow
def test_alternate_gives_each_side_about_half(tmp_path):
    with serve("fixed", delay_ms=10) as a, serve("fixed", delay_ms=10) as b:
        out, ab_dir = run_ab(tmp_path, a, b, "--assign", "alternate")
    assert out.returncode == 0, out.stdout + out.stderr
    counts = [RunFolder(ab_dir / s).require_summary().overall.count for s in ("a", "b")]
    assert sum(counts) == 180
    assert all(abs(c - 90) <= 0.15 * 90 for c in counts), counts
    assert RunFolder(ab_dir / "a").manifest.tags["ab_assign"] == "alternate"
    for side in ("a", "b"):  # each side's target is its half of the 30 req/s schedule
        folder = RunFolder(ab_dir / side)
        assert folder.require_summary().overall.target_rate == 15.0
        assert set(rundir.load_timeseries(ab_dir / side)["target_rate"]) == {15.0}


# ------------------------------------------------------------------ sides the harness starts

SHORT = """\
name: duet_short
load:
  rate: 20
  duration: 6s
  drain: 1s
mix:
  - {name: get_x, path: /x}
"""
PY = shlex.quote(sys.executable)
# 6 s, not 4: the paired analysis needs at least 5 one-second windows to judge anything.

STANDIN_MAIN = """\
\"\"\"A stand-in `reference_runtime`: `serve --host H --port P --state-dir D` -> a fixed-delay server.\"\"\"
import argparse
from pathlib import Path

from . import servers

DELAY_MS = {delay}
parser = argparse.ArgumentParser()
parser.add_argument("command")
parser.add_argument("--host")
parser.add_argument("--port", type=int)
parser.add_argument("--state-dir")
parser.add_argument("--config")
args = parser.parse_args()
state = Path(args.state_dir)
state.mkdir(parents=True, exist_ok=True)
(state / "api_key").write_text("standin-key")
print("STANDIN", Path(__file__).resolve(), flush=True)
servers.main(["--law", "fixed", "--delay-ms", str(DELAY_MS), "--port", str(args.port)])
"""


def git(repo: Path, *args: str) -> str:
    cmd = ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@example.invalid", *args]
    return subprocess.run(cmd, check=True, capture_output=True, text=True).stdout


@pytest.fixture
def standin_repo(tmp_path):
    """A temporary git repository with two commits of a stand-in `reference_runtime`: HEAD~1 answers
    after 13 ms, HEAD after 10 ms (independent of this repository's history)."""
    repo = tmp_path / "repo"
    package = repo / "reference_runtime"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    servers = Path(__file__).resolve().parents[1] / "servers.py"
    (package / "servers.py").write_text(servers.read_text())
    git(repo, "init", "-q")
    for delay in (13, 10):
        (package / "__main__.py").write_text(STANDIN_MAIN.format(delay=delay))
        git(repo, "add", "-A")
        git(repo, "commit", "-q", "-m", f"{delay} ms")
    return repo


def worktrees(repo: Path) -> list[str]:
    lines = git(repo, "worktree", "list", "--porcelain").splitlines()
    return [line for line in lines if line.startswith("worktree ")]


def test_a_ref_worktree_serves_its_own_reference_runtime_not_the_installed_one(standin_repo, tmp_path):
    commit = resolve_ref(standin_repo, "HEAD~1")
    assert commit is not None and resolve_ref(standin_repo, "no-such-ref") is None
    worktree = GitWorktree(standin_repo, "HEAD~1", commit)
    path = worktree.add()
    log = tmp_path / "target.log"
    runtime = worktree.runtime(log)
    try:
        runtime.start()  # `python -m reference_runtime serve ...` with cwd = the worktree
        assert runtime.api_key() == "standin-key"
    finally:
        runtime.stop()
        worktree.remove()
    assert f"STANDIN {path.resolve()}/reference_runtime/__main__.py" in log.read_text()
    assert not path.exists() and len(worktrees(standin_repo)) == 1


def test_a_cmd_that_dies_before_it_is_ready_exits_3_with_its_output(tmp_path):
    scenario = write(tmp_path, "s.yaml", SHORT)
    dies = f"{PY} -c \"import sys; print('boom at', sys.argv[1]); sys.exit(4)\" {{port}}"
    with serve("fixed", delay_ms=1) as up:
        out = harness("ab", str(scenario), "--a", up, "--b-cmd", dies, "--out", str(tmp_path / "ab"))
    assert out.returncode == 3, out.stdout + out.stderr
    assert "--b-cmd: exited with code 4 before it was ready" in out.stdout and "boom at" in out.stdout
    assert list((tmp_path / "ab").iterdir()) == []


def test_command_service_substitutes_the_port_waits_and_stops_it(tmp_path):
    cmd = f"{PY} -m tests.harness.servers --law fixed --port {{port}}"
    service = CommandService(cmd, "/health", tmp_path / "log", option="--a-cmd")
    service.start()
    assert service.process is not None and service.process.poll() is None
    assert service.argv()[-1] == str(service.port)
    service.stop()
    assert service.process.poll() is not None
    with pytest.raises(TargetError, match="no HTTP answer"):
        CommandService(f"{PY} -c 'import time; time.sleep(30)' {{port}}", startup_timeout_s=1).start()


def run_short(tmp_path, *sides):
    return run_sides(tmp_path, SHORT, *sides, "--assign", "mirror")


@pytest.mark.slow
def test_a_ref_b_ref_of_a_temporary_repository_regression_and_worktrees_removed(standin_repo, tmp_path):
    out, ab_dir = run_short(tmp_path, "--a-ref", "HEAD", "--b-ref", "HEAD~1", "--repo", str(standin_repo))
    assert out.returncode == 1, out.stdout + out.stderr  # B (HEAD~1, 13 ms) slower than A (HEAD, 10 ms)
    assert json.loads((ab_dir / "ab.json").read_text())["headline"]["verdict"] == "regression"
    for side, ref in (("a", "HEAD"), ("b", "HEAD~1")):
        manifest = RunFolder(ab_dir / side).manifest
        target = manifest.target
        assert target.managed and target.pids and target.version.startswith(f"git {ref} ")
        commit = subprocess.run(
            ["git", "-C", str(standin_repo), "rev-parse", ref], capture_output=True, text=True, check=True
        ).stdout.strip()
        assert (manifest.git.commit, manifest.git.branch, manifest.git.dirty) == (commit, ref, False)
        log = (ab_dir / side / "target.log").read_text()
        served_from = Path(log.split("STANDIN ", 1)[1].split()[0]).parents[1]
        assert served_from != Path.cwd() and not served_from.exists()  # a worktree, removed
    assert len(worktrees(standin_repo)) == 1


@pytest.mark.slow
def test_a_cmd_b_cmd_identical_services_no_regression_cpu_monitored(tmp_path):
    cmd = f"{PY} -m tests.harness.servers --law fixed --delay-ms 5 --port {{port}}"
    out, ab_dir = run_short(tmp_path, "--a-cmd", cmd, "--b-cmd", cmd)
    assert out.returncode == 0, out.stdout + out.stderr
    for side in ("a", "b"):
        folder = RunFolder(ab_dir / side)
        assert folder.manifest.target.managed and folder.manifest.target.pids
        assert folder.require_summary().overall.count == 120
        assert "cpu_percent" in (ab_dir / side / "monitor.csv").read_text().splitlines()[0]


# ------------------------------------------------------------------ --profile cpu and --repeat N

PROFILED = """\
name: duet_profiled
load:
  rate: 20
  duration: 6s
  drain: 1s
mix:
  - {name: things, path: /v1/things}
"""


def fake_runtime_cmd(state: Path, faults: bool) -> str:
    """tests/harness/fake_runtime.py as an `--X-cmd`: with faults, every request burns ~4 ms of CPU
    in `cpu_hog_burn` (`env` execs python: the harness's pid is the service's)."""
    cmd = f"{PY} -m tests.harness.fake_runtime serve --port {{port}} --state-dir {shlex.quote(str(state))}"
    return f"env FAKE_FAULTS=1 {cmd}" if faults else cmd


@pytest.mark.slow
def test_profile_cpu_puts_the_function_b_burns_in_the_differential_hotspots(tmp_path):
    a_cmd, b_cmd = fake_runtime_cmd(tmp_path / "sa", False), fake_runtime_cmd(tmp_path / "sb", True)
    out, ab_dir = run_sides(
        tmp_path, PROFILED, "--a-cmd", a_cmd, "--b-cmd", b_cmd, "--profile", "cpu", "--assign", "mirror"
    )
    assert out.returncode in (0, 1), out.stdout + out.stderr
    profile = load_ab(ab_dir).profile
    assert profile is not None
    for side in (profile.a, profile.b):
        if side.status == "failed" and "Permission denied" in (side.reason or ""):
            pytest.skip(f"py-spy cannot attach on this machine (ptrace): {side.reason}")
        assert side.status == "ok" and side.profiled == 1 and side.samples > 0, side
    top = profile.hotspots[0]
    assert top.function == "cpu_hog_burn" and top.change_points > 20, profile.hotspots
    assert top.b_percent > top.a_percent and "fake_runtime.py:" in top.location
    for name in ("a", "b"):  # laid out as `harness run --profile cpu` does, inside each run folder
        record = RunFolder(ab_dir / name).manifest.profiles["cpu"]
        assert record.status == "ok" and (ab_dir / name / record.files["hotspots"]).is_file()
        assert record.files["flamegraph"] == f"profiles/{ab_dir.name}-{name}/cpu.flamegraph.svg"
    assert "cpu_hog_burn" in out.stdout and "cpu_hog_burn" in (ab_dir / "ab.html").read_text()
    report = harness("report", str(ab_dir / "b"))
    assert report.returncode == 0, report.stdout + report.stderr
    assert "cpu_hog_burn" in (ab_dir / "b" / "report.html").read_text()


@pytest.mark.slow
def test_repeat_two_windows_pooled_and_a_side_without_pid_is_a_note(tmp_path):
    with serve("fixed", delay_ms=5) as a, serve("fixed", delay_ms=5) as b:
        out, ab_dir = run_sides(tmp_path, SHORT, "--a", a, "--b", b, "--repeat", "2", "--profile", "cpu")
    assert out.returncode == 0, out.stdout + out.stderr
    assert sorted(p.name for p in ab_dir.iterdir() if p.is_dir()) == ["a-1", "a-2", "b-1", "b-2"]
    result = load_ab(ab_dir)
    assert [(r.index, Path(r.b_run_dir).name) for r in result.repeats] == [(1, "b-1"), (2, "b-2")]
    assert result.repeats[1].window_start > result.repeats[0].window_start
    pooled = next(m for m in result.metrics if m.label == "p95(overall)")
    single = next(
        m for m in paired_compare(ab_dir / "a-1", ab_dir / "b-1").metrics if m.label == pooled.label
    )
    assert pooled.blocks == sum(r.blocks for r in result.repeats) > single.blocks == result.repeats[0].blocks
    for index in (1, 2):
        tags = RunFolder(ab_dir / f"b-{index}").manifest.tags
        assert (tags["ab_side"], tags["repeat"], tags["repeats"]) == ("b", str(index), "2")
    assert result.profile is not None and result.profile.hotspots == []
    assert result.profile.note == "no differential hotspots: side a and b were not profiled"
    assert "side a is not CPU-profiled" in out.stdout and "--a-pid" in out.stdout


# ------------------------------------------------------------------ --api-key (ab, and calibrate's duet)

KEYED = """\
name: keyed
load: {rate: 10, duration: 2s, drain: 1s}
mix:
  - {name: get_x, path: /x, expect_status: [200]}
"""


def files_holding(root: Path, secret: bytes) -> list[str]:
    return [str(p) for p in root.rglob("*") if p.is_file() and secret in p.read_bytes()]


@pytest.mark.slow
def test_api_key_reaches_both_url_sides_and_no_file_written(tmp_path):
    key = f"sekrit-{uuid.uuid4().hex}"
    with keyed_server(key) as a, keyed_server(key) as b:
        out, ab_dir = run_sides(tmp_path, KEYED, "--a", a, "--b", b, "--api-key", key)
    assert out.returncode == 0, out.stdout + out.stderr
    for side in ("a", "b"):
        overall = RunFolder(ab_dir / side).require_summary().overall
        assert overall.count == 20 and overall.errors == 0  # the key was sent (401 otherwise)
        assert RunFolder(ab_dir / side).manifest.cli.count("(redacted)") == 1
    assert files_holding(tmp_path, key.encode()) == []


def test_ab_api_key_falls_back_to_the_environment_and_is_one_declaration(monkeypatch):
    from harness.commands import ab as ab_command
    from harness.commands import calibrate as calibrate_command

    parsers = {}
    for name, command in (("ab", ab_command), ("calibrate", calibrate_command)):
        parsers[name] = argparse.ArgumentParser()
        command.add_arguments(parsers[name])
    helps = {
        n: next(a.help for a in p._actions if "--api-key" in a.option_strings) for n, p in parsers.items()
    }
    assert all("$HARNESS_API_KEY" in h and "never written to disk" in h for h in helps.values())
    args = parsers["ab"].parse_args(["s.yaml", "--a", "http://127.0.0.1:9", "--b", "http://127.0.0.1:9"])
    monkeypatch.delenv("HARNESS_API_KEY", raising=False)
    assert ab_command.options_from(args, make_console()).api_key is None
    monkeypatch.setenv("HARNESS_API_KEY", "from-env")
    assert ab_command.options_from(args, make_console()).api_key == "from-env"
    args.api_key = "from-flag"
    assert ab_command.options_from(args, make_console()).api_key == "from-flag"


def test_calibrate_hands_the_key_to_its_runs_and_duets(monkeypatch):
    from harness.commands import calibrate as calibrate_command
    from harness.run.calibrate import _run_options

    parser = argparse.ArgumentParser()
    calibrate_command.add_arguments(parser)
    monkeypatch.setenv("HARNESS_API_KEY", "from-env")
    options = calibrate_command.options_from(
        parser.parse_args(["--target", "http://127.0.0.1:9"]), make_console()
    )
    assert options.api_key == "from-env"
    assert _run_options(options, Path("out"), {}, make_console()).api_key == "from-env"
    flagged = parser.parse_args(["--target", "http://127.0.0.1:9", "--api-key", "from-flag"])
    assert calibrate_command.options_from(flagged, make_console()).api_key == "from-flag"
