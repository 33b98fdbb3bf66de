"""The CI gate: evaluate a run folder and write verdict.json, junit.xml and summary.md.

Exit codes (docs/gates.md): 0 every gate passed, 1 a gate failed, 2 usage or configuration error
(bad rule, bad checklist, not a run folder), 3 the run is incomplete (aborted or not summarized;
the outputs are still written so a person can see what was measured).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from harness.contract import rundir
from harness.contract.exits import EXIT_ABORTED, EXIT_FAILED, EXIT_OK, EXIT_USAGE
from harness.contract.runfolder import RunFolder
from harness.verdict.checklist import Checklist, ChecklistError, load_checklist
from harness.verdict.evaluate import evaluate
from harness.verdict.expect import ExpectError, expect_rules, gate_rules
from harness.verdict.model import JUNIT_FILE, SUMMARY_MD_FILE, VERDICT_FILE, Verdict
from harness.verdict.outputs import junit_xml, summary_markdown
from harness.verdict.rules import RuleError, RuleSpec, parse_rule


class GateConfigError(Exception):
    """Bad rules, checklist or paths: exit code 2."""


def collect_rules(run: RunFolder, checklist: Checklist, cli_rules: list[str]) -> list[RuleSpec]:
    """Checklist rules, then the scenario's expect block and gates, then --rule arguments."""
    specs = [
        RuleSpec(c.id, c.rule, "checklist", c.section_title, c.title, c.source, c.required)
        for c in checklist.rules
    ]
    try:
        specs += expect_rules(run.manifest.scenario)
        specs += gate_rules(run.manifest.scenario)
    except (ExpectError, RuleError) as exc:
        raise GateConfigError(f"scenario {run.manifest.scenario_name!r}: {exc}") from exc
    for index, text in enumerate(cli_rules):
        try:
            specs.append(
                RuleSpec(f"rule[{index}]", parse_rule(text), "cli", "Command-line rules", required=True)
            )
        except RuleError as exc:
            raise GateConfigError(f"--rule: {exc}") from exc
    return specs


def _open_run(ref: Path | str, what: str) -> RunFolder:
    try:
        return RunFolder(rundir.resolve_run_dir(ref))
    except rundir.RunDirError as exc:
        raise GateConfigError(f"{what}: {exc}") from exc


def evaluate_run(
    run_dir: Path,
    *,
    checklist: Path | None = None,
    rules: list[str] | None = None,
    baseline: Path | str | None = None,
) -> Verdict:
    """Evaluate without writing anything (the report uses this when verdict.json is absent)."""
    run = _open_run(run_dir, "run")
    try:
        loaded = load_checklist(checklist)
    except ChecklistError as exc:
        raise GateConfigError(str(exc)) from exc
    specs = collect_rules(run, loaded, rules or [])
    base = _open_run(baseline, "--baseline") if baseline is not None else None
    return evaluate(run, specs, baseline=base, hints=loaded.hint_for, checklist=str(loaded.path))


def write_outputs(run_dir: Path, verdict: Verdict) -> None:
    rundir.write_model(run_dir / VERDICT_FILE, verdict)
    rundir.write_text_atomic(run_dir / JUNIT_FILE, junit_xml(verdict))
    markdown = summary_markdown(verdict)
    rundir.write_text_atomic(run_dir / SUMMARY_MD_FILE, markdown)
    step_summary = os.environ.get("GITHUB_STEP_SUMMARY")
    if step_summary:
        with open(step_summary, "a", encoding="utf-8") as handle:
            handle.write(markdown + "\n")


def exit_code(verdict: Verdict) -> int:
    if verdict.incomplete:
        return EXIT_ABORTED
    return EXIT_FAILED if verdict.gate_failed else EXIT_OK


def gate_run(
    run_dir: Path,
    *,
    checklist: Path | None,
    rules: list[str],
    baseline: Path | None,
) -> int:
    """Evaluate ``run_dir``, write the gate outputs and return the exit code (messages on stderr)."""
    try:
        verdict = evaluate_run(run_dir, checklist=checklist, rules=rules, baseline=baseline)
    except GateConfigError as exc:
        print(f"harness gate: {exc}", file=sys.stderr)
        return EXIT_USAGE
    write_outputs(rundir.resolve_run_dir(run_dir), verdict)
    code = exit_code(verdict)
    print(_one_line(verdict, code), file=sys.stderr)
    return code


def _one_line(verdict: Verdict, code: int) -> str:
    counts = verdict.counts
    text = (
        f"gate {verdict.status.upper()}: {counts['pass']} passed, {counts['fail']} failed, "
        f"{counts['warn']} warnings, {counts['not-measured']} not measured"
    )
    if verdict.failed:
        text += "\n  failed: " + "\n  failed: ".join(verdict.failed)
    if code == EXIT_ABORTED:
        text += f"\n  run incomplete ({verdict.run_status}): exit 3"
    return text
