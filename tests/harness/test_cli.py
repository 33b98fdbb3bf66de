from harness import cli
from tests.harness.conftest import harness, write


def test_missing_command_module_does_not_break_others(monkeypatch, capsys):
    monkeypatch.setattr(
        cli, "COMMANDS", [*cli.COMMANDS, ("ghost", "harness.commands.ghost_xyz", "not written")]
    )
    assert cli.main(["validate", "scenarios/smoke.yaml"]) == 0
    assert cli.main(["ghost"]) == 2
    assert "not available" in capsys.readouterr().err


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
