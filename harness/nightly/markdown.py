"""``nightly.md`` and the command's per-step lines, drawn from a :class:`NightlyResult` (nothing
is computed here: the verdicts, changes, intervals and MDEs are the ones nightly.json holds)."""

from __future__ import annotations

from harness.nightly.outputs import NightlyResult, PairedFigure, StepExtras, StepResult
from harness.verdict.coverage import Coverage

VERDICT_WORDS = {
    "regression": "REGRESSION",
    "improvement": "improvement",
    "no_change": "no change",
    "inconclusive": "inconclusive",
}


def _share(value: float | None, kind: str, signed: bool = True) -> str:
    if value is None:
        return "-"
    if kind == "absolute":  # an error rate's change: percentage points
        return f"{value * 100:{'+' if signed else ''}.2f} pp"
    return f"{value:{'+' if signed else ''}.1%}"


def figure_text(fig: PairedFigure) -> str:
    """``p95(overall) +1.2% [-0.8%, +3.1%] MDE 2.5% no_change``."""
    kind = fig.change_kind
    ci = f"[{_share(fig.ci_low, kind)}, {_share(fig.ci_high, kind)}]"
    return f"{fig.metric} {_share(fig.change, kind)} {ci} MDE {_share(fig.mde, kind, False)} {fig.status}"


def paired_line(step: StepResult, versus: str | None) -> str:
    """The step's paired verdict in one line, with the overall p95 and the link to ab.html."""
    paired = step.paired
    if paired is None:
        return f"{step.step}: no paired verdict ({step.run_status or 'failed'}): {step.error or '-'}"
    p95 = next((f for f in paired.headline if f.metric.startswith("p95(")), None)
    figure = f" — {figure_text(p95)}" if p95 is not None else ""
    against = f" vs {versus}" if versus else ""
    return f"{step.step}: {VERDICT_WORDS[paired.verdict]}{against}{figure}; ab.html: {paired.ab_html}"


def _versus_cell(s: StepResult, versus: str | None) -> str:
    if s.paired is not None:
        return f"{VERDICT_WORDS[s.paired.verdict]} vs {versus} ([ab.html]({s.paired.ab_html}))"
    return "; ".join(s.regressions) or (
        "baseline stored" if s.baseline_set else ("ok" if s.baseline else "-")
    )


def _paired_tables(result: NightlyResult) -> list[str]:
    """Per duet step: the headline metrics, REF (A) and the working tree (B)."""
    lines: list[str] = []
    for s in result.steps:
        if s.paired is None:
            continue
        lines += ["", f"## {s.step}: HEAD vs {result.baseline_ref} — {VERDICT_WORDS[s.paired.verdict]}", ""]
        lines += [
            "| metric | A (ref) | B (HEAD) | change | CI | MDE | status |",
            "| --- | --- | --- | --- | --- | --- | --- |",
        ]
        for f in s.paired.headline:
            a, b = ("-" if v is None else f"{v:.4g}" for v in (f.a, f.b))
            ci = f"[{_share(f.ci_low, f.change_kind)}, {_share(f.ci_high, f.change_kind)}]"
            lines.append(
                f"| {f.metric} | {a} {f.unit} | {b} {f.unit} | {_share(f.change, f.change_kind)} | {ci} "
                f"| {_share(f.mde, f.change_kind, False)} | {f.status} |"
            )
        lines += ["", f"Regressions (any operation): {'; '.join(s.regressions) or 'none'}."]
        lines += [
            f"Paired comparison: [ab.html]({s.paired.ab_html}), runs: A {s.paired.a_run_dir}, B {s.run_dir}"
        ]
        lines += [f"Warning: {w}" for w in s.paired.warnings]
    return lines


#: The figures a spike or stress step adds, and their labels.
DERIVED_EXTRAS = {"recovery_time": "recovery time", "breaking_point": "breaking point"}


def extras_text(extras: StepExtras) -> str:
    """The step's extras for a person: a spike/stress figure with the reason it is missing or
    bounded ("breaking point: no breaking point reached within 300 req/s"), never a bare 0."""
    shown = extras.shown()
    parts = []
    for key, label in DERIVED_EXTRAS.items():
        if key not in shown:
            continue
        parts.append(f"{label}: {_bounded(shown.get(f'{key}_display'), shown.get('reason'))}")
    skip = {*DERIVED_EXTRAS, *(f"{k}_display" for k in DERIVED_EXTRAS), "reason"}
    parts += [
        f"{k}={v}" for k, v in shown.items() if k not in skip and v is not None and not isinstance(v, dict)
    ]
    return ", ".join(parts)


def _bounded(display: str | None, reason: str | None) -> str:
    """``>= 297 req/s (no breaking point reached within 300 req/s)``; the reason alone when there
    is no figure."""
    if display is None:
        return reason or "not measured"
    if reason is None:
        return display
    for suffix, sign in ((" (a lower bound)", ">= "), (" (an upper bound)", "< ")):
        if reason.endswith(suffix):
            return f"{sign}{display} ({reason.removesuffix(suffix)})"
    return f"{display} ({reason})"


def coverage_lines(coverage: Coverage) -> list[str]:
    """The night's coverage matrix: each rule, the steps' scenarios that can measure it, tonight's
    result; then the rules none of them can measure, with why."""
    lines = [
        "",
        f"## Checklist coverage (time scale {coverage.time_scale:g})",
        "",
        "| rule | applies to | measured by | tonight |",
        "| --- | --- | --- | --- |",
    ]
    for rule in coverage.rules:
        tonight = rule.night_status or "no run it applies to"
        tonight += f": {rule.night_text}" if rule.night_text else ""
        measured_by = ", ".join(rule.measured_by) or "**none**"
        lines.append(
            f"| {rule.id} `{rule.rule}` | {', '.join(rule.applies_to)} | {measured_by} | {_cell(tonight)} |"
        )
    uncovered = coverage.uncovered
    lines += [
        "",
        f"{len(coverage.rules) - len(uncovered)} of {len(coverage.rules)} rules measured by a step.",
    ]
    lines += [f"- not measured by any step: {r.id}: {r.uncovered_reason}" for r in uncovered]
    return lines


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def markdown(result: NightlyResult, coverage: Coverage | None = None) -> str:
    title = f"# Nightly {result.nightly_id} (time scale {result.time_scale:g})"
    if result.baseline_ref is not None:
        title += f": HEAD vs {result.baseline_ref} ({(result.baseline_commit or '')[:12]}), paired"
    lines = [
        title,
        "",
        "| step | scenario | status | vs baseline | extras |",
        "| --- | --- | --- | --- | --- |",
    ]
    for s in result.steps:
        extras = extras_text(s.extras)
        versus = _versus_cell(s, result.baseline_ref)
        lines.append(f"| {s.step} | {s.scenario} | {s.run_status or 'failed'} | {versus} | {extras} |")
    lines += _paired_tables(result)
    lines += coverage_lines(coverage) if coverage is not None else []
    lines += ["", f"Exit code: {result.exit_code()}", ""]
    lines += [f"- {name}: {path}" for name, path in result.pages.items()]
    return "\n".join(lines) + "\n"
