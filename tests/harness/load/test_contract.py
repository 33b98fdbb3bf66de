"""The Locust-side recorder keeps its own copy of the sample columns (the Locust process avoids
importing pydantic); this pins that copy to the run-folder contract so they cannot drift."""

from harness.contract import rundir
from harness.derive import summary as summarize
from harness.load import recorder


def test_recorder_columns_are_the_contract_minus_the_worker_the_collector_adds() -> None:
    assert (*recorder.COLUMNS, "worker") == rundir.SAMPLE_COLUMNS


def test_recorder_and_summary_agree_on_the_dropped_marker() -> None:
    assert recorder.DROPPED == summarize.DROPPED
