"""The run page lists checklist rules for other kinds of run apart from the judged ones."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

from harness.report.run_page import render_report
from harness.testing.synthetic import SyntheticSpec, make_run
from harness.verdict.gate import evaluate_run
from tests.harness.verdict.conftest import with_scenario


def test_not_applicable_rules_are_listed_apart(tmp_path: Path) -> None:
    run = with_scenario(
        make_run(tmp_path, SyntheticSpec(run_id="page", rate=20.0, duration_s=20.0)), kind="smoke"
    )
    verdict = evaluate_run(run)
    html = render_report(run, verdict=verdict).read_text(encoding="utf-8")
    count = verdict.counts["not-applicable"]
    assert count > 0
    assert f"{count} checklist rules not applicable to this smoke run" in html
    assert f"{count} not applicable" in html  # the banner's counts
    tables = html.split('<details class="not-applicable">')[0]
    assert "pill-not-applicable" not in tables  # not a row of the judged rules
    listed = html.split('<details class="not-applicable">')[1].split("</details>")[0]
    assert "p50 &lt; 500ms" in listed and "applies to steady or endurance runs" in listed
    assert re.search(r"pill-pass", tables)


def test_a_v1_verdict_still_renders(tmp_path: Path) -> None:
    run = make_run(tmp_path, SyntheticSpec(run_id="old", rate=20.0, duration_s=20.0))
    fixture = Path(__file__).resolve().parents[2] / "fixtures" / "verdict" / "v1" / "verdict.json"
    shutil.copy(fixture, run / "verdict.json")
    html = render_report(run).read_text(encoding="utf-8")
    assert "not applicable to this" not in html
    assert "not measured" in html
