import os
import signal
import subprocess
import sys
import types

import pytest

from harness import cli
from harness.contract.exits import EXIT_ABORTED, EXIT_INTERNAL
from tests.harness.conftest import ROOT, harness, write


@pytest.fixture(autouse=True)
def _keep_signal_handlers():
    """cli.main installs its SIGTERM/SIGINT handlers: give pytest its own back afterwards."""
    saved = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT)}
    yield
    for sig, handler in saved.items():
        signal.signal(sig, handler)


def test_a_broken_command_is_an_error_with_its_traceback_not_a_missing_command(monkeypatch, tmp_path, capsys):
    (tmp_path / "broken_command_xyz.py").write_text("raise RuntimeError('boom at import')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(
        cli,
        "COMMANDS",
        [
            *cli.COMMANDS,
            ("broken", "broken_command_xyz", "fails to import"),
            ("ghost", "harness.commands.ghost_xyz", "not written"),
        ],
    )
    assert cli.main(["broken"]) == EXIT_INTERNAL
    assert "RuntimeError: boom at import" in capsys.readouterr().err
    assert cli.main(["ghost"]) == EXIT_INTERNAL
    err = capsys.readouterr().err
    assert "ModuleNotFoundError" in err and "ghost_xyz" in err
    # only the command being run is imported: the others keep working, --help lists them all
    assert cli.main(["validate", "scenarios/smoke.yaml"]) == 0
    assert cli.main(["--help"]) == 0
    listed = capsys.readouterr().out
    assert "broken" in listed and "ghost" in listed and "not available" not in listed


def test_a_broken_command_run_as_a_program_prints_its_traceback(tmp_path):
    (tmp_path / "broken_command_xyz.py").write_text("raise RuntimeError('boom at import')\n")
    code = (
        "import sys; from harness import cli;"
        " cli.COMMANDS.append(('broken', 'broken_command_xyz', 'x'));"
        " sys.exit(cli.main(['broken']))"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), str(ROOT)])}
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, env=env, timeout=60
    )
    assert out.returncode == EXIT_INTERNAL  # a bug, never 1 (which means a gate failed)
    assert "Traceback" in out.stderr and "RuntimeError: boom at import" in out.stderr
    assert "internal error" in out.stderr


def _command_raising(exc: BaseException) -> types.ModuleType:
    module = types.ModuleType("raising_command_xyz")

    def run(args: object) -> int:
        raise exc

    module.run = run  # type: ignore[attr-defined]
    return module


def test_an_unexpected_exception_exits_70_with_its_traceback(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "raising_command_xyz", _command_raising(ValueError("oops")))
    monkeypatch.setattr(cli, "COMMANDS", [*cli.COMMANDS, ("raising", "raising_command_xyz", "x")])
    assert cli.main(["raising"]) == EXIT_INTERNAL
    err = capsys.readouterr().err
    assert "Traceback" in err and err.strip().endswith(
        "internal error (a bug in the harness): ValueError: oops"
    )


def test_an_unhandled_interrupt_exits_3_in_one_line(monkeypatch, capsys):
    from harness.contract.lifecycle import Terminated

    monkeypatch.setitem(sys.modules, "raising_command_xyz", _command_raising(Terminated()))
    monkeypatch.setattr(cli, "COMMANDS", [*cli.COMMANDS, ("raising", "raising_command_xyz", "x")])
    assert cli.main(["raising"]) == EXIT_ABORTED
    assert capsys.readouterr().err.strip() == "aborted: interrupted (SIGTERM)"


def test_validate_refuses_a_negative_time_scale_in_one_line(tmp_path):
    out = harness("validate", "--time-scale", "-1", "scenarios/smoke.yaml", "scenarios/profile.yaml")
    assert out.returncode == 2
    assert out.stdout.strip() == "error: --time-scale -1: must be a finite number > 0"


def test_bad_scenario_exits_2_with_location_and_writes_nothing(tmp_path):
    bad = write(
        tmp_path,
        "bad.yaml",
        "name: bad\nload:\n  rate: -1\n  duration: 5s\nmix: [{operation: command_ack}]\n",
    )
    reports = tmp_path / "reports"
    out = harness("run", str(bad), "--reports-dir", str(reports), "--target", "http://127.0.0.1:9")
    assert out.returncode == 2
    assert f"{bad}:3:" in out.stdout and "load.rate" in out.stdout
    assert not reports.exists()
    out = harness("validate", str(bad))
    assert out.returncode == 2 and "load.rate" in out.stdout


def test_remote_target_refused_and_unreachable_target_reported(tmp_path):
    scn = write(tmp_path, "s.yaml", "name: s\nload: {rate: 1, duration: 1s}\nmix: [{name: a, path: /}]\n")
    out = harness("run", str(scn), "--target", "http://example.com", "--reports-dir", str(tmp_path / "r"))
    assert out.returncode == 2 and "allow-remote" in out.stdout
    from harness.run.target import free_port

    out = harness(
        "run", str(scn), "--target", f"http://127.0.0.1:{free_port()}", "--reports-dir", str(tmp_path / "r")
    )
    assert out.returncode == 3 and "unreachable" in out.stdout
    assert not (tmp_path / "r" / "runs").exists() or not any((tmp_path / "r" / "runs").iterdir())
