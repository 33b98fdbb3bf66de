"""`harness validate`: a gate naming an operation that is not in the mix is an input error."""

from __future__ import annotations

from pathlib import Path

from harness.cli import main
from tests.harness.conftest import write

SCENARIO = """\
name: typo
load: {{rate: 5, duration: 2s}}
mix:
  - {{operation: command_ack}}
  - {{name: ping, path: /v1/health}}
gates:
  - "error_rate < 1%"
  - "{gate}"
"""


def test_a_gate_on_an_unknown_operation_exits_2_with_a_suggestion(tmp_path: Path, capsys) -> None:
    path = write(tmp_path, "typo.yaml", SCENARIO.format(gate="p95(comand_ack) < 100ms"))
    assert main(["validate", str(path)]) == 2
    out = capsys.readouterr().out
    assert f"{path}: gates[1]: unknown operation 'comand_ack'" in out
    assert "did you mean 'command_ack'?" in out and "Traceback" not in out


def test_gates_on_mix_operations_and_names_pass(tmp_path: Path, capsys) -> None:
    path = write(tmp_path, "ok.yaml", SCENARIO.format(gate="p95(ping) < 100ms"))
    assert main(["validate", str(path)]) == 0
    assert "ok" in capsys.readouterr().out


def test_an_unknown_metric_in_a_gate_suggests_the_close_one(tmp_path: Path, capsys) -> None:
    path = write(tmp_path, "metric.yaml", SCENARIO.format(gate="erorr_rate < 1%"))
    assert main(["validate", str(path)]) == 2
    assert "did you mean 'error_rate'?" in capsys.readouterr().out


def test_the_shipped_scenarios_validate() -> None:
    shipped = sorted(str(p) for p in Path("scenarios").glob("*.yaml"))
    assert shipped and main(["validate", *shipped]) == 0
