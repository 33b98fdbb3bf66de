"""Pre-flight: `harness run` refuses, before any load and without writing anything, output folders
it cannot write, a bad runtime config or baseline, and options that are not numbers it can use:
exit 2 with one line naming the option."""

from __future__ import annotations

import errno
import os
import tempfile
from pathlib import Path

import pytest

from harness.run import preflight
from harness.run.options import RunOptions
from tests.harness.conftest import harness, write

SCENARIO = "name: pf\nload: {rate: 1, duration: 1s}\nmix: [{name: a, path: /}]\n"
UNREACHABLE = "http://127.0.0.1:9"  # never contacted: every case fails before the target is


def unwritable_folder(tmp_path: Path) -> Path:
    """A folder nobody here can create files in: read-only /sys for root, else a 0500 folder."""
    if os.geteuid() != 0:
        folder = tmp_path / "ro"
        folder.mkdir(mode=0o500)
        return folder
    try:
        fd, name = tempfile.mkstemp(dir="/sys")
    except OSError:
        return Path("/sys")
    os.close(fd)
    os.unlink(name)
    pytest.skip("no read-only folder available to root here")


def test_a_file_is_no_folder_and_a_missing_folder_under_a_writable_one_is_fine(tmp_path: Path) -> None:
    a_file = write(tmp_path, "a_file", "x")
    assert preflight.folder_problem(a_file, "--out") == f"--out {a_file}: {a_file} is not a folder"
    problem = preflight.folder_problem(a_file / "runs", "--out")
    assert problem is not None and "is not a folder" in problem
    assert preflight.folder_problem(tmp_path / "new" / "deeper", "--out") is None
    assert not (tmp_path / "new").exists()  # checking creates nothing
    assert [p.name for p in tmp_path.iterdir()] == ["a_file"]  # and leaves no probe file


def test_a_folder_that_refuses_writes_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object, **kwargs: object) -> tuple[int, str]:
        raise OSError(errno.EROFS, "Read-only file system")

    monkeypatch.setattr(tempfile, "mkstemp", refuse)
    problem = preflight.folder_problem(tmp_path / "reports", "--reports-dir")
    assert (
        problem
        == f"--reports-dir {tmp_path / 'reports'}: folder {tmp_path} is not writable (Read-only file system)"
    )


def test_every_output_folder_is_checked(tmp_path: Path) -> None:
    a_file = write(tmp_path, "a_file", "x")
    ok = tmp_path / "reports"
    options = RunOptions(scenario_path=a_file, reports_dir=ok)
    assert preflight.output_problem(options, None) is None
    problem = preflight.output_problem(RunOptions(scenario_path=a_file, reports_dir=a_file), None)
    assert problem is not None and problem.startswith("--reports-dir")
    problem = preflight.output_problem(RunOptions(scenario_path=a_file, reports_dir=ok, out=a_file), None)
    assert problem is not None and problem.startswith("--out")
    problem = preflight.output_problem(options, a_file)
    assert problem is not None and problem.startswith("--profiles-dir")


def test_configs_baselines_and_numbers(tmp_path: Path) -> None:
    assert preflight.config_problem("baseline") is None and preflight.config_problem(None) is None
    assert preflight.config_problem(str(write(tmp_path, "c.yaml", "{}"))) is None
    problem = preflight.config_problem("no-such-profile")
    assert problem is not None and "baseline" in problem and "optimized" in problem
    scenario = tmp_path / "s.yaml"
    assert preflight.baseline_problem(RunOptions(scenario_path=scenario, gate=True, baseline="auto")) is None
    assert preflight.baseline_problem(RunOptions(scenario_path=scenario, gate=False, baseline="nope")) is None
    problem = preflight.baseline_problem(
        RunOptions(scenario_path=scenario, gate=True, baseline="nope", reports_dir=tmp_path)
    )
    assert problem is not None and problem.startswith("--baseline: nope")
    for scale in (float("nan"), float("inf"), 0.0, -1.0):
        assert preflight.numbers_problem(RunOptions(scenario_path=scenario, time_scale=scale)) is not None
    assert preflight.numbers_problem(RunOptions(scenario_path=scenario, duration_s=0.0)) is not None
    assert preflight.numbers_problem(RunOptions(scenario_path=scenario, duration_s=2.0)) is None


def _bad_inputs(tmp_path: Path) -> list[tuple[list[str], str]]:
    a_file = write(tmp_path, "a_file", "x")
    locked = unwritable_folder(tmp_path)
    target = ["--target", UNREACHABLE]
    return [
        ([*target, "--out", str(a_file)], "--out"),
        ([*target, "--reports-dir", str(a_file)], "--reports-dir"),
        ([*target, "--out", str(locked / "runs")], "--out"),
        ([*target, "--profile", "cpu", "--pid", "1", "--profiles-dir", str(a_file)], "--profiles-dir"),
        (["--config", "no-such-profile"], "--config"),
        ([*target, "--gate", "--baseline", "no-such-run"], "--baseline"),
        ([*target, "--time-scale", "nan"], "--time-scale"),
        ([*target, "--duration", "0s"], "--duration"),
        (["--target", "http://[::1"], "http://[::1"),
        (["--target", ""], "--target: empty URL"),
        ([*target, "--workers", "1", "--master-bind", "host:port"], "--master-bind"),
        ([*target, "--workers", "1", "--local-workers", "3"], "--local-workers"),
    ]


@pytest.mark.slow  # one `harness run` process per case (~1 s each)
def test_bad_options_exit_2_with_one_line_before_any_load(tmp_path: Path) -> None:
    scenario = write(tmp_path, "pf.yaml", SCENARIO)
    reports = tmp_path / "reports"
    for args, named in _bad_inputs(tmp_path):
        out = harness("run", str(scenario), "--reports-dir", str(reports), *args)
        text = (out.stdout + out.stderr).strip()
        assert out.returncode == 2, (args, text)
        assert len(text.splitlines()) == 1 and text.startswith("error:") and named in text, (args, text)
        assert not reports.exists(), args  # nothing written
