from __future__ import annotations

import re
import shutil
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest

from harness.contract import rundir
from harness.derive.files import write_derived_files
from harness.load.schedule import schedule_from
from harness.report import analysis
from harness.report.run_page import render_report
from harness.verdict.gate import gate_run


def render(run: Path, tmp_path: Path) -> str:
    copy = Path(shutil.copytree(run, tmp_path / run.name))
    return render_report(copy).read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def good_html(report_runs: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> str:
    """The 'good' run's report, rendered once for the tests that only read it."""
    return render(report_runs["good"], tmp_path_factory.mktemp("good-report"))


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))


def tags(html: str) -> list[tuple[str, dict[str, str | None]]]:
    parser = _Tags()
    parser.feed(html)
    return parser.tags


def test_report_has_every_section_and_chart(good_html: str) -> None:
    html = good_html
    for section in ("verdict", "operations", "charts", "checklist", "profiles", "context", "not-measured"):
        assert f'id="{section}"' in html
    for chart in ("throughput", "latency", "distribution", "resources", "runtime"):
        assert "<svg" in figure(html, chart), chart
    # no failed request: one line instead of an empty axis, and not listed as "not measured"
    errors = figure(html, "errors")
    assert "<svg" not in errors and '<p class="empty">No failed requests' in errors
    assert "chart: Errors" not in html
    assert "command_ack" in html and "Command acknowledgment" in html
    assert html.count("<svg") == 5


def figure(html: str, chart: str) -> str:
    match = re.search(rf'<figure id="chart-{chart}">(.*?)</figure>', html, re.DOTALL)
    assert match is not None, chart
    return match.group(1)


def test_report_is_self_contained(good_html: str) -> None:
    html = good_html
    for tag, attrs in tags(html):
        for name in ("src", "href"):
            value = attrs.get(name) or ""
            assert not re.match(r"^(https?:)?//", value), (tag, name, value)
        assert tag not in ("script", "link", "iframe", "object"), tag
    assert "@import" not in html
    assert not re.search(r"url\((?!#)", html)  # only local references such as clip-path url(#id)
    assert "Content-Security-Policy" in html


def test_failing_run_shows_fail_banner_and_colored_cells(
    report_runs: dict[str, Path], tmp_path: Path
) -> None:
    copy = Path(shutil.copytree(report_runs["failing"], tmp_path / "failing"))
    assert gate_run(copy, checklist=None, rules=["p95(command_ack) < 100ms"], baseline=None) == 1
    html = render_report(copy).read_text(encoding="utf-8")
    assert 'data-verdict="fail"' in html
    assert "p95(command_ack) &lt; 100ms" in html
    row = re.search(r"<tr><td>command_ack</td>(.*?)</tr>", html, re.DOTALL)
    assert row is not None and 'class="num fail"' in row.group(1)
    assert "HTTP 503" in html  # errors by kind
    assert "<svg" in figure(html, "errors") and 'class="empty"' not in figure(html, "errors")


def test_aborted_run_renders_marked_incomplete(report_runs: dict[str, Path], tmp_path: Path) -> None:
    html = render(report_runs["aborted"], tmp_path)
    assert 'data-verdict="incomplete"' in html
    assert "Incomplete run" in html and "synthetic abort" in html


def test_report_without_summary_still_renders(report_runs: dict[str, Path], tmp_path: Path) -> None:
    copy = Path(shutil.copytree(report_runs["aborted"], tmp_path / "nosummary"))
    for name in (rundir.SUMMARY_FILE, rundir.TIMESERIES_FILE, rundir.HISTOGRAMS_FILE):
        (copy / name).unlink()
    html = render_report(copy).read_text(encoding="utf-8")
    assert 'data-verdict="incomplete"' in html
    assert "No summary.json" in html
    assert "Not measured: timeseries.csv is missing" in html


def test_unmonitored_run_says_what_was_not_measured(report_runs: dict[str, Path], tmp_path: Path) -> None:
    html = render(report_runs["bare"], tmp_path)
    figure = re.search(r'<figure id="chart-resources">(.*?)</figure>', html, re.DOTALL)
    assert figure is not None and "<svg" not in figure.group(1) and "Not measured" in figure.group(1)
    not_measured = html[html.index('id="not-measured"') :]
    assert "monitor disabled" in not_measured
    assert "not profiled" in not_measured


def test_scenario_name_and_error_message_are_escaped(report_runs: dict[str, Path], tmp_path: Path) -> None:
    html = render(report_runs["xss"], tmp_path)
    assert "<script" not in html.lower()
    assert "&lt;script&gt;" in html  # the scenario name and the error kind, escaped
    assert html.count("&lt;script&gt;alert") >= 2


def test_profiles_section_tolerates_partial_hotspot_rows(good_html: str) -> None:
    html = good_html
    profiles = html[html.index('id="profiles"') : html.index('id="context"')]
    assert "hog" in profiles and "reference_runtime/faults.py:42" in profiles and "61.0%" in profiles
    assert "&lt;lambda&gt;" in profiles and "12.5%" in profiles
    assert "0.5%" in profiles  # a percent below 1 stays a percent
    assert "peak memory (MB)" in profiles and "321.5" in profiles and "f.py:3" in profiles
    assert "scalene is not installed" in profiles
    assert 'href="profile/profile.speedscope.json"' in profiles


@pytest.mark.parametrize("run", ["good", "aborted"])
def test_report_command_writes_report_and_index(
    report_runs: dict[str, Path], tmp_path: Path, run: str
) -> None:
    import argparse

    from harness.commands import report

    reports = tmp_path / "reports"
    shutil.copytree(report_runs[run], reports / "runs" / run)
    parser = argparse.ArgumentParser()
    report.add_arguments(parser)
    assert report.run(parser.parse_args([run, "--reports-dir", str(reports)])) == 0
    assert (reports / "runs" / run / "report.html").is_file()
    assert f'href="runs/{run}/report.html"' in (reports / "index.html").read_text()


def test_report_command_rejects_a_non_run(tmp_path: Path) -> None:
    import argparse

    from harness.commands import report

    parser = argparse.ArgumentParser()
    report.add_arguments(parser)
    assert report.run(parser.parse_args([str(tmp_path)])) == 2


FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "runs"


def throughput_labels(html: str) -> list[str]:
    """The stage-band labels the throughput chart writes (SVG text stays text)."""
    return re.findall(r">\s*(ramp|[0-9.]+/s)\s*<", figure(html, "throughput"))


def test_an_old_run_folder_still_renders_its_stage_means(tmp_path: Path) -> None:
    """v1 timeseries.csv held each stage's mean rate: drawn (and labelled) as before."""
    html = render(FIXTURES / "v1-smoke", tmp_path)
    assert throughput_labels(html) == ["10/s", "20/s"]
    assert "<svg" in figure(html, "latency") and 'data-verdict="' in html


def test_a_ramp_is_drawn_as_a_ramp_from_the_per_second_schedule(tmp_path: Path) -> None:
    """The smoke run's real samples, derived again with its schedule (0 -> 20 req/s over 5 s)."""
    run_dir = Path(shutil.copytree(FIXTURES / "v1-smoke", tmp_path / "smoke"))
    manifest = rundir.load_manifest(run_dir)
    schedule = schedule_from([(0.0, 5.0, 0.0, 20.0), (5.0, 20.0, 20.0, 20.0)])
    write_derived_files(
        run_dir,
        manifest.run_id,
        rundir.load_samples(run_dir),
        window_start=manifest.load.window_start or 0.0,
        duration_s=20.0,
        schedule=schedule,
    )
    series = analysis.build_series(rundir.load_timeseries(run_dir), rundir.load_summary(run_dir))
    assert series is not None and series.ramps == [True, False]
    target = series.columns["target_rate"]
    assert target[:6].tolist() == [2.0, 6.0, 10.0, 14.0, 18.0, 20.0]
    # what was achieved follows the ramp within a request or two each second (it was 10 flat)
    assert np.abs(series.columns["rate"][:5] - target[:5]).max() <= 2
    html = render_report(run_dir).read_text(encoding="utf-8")
    assert throughput_labels(html) == ["ramp", "20/s"]


def test_ungated_run_is_not_evaluated_on_its_page_as_in_the_index(
    report_runs: dict[str, Path], tmp_path: Path
) -> None:
    """No verdict.json: the page says "Not evaluated" (as the index does) and labels its own
    evaluation a preview; after the gate, the page shows the gate's verdict."""
    copy = Path(shutil.copytree(report_runs["failing"], tmp_path / "failing"))
    (copy / "verdict.json").unlink(missing_ok=True)
    html = render_report(copy).read_text(encoding="utf-8")
    assert 'data-verdict="unknown"' in html and "Not evaluated" in html
    assert "Preview with the default checklist" in html
    assert gate_run(copy, checklist=None, rules=["p95(command_ack) < 100ms"], baseline=None) == 1
    html = render_report(copy).read_text(encoding="utf-8")
    assert 'data-verdict="fail"' in html and "Preview with the default checklist" not in html
