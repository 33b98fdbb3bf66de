from __future__ import annotations

import re
import shutil
from html.parser import HTMLParser
from pathlib import Path

import pytest

from harness.contract import rundir
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
    for chart in ("throughput", "latency", "distribution", "errors", "resources", "runtime"):
        match = re.search(rf'<figure id="chart-{chart}">(.*?)</figure>', html, re.DOTALL)
        assert match is not None and "<svg" in match.group(1), chart
    assert "command_ack" in html and "Command acknowledgment" in html
    assert html.count("<svg") == 6


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
