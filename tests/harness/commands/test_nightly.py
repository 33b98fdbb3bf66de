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
