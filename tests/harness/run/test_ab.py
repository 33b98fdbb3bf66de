"""`harness ab`: the duet plan and its splitting (no Locust), bad input, and short duet runs
against two stand-in servers (real Locust processes: marked slow)."""

import json
from collections import Counter

import pyarrow.parquet as pq
import pytest

from harness.contract import rundir
from harness.contract.columns import DROPPED
from harness.contract.runfolder import RunFolder
from harness.load.collector import SIDED_SCHEMA, Collector, merge_parts
from harness.load.contract import OpSpec, Plan, SidePlan
from harness.load.recorder import Recorder
from harness.load.sides import Sides, check_sides
from tests.harness.conftest import harness, write
from tests.harness.servers import serve

SCENARIO = """\
name: duet
load:
  rate: 30
  duration: 6s
  drain: 2s
mix:
  - {name: get_x, path: /x, weight: 3}
  - {name: post_y, method: POST, path: "/y/{seq}", json: {a: 1}}
"""


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
    recorder = Recorder()
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


def test_an_ordinary_collector_ignores_the_side_column(tmp_path):
    recorder = Recorder()
    recorder.on_request("x", 5.0, 10, context={"intended": 1.0}, start_time=1.0)
    collector = Collector(tmp_path / "parts")
    collector.add(recorder.take(), 0)
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
    scenario = write(tmp_path, "s.yaml", SCENARIO)
    out = harness(
        "ab",
        str(scenario),
        "--a",
        a,
        "--b",
        b,
        "--out",
        str(tmp_path / "ab"),
        "--reports-dir",
        str(tmp_path / "reports"),
        "--quiet",
        *extra,
    )
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
