"""The CI gate: evaluate a run folder and write verdict.json, junit.xml and summary.md.

Exit codes (docs/gates.md): 0 every gate passed, 1 a gate failed, 2 usage or configuration error
(bad rule, bad checklist, not a run folder), 3 the run is incomplete (aborted or not summarized;
the outputs are still written so a person can see what was measured).
"""

from __future__ import annotations

import contextlib
import os
import sys
from pathlib import Path

from harness.contract import rundir
from harness.contract.exits import EXIT_ABORTED, EXIT_FAILED, EXIT_OK, EXIT_USAGE
from harness.contract.runfolder import RunFolder
from harness.verdict.applicability import scope_verdict
from harness.verdict.checklist import Checklist, ChecklistError, load_checklist
from harness.verdict.evaluate import evaluate
from harness.verdict.expect import ExpectError, expect_rules, gate_rules
from harness.verdict.model import JUNIT_FILE, SUMMARY_MD_FILE, VERDICT_FILE, Verdict
from harness.verdict.outputs import junit_xml, summary_markdown
from harness.verdict.rules import RuleError, RuleSpec, check_operation, parse_rule


class GateConfigError(Exception):
    """Bad rules, checklist or paths: exit code 2."""


def run_operations(run: RunFolder) -> set[str]:
    """The operations a rule of this run may name: the scenario's mix and what the summary measured."""
    mix = run.manifest.scenario.get("mix") or []
    names = {str(i.get("name") or i.get("operation")) for i in mix if isinstance(i, dict)}
    with contextlib.suppress(rundir.RunDirError):  # not summarized: the mix alone
        summary = run.summary
        names |= set(summary.operations) if summary is not None else set()
    return names - {"None"}


def collect_rules(run: RunFolder, checklist: Checklist, cli_rules: list[str]) -> list[RuleSpec]:
    """Checklist rules, then the scenario's expect block and gates, then --rule arguments. A
    scenario gate or --rule naming an operation the run does not have is an error (a typo)."""
    specs = [
        RuleSpec(c.id, c.rule, "checklist", c.section_title, c.title, c.source, c.required)
        for c in checklist.rules
    ]
    operations = run_operations(run)
    try:
        specs += expect_rules(run.manifest.scenario)
        gates = gate_rules(run.manifest.scenario)
        for spec in gates:
            check_operation(spec.rule, operations)
        specs += gates
    except (ExpectError, RuleError) as exc:
        raise GateConfigError(f"scenario {run.manifest.scenario_name!r}: {exc}") from exc
    for index, text in enumerate(cli_rules):
        try:
            rule = parse_rule(text)
            check_operation(rule, operations)
        except RuleError as exc:
            raise GateConfigError(f"--rule: {exc}") from exc
        specs.append(RuleSpec(f"rule[{index}]", rule, "cli", "Command-line rules", required=True))
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
    verdict = evaluate(run, specs, baseline=base, hints=loaded.hint_for, checklist=str(loaded.path))
    return scope_verdict(verdict, run, loaded, base)  # checklist rules: applies_to, min_count


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
    out_dir: Path | None = None,
) -> int:
    """Evaluate ``run_dir``, write the gate outputs and return the exit code (messages on stderr).

    Without ``out_dir`` the outputs are the run's own verdict (``harness run --gate``, once, when
    the run ends); ``harness gate`` passes a separate evaluation folder, so a run's verdict is
    never rewritten after the fact."""
    try:
        verdict = evaluate_run(run_dir, checklist=checklist, rules=rules, baseline=baseline)
    except GateConfigError as exc:
        print(f"harness gate: {exc}", file=sys.stderr)
        return EXIT_USAGE
    target = out_dir if out_dir is not None else rundir.resolve_run_dir(run_dir)
    try:
        target.mkdir(parents=True, exist_ok=True)
        write_outputs(target, verdict)
    except OSError as exc:
        print(f"harness gate: cannot write the evaluation to {target}: {exc}", file=sys.stderr)
        return EXIT_USAGE
    code = exit_code(verdict)
    print(_one_line(verdict, code), file=sys.stderr)
    return code


def _one_line(verdict: Verdict, code: int) -> str:
    counts = verdict.counts
    text = (
        f"gate {verdict.status.upper()}: {counts['pass']} passed, {counts['fail']} failed, "
        f"{counts['warn']} warnings, {counts['not-measured']} not measured, "
        f"{counts['not-applicable']} not applicable to this {verdict.run_kind or 'run'} run"
    )
    for failed in verdict.failed:
        text += f"\n  failed: {failed}"
        hint = next((r.hint for r in verdict.rules if r.text == failed and r.hint), None)
        if hint:
            text += f"\n    hint: {hint}"
    if code == EXIT_ABORTED:
        text += f"\n  run incomplete ({verdict.run_status}): exit 3"
    return text
