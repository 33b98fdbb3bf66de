"""The nightly suite: run, store, compare with baselines, regenerate the pages, fail on regression.

The steps (:mod:`harness.nightly.plan`) each run as a real ``harness run`` at ``time_scale``. Every
run lands in ``reports/runs`` (history), is compared with the stored baseline of its scenario on
this machine (``--baseline auto``), and the first run of a scenario becomes its baseline when none
is stored. With ``--baseline-ref REF`` each step is instead a duet of REF's runtime and the working
tree's (:mod:`harness.nightly.against_ref`), judged by the paired analysis; no stored baseline is
read or set.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path

from harness.compare.compare import CompareSettings, compare_paths
from harness.contract import rundir
from harness.contract.runfolder import RunFolder
from harness.derive.summary import series_stats
from harness.history import baseline as baselines
from harness.history.series import build_history
from harness.nightly.against_ref import BaselineRef, DuetRunner, run_step_against_ref
from harness.nightly.coverage import nightly_coverage
from harness.nightly.markdown import markdown, paired_line
from harness.nightly.outputs import NightlyResult, StepExtras, StepResult, write_nightly_json
from harness.nightly.plan import DEFAULT_SCALE, NightlyStep, natural_seconds
from harness.report.compare_page import write_compare
from harness.report.history_page import write_history
from harness.report.index_page import build_index
from harness.run.duet import run_duet
from harness.run.launch import RunOutcome, RunRequest, launch
from harness.verdict.coverage import write_coverage
from harness.verdict.gate import GateConfigError, evaluate_run

NIGHTLY_TAG = "nightly"
STEP_TAG = "nightly_step"


# ---------------------------------------------------------------- per-step analysis


def step_extras(step: NightlyStep, run_dir: Path) -> StepExtras:
    """What each step adds beyond compare: recovery time, breaking point, leak trend, hotspots."""
    folder = RunFolder(run_dir)
    if step.name == "endurance":
        rss = folder.require_summary().resources.get("rss_mb")
        return StepExtras(
            rss_slope_mb_per_h=None if rss is None else rss.slope_per_h,
            rss_slope_r2=None if rss is None else rss.r2,
            rss_slope_second_half_mb_per_h=second_half_slope(folder, "rss_mb"),
        )
    if step.name in ("spike", "stress"):
        return _derived_from_verdict(run_dir, step.name)
    if step.name == "profile":
        return StepExtras(profiles={name: rec.status for name, rec in folder.manifest.profiles.items()})
    return StepExtras()


def second_half_slope(folder: RunFolder, column: str) -> float | None:
    """Least-squares slope per hour (summary.json's definition) over the second half of the run.

    A short endurance run's whole-run RSS slope is mostly warm-up (caches, pools, imports filling);
    the second half is what a leak looks like once the runtime has settled.
    """
    series = folder.timeseries
    if series is None or column not in series:
        return None
    half = series.iloc[len(series) // 2 :]
    stats = series_stats(half["t"].to_numpy(dtype=float), half[column].to_numpy(dtype=float))
    return None if stats is None else stats.slope_per_h


def _derived_from_verdict(run_dir: Path, step: str) -> StepExtras:
    """Recovery time (spike) / breaking point (stress), measured the way the verdict stage does."""
    metric = "recovery_time" if step == "spike" else "breaking_point"
    try:
        verdict = evaluate_run(run_dir, rules=[f"{metric} > 0{'s' if step == 'spike' else ''}"])
    except GateConfigError as exc:  # e.g. the scenario's own gate rules do not parse
        return StepExtras.model_validate({metric: None, "reason": f"not evaluated: {exc}"})
    # the rule asked for here (origin "cli") always applies; a checklist rule on the same metric may
    # be "not applicable" to this kind of run and carry no figure
    for result in sorted(verdict.rules, key=lambda r: r.origin != "cli"):
        if result.metric == metric:
            return StepExtras.model_validate(
                {
                    metric: result.measured,
                    f"{metric}_display": result.measured_display,
                    "reason": result.reason,
                }
            )
    return StepExtras.model_validate({metric: None})


def compare_with_baseline(
    step: NightlyStep, run_dir: Path, reports_dir: Path, settings: CompareSettings, set_missing: bool
) -> StepResult:
    manifest = rundir.load_manifest(run_dir)
    result = StepResult(
        step=step.name,
        scenario=manifest.scenario_name,
        exit_code=0,
        run_dir=str(run_dir),
        run_status=manifest.status,
    )
    if manifest.status != "complete":
        return result
    fingerprint = baselines.fingerprint_of(manifest)
    base = baselines.resolve_baseline("auto", manifest.scenario_name, fingerprint, reports_dir)
    if base is None or base.resolve() == run_dir.resolve():
        if set_missing:
            baselines.set_baseline(run_dir, reports_dir, note="first nightly run of this scenario")
            result.baseline_set = True
        return result
    result.baseline = str(base)
    comparison = compare_paths([base], [run_dir], settings, reports_dir=reports_dir)
    base_scale = rundir.load_manifest(base).load.time_scale
    if base_scale != manifest.load.time_scale:
        comparison.warnings.append(
            f"baseline ran at time scale {base_scale}, this run at {manifest.load.time_scale}"
        )
    _, html_path = write_compare(comparison, run_dir)
    result.compare_html = str(html_path)
    result.regressions = [
        f"{m.label} {m.change * 100:+.1f}%" for m in comparison.regressions if m.change is not None
    ]
    return result


# ---------------------------------------------------------------- the suite


def regenerate_pages(reports_dir: Path) -> dict[str, str]:
    history = write_history(build_history(reports_dir), reports_dir)
    return {"history": str(history), "index": str(build_index(reports_dir))}


def run_nightly(
    steps: list[NightlyStep],
    *,
    time_scale: float = DEFAULT_SCALE,
    reports_dir: Path = Path("reports"),
    settings: CompareSettings | None = None,
    set_missing_baselines: bool = True,
    baseline_ref: BaselineRef | None = None,
    runner: Callable[[RunRequest], RunOutcome] = launch,
    duet: DuetRunner = run_duet,
    log: Callable[[str], None] = print,
) -> NightlyResult:
    """Every step, then the pages and ``reports/nightly/<id>/{nightly.json,nightly.md}``. With
    ``baseline_ref`` each step is a duet of REF and the working tree (``duet``), else a child
    ``harness run`` (``runner``) compared with the stored baseline."""
    settings = settings or CompareSettings()
    started = dt.datetime.now(dt.UTC)
    nightly_id = started.strftime("%Y%m%dT%H%M%SZ")
    versus = "" if baseline_ref is None else f" vs {baseline_ref.ref} ({baseline_ref.commit[:12]})"
    results: list[StepResult] = []
    for number, step in enumerate(steps, start=1):
        log(f"[{number}/{len(steps)}] {step.name}: {step.scenario_path()} at scale {time_scale:g}{versus}")
        tags = {NIGHTLY_TAG: nightly_id, STEP_TAG: step.name}
        if baseline_ref is None:
            outcome = runner(_run_request(step, time_scale, reports_dir, tags))
            results.append(_finish_step(step, outcome, reports_dir, settings, set_missing_baselines, log))
        else:
            paired = run_step_against_ref(
                step, baseline_ref, time_scale=time_scale, reports_dir=reports_dir, tags=tags, duet=duet
            )
            results.append(_finish_ref_step(step, paired, baseline_ref.ref, log))
    result = NightlyResult(
        nightly_id=nightly_id,
        time_scale=time_scale,
        started_at=started.isoformat(timespec="seconds"),
        ended_at=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        steps=results,
        pages={},
        baseline_ref=None if baseline_ref is None else baseline_ref.ref,
        baseline_commit=None if baseline_ref is None else baseline_ref.commit,
    )
    write_outputs(result, steps, reports_dir)
    return result


def write_outputs(result: NightlyResult, steps: list[NightlyStep], reports_dir: Path) -> None:
    """``coverage.json`` first (the index shows the newest night's matrix), then the history and
    index pages, ``nightly.json`` and ``nightly.md``."""
    out = reports_dir / "nightly" / result.nightly_id
    coverage = nightly_coverage(steps, result)
    result.pages["coverage"] = str(write_coverage(coverage, out))
    result.pages.update(regenerate_pages(reports_dir))
    write_nightly_json(result, out)
    rundir.write_text_atomic(out / "nightly.md", markdown(result, coverage))
    result.pages["nightly"] = str(out / "nightly.md")


def _run_request(step: NightlyStep, time_scale: float, reports_dir: Path, tags: dict[str, str]) -> RunRequest:
    return RunRequest(
        scenario=step.scenario_path(),
        time_scale=time_scale,
        duration=step.duration_arg(time_scale, natural_seconds(step, time_scale)),
        tags=tags,
        reports_dir=reports_dir,
        profile=step.profile,
        timeout_s=max(600.0, 3 * 3600.0 * time_scale * 10),
    )


def _finish_ref_step(
    step: NightlyStep, result: StepResult, ref: str, log: Callable[[str], None]
) -> StepResult:
    """The extras of side b's run folder (the working tree's), and the step's line in the log."""
    if result.run_status == "complete" and result.run_dir is not None:
        try:
            result.extras = step_extras(step, Path(result.run_dir))
        except rundir.RunDirError as exc:
            result.error = f"extras not read: {exc}"
    log(f"  {paired_line(result, ref)}")
    return result


def _finish_step(
    step: NightlyStep,
    outcome: RunOutcome,
    reports_dir: Path,
    settings: CompareSettings,
    set_missing: bool,
    log: Callable[[str], None],
) -> StepResult:
    if outcome.run_dir is None:
        log(f"  no run folder (exit {outcome.exit_code})")
        return _failed_step(step, outcome, outcome.output_tail[-500:])
    try:
        result = compare_with_baseline(step, outcome.run_dir, reports_dir, settings, set_missing)
        result.exit_code = outcome.exit_code
        if result.run_status == "complete":
            result.extras = step_extras(step, outcome.run_dir)
    except rundir.RunDirError as exc:  # the run wrote a folder but not a readable one
        return _failed_step(step, outcome, str(exc))
    status = "REGRESSION " + "; ".join(result.regressions) if result.regressions else "ok"
    if result.baseline_set:
        status += " (stored as the baseline)"
    log(f"  {result.run_status}: {status}")
    return result


def _failed_step(step: NightlyStep, outcome: RunOutcome, error: str) -> StepResult:
    return StepResult(
        step=step.name,
        scenario=str(step.scenario_path()),
        exit_code=outcome.exit_code,
        run_dir=None if outcome.run_dir is None else str(outcome.run_dir),
        run_status=None,
        error=error,
    )
