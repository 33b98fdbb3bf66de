"""``harness run --repeat N``: tags, cool-downs, the series' exit code, and the interleaved order."""

from __future__ import annotations

from pathlib import Path

from harness.contract import rundir
from harness.contract.columns import REPEAT_COUNT_TAG, REPEAT_GROUP_TAG, REPEAT_INDEX_TAG
from harness.run import repeat
from harness.run.options import EXIT_ABORTED, EXIT_FAILED, EXIT_OK, EXIT_USAGE, RunOptions, RunResult


def _manifest(reason: str | None = None) -> rundir.Manifest:
    return rundir.Manifest(
        run_id="r",
        scenario_name="s",
        scenario={},
        target=rundir.TargetInfo(url="http://127.0.0.1:1", managed=False),
        started_at="2024-01-01T00:00:00+00:00",
        status="aborted" if reason else "complete",
        abort_reason=reason,
    )


class FakeRuns:
    """Stands in for the run stage: returns the given results in turn, records each run's tags."""

    def __init__(self, *results: RunResult) -> None:
        self.results = list(results)
        self.tags: list[dict[str, str]] = []

    def __call__(self, options: RunOptions) -> RunResult:
        self.tags.append(dict(options.tags))
        return self.results[len(self.tags) - 1]


def test_repeats_share_a_group_are_numbered_from_one_and_sleep_between(tmp_path: Path) -> None:
    ok = RunResult(EXIT_OK, tmp_path, None, _manifest())
    gate_failed = RunResult(EXIT_FAILED, tmp_path, None, _manifest())
    runs, sleeps = FakeRuns(ok, gate_failed, ok), []
    options = RunOptions(scenario_path=tmp_path / "s.yaml", tags={"k": "v"})
    code = repeat.run_repeated(options, 3, 2.5, execute=runs, sleep=sleeps.append)
    assert code == EXIT_FAILED  # the worst run of the series
    assert sleeps == [2.5, 2.5]
    assert [t[REPEAT_INDEX_TAG] for t in runs.tags] == ["1", "2", "3"]
    assert {t[REPEAT_GROUP_TAG] for t in runs.tags} == {runs.tags[0][REPEAT_GROUP_TAG]}
    assert all(t[REPEAT_COUNT_TAG] == "3" and t["k"] == "v" for t in runs.tags)
    assert options.tags == {"k": "v"}  # each run gets its own copy


def test_a_single_run_carries_no_repeat_tags(tmp_path: Path) -> None:
    runs = FakeRuns(RunResult(EXIT_ABORTED, tmp_path, None, _manifest("load generator did not finish")))
    assert repeat.run_repeated(RunOptions(scenario_path=tmp_path), execute=runs, sleep=_no_sleep) == 3
    assert runs.tags == [{}]


def test_ctrl_c_or_a_run_without_folder_ends_the_series(tmp_path: Path) -> None:
    interrupted = RunResult(EXIT_ABORTED, tmp_path, None, _manifest("interrupted (Ctrl-C)"))
    ok = RunResult(EXIT_OK, tmp_path, None, _manifest())
    runs, sleeps = FakeRuns(ok, interrupted, ok), []
    assert repeat.run_repeated(RunOptions(scenario_path=tmp_path), 3, execute=runs, sleep=sleeps.append) == 3
    assert len(runs.tags) == 2 and len(sleeps) == 1
    runs = FakeRuns(RunResult(EXIT_ABORTED, tmp_path, None, _manifest("x")), RunResult(EXIT_USAGE), ok)
    # no run folder: that run's code, whatever came before
    assert repeat.run_repeated(RunOptions(scenario_path=tmp_path), 3, execute=runs, sleep=sleeps.append) == 2
    assert len(runs.tags) == 2


def test_interleaved_order_alternates_direction() -> None:
    assert repeat.interleaved_order(["on", "off"], 3) == [
        (0, "on"),
        (0, "off"),
        (1, "off"),
        (1, "on"),
        (2, "on"),
        (2, "off"),
    ]


def _no_sleep(seconds: float) -> None:
    raise AssertionError("a single run must not cool down")
