"""scenarios/team_creation.yaml end to end: `harness run` against the real managed runtime."""

from __future__ import annotations

import csv

import pytest

from harness.contract import rundir
from tests.harness.conftest import ROOT, harness

pytestmark = pytest.mark.slow

OPERATIONS = ("team_creation", "team_creation_5", "team_creation_10")


def test_team_creation_scenario_times_each_team_until_ready(tmp_path) -> None:
    """Sequential creation without templates (every agent designed by three model calls in a row),
    so a bigger team takes clearly longer: one sample per creation, none per poll."""
    reports = tmp_path / "reports"
    config = ROOT / "docs" / "examples" / "team-creation-sequential.yaml"
    out = harness(
        "run",
        str(ROOT / "scenarios" / "team_creation.yaml"),
        "--time-scale",
        "0.02",
        "--config",
        str(config),
        "--reports-dir",
        str(reports),
        "--quiet",
        timeout=240,
    )
    run_dir = (reports / "latest").resolve()
    assert (run_dir / rundir.SUMMARY_FILE).is_file(), out.stdout + out.stderr
    samples = rundir.load_samples(run_dir)
    assert set(samples["operation"]) == set(OPERATIONS)
    assert samples["error"].isna().all(), samples["error"].value_counts()
    assert (samples["status"] == 201).all()  # the create's status: no poll (a 200) became a sample
    with (run_dir / "locust_stats.csv").open() as handle:
        counted = {row["Name"]: int(row["Request Count"]) for row in csv.DictReader(handle)}
    for op in OPERATIONS:  # Locust's own statistics saw one request per creation too
        assert counted[op] == int((samples["operation"] == op).sum())
    median = samples.groupby("operation")["latency_ms"].median()
    assert median["team_creation_5"] > median["team_creation"]
    assert median["team_creation_10"] > 1.5 * median["team_creation"]
    summary = rundir.load_summary(run_dir)
    assert summary.operations["team_creation_10"].latency_ms.max < 120_000  # within the timeout
