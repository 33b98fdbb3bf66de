"""The Locust-side recorder and every later stage read one set of names from the contract."""

from harness.contract import rundir
from harness.load import recorder


def test_recorder_columns_are_the_contract_minus_the_worker_the_collector_adds() -> None:
    assert (*recorder.COLUMNS, "worker") == rundir.SAMPLE_COLUMNS


def test_the_locust_side_imports_the_contract_without_pydantic() -> None:
    import subprocess
    import sys

    code = "import sys, harness.load.recorder; print('pydantic' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
