"""``harness nightly --baseline-ref``: the step's paired result from ab.json, the steps that cannot
be a fair duet, the ref check; then real nights of a stand-in runtime's git repository (slow)."""

from __future__ import annotations

import json
import os
import sqlite3
from pathlib import Path

import pytest

from harness.compare.ab_result import AbResult, load_ab
from harness.contract.runfolder import RunFolder
from harness.history.db import db_path
from harness.nightly.against_ref import (
    headline_figures,
    paired_verdict,
    regression_labels,
    resolve_baseline_ref,
    step_result,
    working_tree_config,
)
from harness.nightly.outputs import load_nightly
from harness.nightly.plan import NightlyStep
from harness.nightly.suite import run_nightly
from harness.run.calibrate import DEFAULT_CONFIG
from harness.run.duet import DuetResult
from tests.harness.run.test_ab import standin_repo, worktrees  # noqa: F401  (standin_repo: a fixture)

AB_FIXTURE = Path(__file__).resolve().parents[2] / "fixtures" / "ab" / "v2"


def with_statuses(result: AbResult, **by_label: str) -> AbResult:
    metrics = [m.model_copy(update={"status": by_label.get(m.label, "no_change")}) for m in result.metrics]
    return result.model_copy(update={"metrics": metrics})


def test_the_paired_result_of_a_step_comes_from_ab_json() -> None:
    result = load_ab(AB_FIXTURE)
    assert paired_verdict(result) == "regression"
    figures = {f.metric: f for f in headline_figures(result)}
    assert list(figures) == [
        "p50(overall)",
        "p95(overall)",
        "p99(overall)",
        "error_rate(overall)",
        "cpu_per_request(overall)",
    ]
    p95 = figures["p95(overall)"]
    assert (p95.change, p95.ci_low, p95.ci_high, p95.mde) == pytest.approx(
        (0.2964, 0.2212, 0.4384, 0.1902), abs=1e-4
    )
    assert p95.status == "regression" and figures["cpu_per_request(overall)"].status == "inconclusive"
    labels = regression_labels(result)
    assert "p95(overall) +29.6%" in labels and "p99(write) +47.2%" in labels  # every operation counts
    assert paired_verdict(with_statuses(result, **{"p95(query)": "inconclusive"})) == "inconclusive"
    assert paired_verdict(with_statuses(result, **{"p50(overall)": "improvement"})) == "improvement"
    assert paired_verdict(with_statuses(result)) == "no_change"


def test_a_duet_that_stopped_before_any_run_is_a_failed_step_with_its_error() -> None:
    step = NightlyStep("steady", Path("steady.yaml"))
    output = "starting ...\nerror: side a: reference runtime exited with code 1 during start-up\n"
    result = step_result(step, DuetResult(3), output)
    assert result.run_status is None and result.paired is None and result.exit_code == 3
    assert result.error == "error: side a: reference runtime exited with code 1 during start-up"


@pytest.mark.parametrize(
    ("target", "message"),
    [
        ("  url: http://127.0.0.1:8080\n", "target.url"),
        ("  runtime_config: baseline\n", "target.runtime_config 'baseline'"),
    ],
)
def test_steps_that_cannot_be_a_fair_duet_are_named(tmp_path: Path, target: str, message: str) -> None:
    path = tmp_path / "s.yaml"
    path.write_text(
        f"name: s\ntarget:\n{target}load: {{rate: 5, duration: 10s}}\nmix: [{{name: x, path: /x}}]\n"
    )
    with pytest.raises(ValueError, match=message):
        working_tree_config(path)


def test_the_working_tree_runs_the_config_the_ordinary_step_would(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text("name: s\nload: {rate: 5, duration: 10s}\nmix: [{name: x, path: /x}]\n")
    assert working_tree_config(path) == DEFAULT_CONFIG == "optimized"
    path.write_text(f"name: s\ntarget: {{runtime_config: {DEFAULT_CONFIG}}}\n" + path.read_text()[8:])
    assert working_tree_config(path) == DEFAULT_CONFIG


def test_an_unknown_ref_or_repo_is_one_line_naming_it(tmp_path: Path) -> None:
    from harness.compare.ab_result import PairedSettings

    with pytest.raises(ValueError, match=r"--baseline-ref: unknown git ref 'no-such-ref' in "):
        resolve_baseline_ref("no-such-ref", Path(__file__).resolve().parents[3], PairedSettings())
    with pytest.raises(ValueError, match=r"--repo .*: not a directory"):
        resolve_baseline_ref("HEAD", tmp_path / "missing", PairedSettings())


# ------------------------------------------------------------------ real nights (Locust, two runtimes)

SCENARIO = """\
name: nightly_duet
load:
  rate: 40
  duration: 80s
  drain: 10s
mix:
  - {name: get_x, path: /x}
"""
SCALE = 0.1  # 8 s of load: the paired analysis needs at least 5 one-second windows

HEAD_RUNTIME = '''\
"""Side b of the test night: the stand-in repository's working tree, as the harness's own
checkout is for a real nightly (`HARNESS_RUNTIME_MODULE` names this module)."""
import runpy
import sys


def main() -> int:
    sys.path.insert(0, {repo!r})
    runpy.run_module("reference_runtime", run_name="__main__", alter_sys=True)
    return 0
'''


def night(repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, ref: str = "HEAD"):
    """One nightly step, REF of ``repo`` against ``repo``'s working tree: (result, reports, log)."""
    from harness.compare.ab_result import PairedSettings

    head = tmp_path / "head"
    head.mkdir()
    (head / "nightly_head_runtime.py").write_text(HEAD_RUNTIME.format(repo=str(repo)))
    monkeypatch.setenv("HARNESS_RUNTIME_MODULE", "nightly_head_runtime")
    monkeypatch.setenv(
        "PYTHONPATH", os.pathsep.join(p for p in (str(head), os.environ.get("PYTHONPATH")) if p)
    )
    scenario = tmp_path / "steady_state.yaml"
    scenario.write_text(SCENARIO)
    reports, log = tmp_path / "reports", []
    result = run_nightly(
        [NightlyStep("steady", scenario, min_duration_s=5)],
        time_scale=SCALE,
        reports_dir=reports,
        baseline_ref=resolve_baseline_ref(ref, repo, PairedSettings()),
        log=log.append,
    )
    return result, reports, log


@pytest.mark.slow
def test_identical_code_no_regression_paired_verdict_and_ab_html(standin_repo, tmp_path, monkeypatch):  # noqa: F811
    result, reports, log = night(standin_repo, tmp_path, monkeypatch)
    step = result.steps[0]
    assert result.exit_code() == 0, (log, step.error)
    assert step.paired is not None and step.paired.verdict in ("no_change", "inconclusive")
    assert not step.regressions and Path(step.paired.ab_html).is_file()
    ab = load_ab(Path(step.paired.ab_json))
    assert ab.b.run_dir == step.run_dir and ab.a.run_dir == step.paired.a_run_dir
    assert {f.metric for f in step.paired.headline} >= {"p50(overall)", "p95(overall)"}
    # the outputs name the verdict and link ab.html
    saved = load_nightly(reports / "nightly" / result.nightly_id)
    assert saved.baseline_ref == "HEAD" and saved.steps[0].paired == step.paired
    markdown = Path(result.pages["nightly"]).read_text()
    assert f"vs HEAD ([ab.html]({step.paired.ab_html}))" in markdown
    assert any(step.paired.ab_html in line and "vs HEAD" in line for line in log)
    # side a ran the ref's commit from a worktree (removed), side b the working tree
    commit = saved.baseline_commit or ""
    a, b = RunFolder(Path(step.paired.a_run_dir)), RunFolder(Path(step.run_dir or ""))
    assert (
        commit[:12] in (a.manifest.target.version or "")
        and b.manifest.target.config_profile == DEFAULT_CONFIG
    )
    b_log = (Path(step.run_dir or "") / "target.log").read_text()
    assert f"STANDIN {standin_repo.resolve()}/reference_runtime/__main__.py" in b_log
    assert len(worktrees(standin_repo)) == 1
    # side b is in history.db as an ordinary nightly run is, with the nightly's tags
    with sqlite3.connect(db_path(reports)) as conn:
        tags = dict(conn.execute("SELECT run_id, tags FROM runs").fetchall())
    b_tags = json.loads(tags[b.manifest.run_id])
    assert b_tags["nightly"] == result.nightly_id and b_tags["nightly_step"] == "steady"
    assert b_tags["ab_side"] == "b"


@pytest.mark.slow
def test_a_slower_working_tree_is_a_regression_exit_1(standin_repo, tmp_path, monkeypatch):  # noqa: F811
    main = standin_repo / "reference_runtime" / "__main__.py"
    main.write_text(main.read_text().replace("DELAY_MS = 10", "DELAY_MS = 13"))  # uncommitted: HEAD is 10 ms
    result, _, log = night(standin_repo, tmp_path, monkeypatch)
    step = result.steps[0]
    assert result.exit_code() == 1, (log, step.error)
    assert step.paired is not None and step.paired.verdict == "regression"
    assert any(r.startswith("p50(overall) +") for r in step.regressions)
    assert result.regressions and all(r.startswith("steady: ") for r in result.regressions)
