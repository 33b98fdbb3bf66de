"""Gate outputs written beside verdict.json: JUnit XML for CI test views, a Markdown summary."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from harness.verdict.evaluate import gate_failures
from harness.verdict.model import RuleResult, Verdict

_STATUS_LABEL = {
    "pass": "✅ pass",
    "fail": "❌ fail",
    "warn": "⚠️ warn",
    "not-measured": "➖ not measured",
    "not-applicable": "○ not applicable",
}


def _measured_vs_threshold(result: RuleResult) -> str:
    measured = result.measured_display or "not measured"
    return f"measured {measured}, threshold {result.threshold_display}"


def where_text(result: RuleResult) -> str:
    where = result.where
    parts = []
    if result.operation:
        parts.append(f"operation {result.operation}")
    if "window_start_s" in where:
        parts.append(f"t={where['window_start_s']}–{where['window_end_s']} s")
    return ", ".join(parts)


def junit_xml(verdict: Verdict) -> str:
    """One testcase per rule: fail (and required not-measured) → <failure>, not-measured → <skipped>."""
    failures = len(gate_failures(verdict.rules))
    skipped = sum(
        1
        for r in verdict.rules
        if r.status == "not-applicable" or (r.status == "not-measured" and not r.required)
    )
    suites = ET.Element("testsuites", name="motherbox-perf gate", tests=str(len(verdict.rules)))
    suite = ET.SubElement(
        suites,
        "testsuite",
        name=verdict.run_id,
        tests=str(len(verdict.rules)),
        failures=str(failures),
        errors="0",
        skipped=str(skipped),
        timestamp=verdict.evaluated_at,
    )
    for result in verdict.rules:
        _testcase(suite, result)
    suites.set("failures", str(failures))
    ET.indent(suites)
    return ET.tostring(suites, encoding="unicode", xml_declaration=True) + "\n"


def _testcase(suite: ET.Element, result: RuleResult) -> None:
    case = ET.SubElement(
        suite, "testcase", classname=f"gate.{result.section or result.origin}", name=result.text
    )
    detail = _measured_vs_threshold(result)
    where = where_text(result)
    body = "\n".join(
        x for x in (detail, where, result.reason or "", f"hint: {result.hint}" if result.hint else "") if x
    )
    if result.status == "fail":
        ET.SubElement(case, "failure", message=detail, type="threshold").text = body
    elif result.status == "not-measured" and result.required:
        failure = ET.SubElement(
            case, "failure", message=f"not measured: {result.reason}", type="not-measured"
        )
        failure.text = body
    elif result.status == "not-measured":
        ET.SubElement(case, "skipped", message=f"not measured: {result.reason}")
    elif result.status == "not-applicable":
        ET.SubElement(case, "skipped", message=f"not applicable: {result.reason}")
    elif result.status == "warn":
        ET.SubElement(case, "system-out").text = f"WARNING: {body}"


def _cell(text: str | None) -> str:
    return (text or "").replace("|", "\\|").replace("\n", " ")


def summary_markdown(verdict: Verdict) -> str:
    counts = verdict.counts
    headline = {"pass": "✅ PASS", "warn": "⚠️ PASS with warnings", "fail": "❌ FAIL"}[verdict.status]
    if verdict.incomplete:
        headline += " — run INCOMPLETE"
    lines = [
        f"### Performance gate: {headline}",
        "",
        f"Run `{verdict.run_id}` ({verdict.run_status}): {counts['pass']} passed, {counts['fail']} failed, "
        f"{counts['warn']} warnings, {counts['not-measured']} not measured, "
        f"{counts['not-applicable']} not applicable to this {verdict.run_kind or 'kind of'} run.",
        "",
        "| status | rule | measured | threshold | where | what to do |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    optional_missing = [r for r in verdict.rules if r.status == "not-measured" and not r.required]
    not_applicable = [r for r in verdict.rules if r.status == "not-applicable"]
    shown = _unique_rows([r for r in verdict.rules if r not in optional_missing and r not in not_applicable])
    order = {"fail": 0, "not-measured": 1, "warn": 2, "pass": 3}
    lines += [_row(r) for r in sorted(shown, key=lambda r: order[r.status])]
    if optional_missing:
        lines += ["", f"<details><summary>{len(optional_missing)} checklist rules not measured</summary>", ""]
        lines += [f"- `{_cell(r.text)}`: {_cell(r.reason)}" for r in optional_missing]
        lines += ["", "</details>"]
    if not_applicable:
        lines += ["", f"<details><summary>{len(not_applicable)} checklist rules not applicable</summary>", ""]
        lines += [f"- `{_cell(r.text)}`: {_cell(r.reason)}" for r in not_applicable]
        lines += ["", "</details>"]
    return "\n".join(lines) + "\n"


def _unique_rows(results: list[RuleResult]) -> list[RuleResult]:
    """The same rule from the checklist, the scenario and --rule gives one row, not three."""
    seen: set[tuple[str, str, str | None]] = set()
    unique = []
    for result in results:
        key = (result.text, result.status, result.measured_display)
        if key not in seen:
            seen.add(key)
            unique.append(result)
    return unique


def _row(result: RuleResult) -> str:
    measured = result.measured_display or f"— ({result.reason})"
    hint = result.hint if result.status in ("fail", "warn") else ""
    return (
        f"| {_STATUS_LABEL[result.status]} | `{_cell(result.text)}` | {_cell(measured)} | "
        f"{_cell(result.threshold_display)} | {_cell(where_text(result))} | {_cell(hint)} |"
    )
