"""One run, one p50/p95/p99: summary.json, compare.json, the windowed series and report.html agree.

The expected values are read off hdrh's own HdrHistogram (``get_value_at_percentile``), not off
harness.derive.percentiles, so a drift of the shared definition from HdrHistogram fails here too.
"""

from __future__ import annotations

import json
import math
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from harness.compare.compare import compare_paths, write_compare_json
from harness.contract import rundir
from harness.contract.runfolder import RunFolder
from harness.derive.percentiles import histogram_of
from harness.report.run_page import render_report
from harness.testing.synthetic import SyntheticSpec, make_run
from harness.verdict.evaluate import evaluate
from harness.verdict.format import format_value
from harness.verdict.metrics import Kind
from harness.verdict.rules import RuleSpec, parse_rule
from tests.harness.conftest import harness, write

METRICS = {"p50": 50.0, "p95": 95.0, "p99": 99.0}
TIMESERIES = {"p50": "p50_ms", "p95": "p95_ms", "p99": "p99_ms"}


def _completed(run_dir: Path) -> pd.DataFrame:
    samples = rundir.load_samples(run_dir)
    return samples[samples["error"].ne("dropped").fillna(True).to_numpy(dtype=bool)]


def _hdrh(latencies: pd.Series, q: float) -> float:
    return float(histogram_of(latencies.to_numpy(dtype=float)).get_value_at_percentile(q)) / 1000.0


def _seconds(run_dir: Path, completed: pd.DataFrame) -> np.ndarray:
    """Second of the measured window each request completed in (the run's recorded window start:
    timeseries.csv keeps epoch seconds to 10 digits only)."""
    window_start = RunFolder(run_dir).window_start
    assert window_start is not None
    return np.floor(completed["ts"].to_numpy(dtype=float) - window_start)


def _check_summary(run_dir: Path, completed: pd.DataFrame) -> rundir.Summary:
    summary = rundir.load_summary(run_dir)
    for metric, q in METRICS.items():
        assert getattr(summary.overall.latency_ms, metric) == _hdrh(completed["latency_ms"], q)
    return summary


def _check_compare(run_dir: Path, summary: rundir.Summary, out: Path) -> None:
    json_path = write_compare_json(compare_paths([run_dir], [run_dir]), out)
    metrics = json.loads(json_path.read_text())["metrics"]
    groups = {"overall": summary.overall, **summary.operations}
    seen = 0
    for row in metrics:
        if row["metric"] in METRICS and row["operation"] in groups:
            expected = getattr(groups[row["operation"]].latency_ms, row["metric"])
            assert row["base"] == expected and row["new"] == expected, row
            seen += 1
    assert seen == len(METRICS) * len(groups)


def _check_timeseries(run_dir: Path, completed: pd.DataFrame) -> None:
    timeseries = rundir.load_timeseries(run_dir)
    second = _seconds(run_dir, completed)
    checked = 0
    for t in range(len(timeseries)):
        latencies = completed.loc[second == t, "latency_ms"]
        for metric, q in METRICS.items():
            value = float(timeseries[TIMESERIES[metric]].iloc[t])
            if latencies.empty:
                assert math.isnan(value)
            else:
                assert value == _hdrh(latencies, q), (t, metric)
                checked += 1
    assert checked > 0


def _measured(run_dir: Path, text: str) -> float | None:
    verdict = evaluate(RunFolder(run_dir), [RuleSpec("r", parse_rule(text), "cli")])
    return verdict.rules[0].measured


def _check_windowed_rules(run_dir: Path, summary: rundir.Summary, completed: pd.DataFrame) -> None:
    """A ``within`` window as long as the run equals the summary; a ``for`` rule's worst second
    equals the worst per-second value of timeseries.csv."""
    timeseries = rundir.load_timeseries(run_dir)
    seconds = len(timeseries)
    second = _seconds(run_dir, completed)
    inside = completed.loc[(second >= 0) & (second < seconds), "latency_ms"]
    for metric, q in METRICS.items():
        whole = _measured(run_dir, f"{metric} < 1h within {seconds}s")
        assert whole == _hdrh(inside, q)
        if len(inside) == len(completed):  # every request completed inside the measured window
            assert whole == getattr(summary.overall.latency_ms, metric)
        worst = _measured(run_dir, f"{metric} < 1h for 1s")
        assert worst == float(np.nanmax(timeseries[TIMESERIES[metric]].to_numpy(dtype=float)))


class _OperationsTable(HTMLParser):
    """Rows of the report's operations table: {first cell: {column header: cell text}}."""

    def __init__(self) -> None:
        super().__init__()
        self.in_section = False
        self.cell: list[str] | None = None
        self.row: list[str] = []
        self.header: list[str] = []
        self.rows: dict[str, dict[str, str]] = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "section":
            self.in_section = ("id", "operations") in attrs
        elif self.in_section and tag in ("td", "th"):
            self.cell = []
        elif self.in_section and tag == "tr":
            self.row = []

    def handle_data(self, data: str) -> None:
        if self.cell is not None:
            self.cell.append(data)

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self.cell is not None:
            self.row.append("".join(self.cell).strip())
            self.cell = None
        elif tag == "tr" and self.in_section and self.row:
            if not self.header:
                self.header = self.row
            else:
                self.rows[self.row[0]] = dict(zip(self.header, self.row, strict=True))
        elif tag == "section":
            self.in_section = False


def _check_report(run_dir: Path, summary: rundir.Summary) -> None:
    table = _OperationsTable()
    table.feed(render_report(run_dir).read_text())
    groups = {"All operations": summary.overall, **summary.operations}
    assert set(table.rows) == set(groups)
    for name, op in groups.items():
        for metric in METRICS:
            assert table.rows[name][metric] == format_value(Kind.TIME, getattr(op.latency_ms, metric))


def assert_percentiles_agree(run_dir: Path, out: Path) -> None:
    completed = _completed(run_dir)
    assert len(completed) > 0
    summary = _check_summary(run_dir, completed)
    _check_compare(run_dir, summary, out)
    _check_timeseries(run_dir, completed)
    _check_windowed_rules(run_dir, summary, completed)
    _check_report(run_dir, summary)


def test_a_synthetic_run_shows_one_p50_p95_p99_everywhere(tmp_path: Path) -> None:
    # 40.5 s of sends: every request completes inside the 41 s window, so the whole-run window is
    # the summary's sample set.
    run_dir = make_run(tmp_path, SyntheticSpec(rate=80.0, duration_s=40.5, dropped_fraction=0.01))
    assert_percentiles_agree(run_dir, tmp_path)


SCENARIO = """\
name: agreement
load:
  rate: 60
  duration: 5s
  drain: 2s
mix:
  - {name: get_x, path: /x, weight: 3}
  - {name: post_y, method: POST, path: "/y/{seq}", json: {a: 1}}
"""


@pytest.mark.slow
def test_a_real_run_shows_one_p50_p95_p99_everywhere(tmp_path: Path, mixed_server: str) -> None:
    scenario = write(tmp_path, "agreement.yaml", SCENARIO)
    reports = tmp_path / "reports"
    out = harness("run", str(scenario), "--target", mixed_server, "--reports-dir", str(reports))
    assert out.returncode == 0, out.stdout + out.stderr
    assert_percentiles_agree((reports / "latest").resolve(), tmp_path)
