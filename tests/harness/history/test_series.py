"""Change points on series with a known step; history page; Otava CSV export."""

from __future__ import annotations

import csv
import datetime as dt
import json
import re
from pathlib import Path

import numpy as np
import pytest

from harness.commands import history as history_cmd
from harness.history import baseline, changepoints
from harness.history.series import OTAVA_TIME_FORMAT, build_history, export_otava
from harness.testing.synthetic import SyntheticOp, SyntheticSpec, make_run

STEP_AT = 7
OPS = (SyntheticOp("command_ack", 1.0, 20.0, 0.3, 0.0),)


@pytest.fixture(scope="module")
def reports(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """14 nightly runs of one scenario; from run 7 on (commit c7), every latency is 20% slower."""
    root = tmp_path_factory.mktemp("reports")
    start = dt.datetime(2026, 11, 1, 2, 0, tzinfo=dt.UTC)
    for i in range(14):
        make_run(
            root / "runs",
            SyntheticSpec(
                scenario="steady_state",
                ops=OPS,
                duration_s=6,
                seed=1000 + i,
                latency_scale=1.2 if i >= STEP_AT else 1.0,
                git_commit=f"c{i:02d}abcdef",
                started_at=start + dt.timedelta(days=i),
                run_id=f"night{i:02d}",
            ),
        )
    make_run(
        root / "runs",
        SyntheticSpec(scenario="steady_state", ops=OPS, duration_s=5, status="aborted", run_id="x"),
    )
    baseline.set_baseline(root / "runs" / "night02", root)
    return root


@pytest.mark.parametrize("seed", range(5))
def test_known_step_is_found_within_one_run(seed: int) -> None:
    rng = np.random.default_rng(seed)
    values = np.r_[100 + rng.normal(0, 3, 15), 112 + rng.normal(0, 3, 15)]
    found = changepoints.detect(values)
    assert any(abs(cp.index - 15) <= 1 and cp.change > 0.05 for cp in found)
    assert all(abs(cp.index - 15) <= 1 for cp in found)


@pytest.mark.parametrize("seed", range(5))
def test_pure_noise_has_no_change_points(seed: int) -> None:
    values = 100 + np.random.default_rng(seed).normal(0, 3, 30)
    assert changepoints.detect(values) == []


def test_history_finds_the_step_and_names_the_commits(reports: Path) -> None:
    history = build_history(reports)
    (series,) = history.series
    assert len(series.points) == 14 and series.baseline_run_id == "night02"
    assert any("aborted" in s for s in history.skipped)
    p50 = [c for c in series.changes if c.metric == "p50" and c.operation == "overall"]
    assert len(p50) == 1
    assert abs(p50[0].index - STEP_AT) <= 1
    assert p50[0].commit_after.startswith(f"c{p50[0].index:02d}") and p50[0].change > 0.1
    assert not [c for c in series.changes if c.metric == "rate"]


def test_history_command_writes_page_json_and_otava(reports: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "history.html"
    assert (
        history_cmd.main(
            ["--reports-dir", str(reports), "--out", str(out), "--otava", str(tmp_path / "otava")]
        )
        == 0
    )
    page = out.read_text()
    assert "steady_state" in page and "c07abcde" in page
    chart = re.search(
        r'<figure aria-label="history of steady_state@synthetic"><svg (.*?)</svg>\s*</figure>', page, re.S
    )
    assert chart, "the series chart is inline SVG"
    assert "baseline" in chart.group(1) and "p50 +2" in chart.group(1)  # marked in the chart, as text
    data = json.loads(out.with_suffix(".json").read_text())
    assert data["series"][0]["changes"]
    assert "change points" in capsys.readouterr().out
    assert history_cmd.main(["--reports-dir", str(reports), "--alpha", "x"]) == 2


def test_otava_csv_layout(reports: Path, tmp_path: Path) -> None:
    written = export_otava(build_history(reports), tmp_path)
    csv_path = next(p for p in written if p.suffix == ".csv")
    rows = list(csv.DictReader(csv_path.open()))
    assert list(rows[0])[:3] == ["time", "commit", "run_id"]
    assert {"p50", "p95", "p99", "error_rate", "rate", "peak_rss_mb"} <= set(rows[0])
    assert len(rows) == 14
    first = dt.datetime.strptime(rows[0]["time"], OTAVA_TIME_FORMAT)
    assert first == dt.datetime(2026, 11, 1, 2, 0, tzinfo=dt.UTC)
    assert rows[7]["commit"] == "c07abcdef" and float(rows[7]["p50"]) > float(rows[0]["p50"])
    config = (tmp_path / "otava.yaml").read_text()
    assert "time_column: time" in config and csv_path.name in config
