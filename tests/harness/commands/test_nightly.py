"""``harness nightly --plan`` / ``--steps``: choosing and describing steps without running any."""

from __future__ import annotations

from harness.commands import nightly


def test_plan_lists_the_chosen_steps_and_their_load_time(capsys) -> None:
    assert nightly.main(["--plan", "--steps", "steady, profile", "--time-scale", "0.05"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in lines[:-1]] == ["steady", "profile"]
    assert lines[1].endswith("+ cpu profile") and not lines[0].endswith("+ cpu profile")
    assert lines[-1].startswith("total load time ")


def test_an_unknown_step_is_exit_2_naming_it(capsys) -> None:
    assert nightly.main(["--plan", "--steps", "steady,nope"]) == 2
    assert "--steps: unknown step(s) ['nope']" in capsys.readouterr().err


def test_an_unknown_baseline_ref_is_exit_2_in_one_line_and_writes_nothing(tmp_path, capsys) -> None:
    reports = tmp_path / "reports"
    code = nightly.main(
        ["--steps", "steady", "--baseline-ref", "no-such-ref-xyz", "--reports-dir", str(reports)]
    )
    out = capsys.readouterr()
    assert code == 2 and out.out == ""
    lines = out.err.strip().splitlines()
    assert len(lines) == 1 and "--baseline-ref: unknown git ref 'no-such-ref-xyz'" in lines[0]
    assert not reports.exists()


def test_repo_needs_baseline_ref_and_must_exist(tmp_path, capsys) -> None:
    assert nightly.main(["--plan", "--repo", str(tmp_path)]) == 2
    assert "--repo: only with --baseline-ref" in capsys.readouterr().err
    assert nightly.main(["--plan", "--baseline-ref", "HEAD", "--repo", str(tmp_path / "nope")]) == 2
    assert "not a directory" in capsys.readouterr().err


def test_a_step_with_a_fixed_url_cannot_run_against_a_ref(tmp_path, capsys) -> None:
    scenarios = tmp_path / "scenarios"
    scenarios.mkdir()
    (scenarios / "steady_state.yaml").write_text(
        "name: s\ntarget: {url: 'http://127.0.0.1:9'}\n"
        "load: {rate: 5, duration: 10s}\nmix: [{name: x, path: /x}]\n"
    )
    args = ["--steps", "steady", "--scenarios-dir", str(scenarios), "--baseline-ref", "HEAD"]
    assert nightly.main([*args, "--reports-dir", str(tmp_path / "reports")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("harness nightly: step steady: ") and "target.url" in err and "\n" not in err
    assert not (tmp_path / "reports").exists()


def test_plan_against_a_ref_names_the_commit(capsys) -> None:
    assert nightly.main(["--plan", "--steps", "steady", "--baseline-ref", "HEAD"]) == 0
    last = capsys.readouterr().out.splitlines()[-1]
    assert last.startswith("each step a duet: HEAD (") and "the working tree (side b)" in last
