"""``nightly.md`` and the command's per-step lines, drawn from a :class:`NightlyResult` (nothing
is computed here: the verdicts, changes, intervals and MDEs are the ones nightly.json holds)."""

from __future__ import annotations

from harness.nightly.outputs import NightlyResult, PairedFigure, StepResult

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


def markdown(result: NightlyResult) -> str:
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
        extras = ", ".join(
            f"{k}={v}" for k, v in s.extras.shown().items() if v is not None and not isinstance(v, dict)
        )
        versus = _versus_cell(s, result.baseline_ref)
        lines.append(f"| {s.step} | {s.scenario} | {s.run_status or 'failed'} | {versus} | {extras} |")
    lines += _paired_tables(result)
    lines += ["", f"Exit code: {result.exit_code()}", ""]
    lines += [f"- {name}: {path}" for name, path in result.pages.items()]
    return "\n".join(lines) + "\n"
