"""``harness roi --switches``: each optimization switch off vs on, against the all-on profile.

Variants: ``all_on`` (the optimized profile), ``no_<switch>`` (all on except that one) for every
switch, and ``all_off`` (the baseline profile, for the guide's overall benefits). Every variant runs
``repeats`` times in an interleaved order (forward, then reverse, ...), so drift of the machine
hits every variant alike. The effect of a switch is compare(no_<switch> -> all_on), pooled over
the repeats; the claimed-vs-measured table holds it against :file:`claims.yaml`.

The analysis (:func:`analyse_sweep`) takes run folders, so it is tested on synthetic runs; only
:func:`run_sweep` needs the reference runtime.
"""

from __future__ import annotations

import argparse
import datetime as dt
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import yaml

from harness.compare.compare import CompareResult, MetricComparison, compare_paths
from harness.contract import rundir
from harness.contract.columns import REPEAT_GROUP_TAG, REPEAT_INDEX_TAG
from harness.roi.model import CostModel
from harness.roi.roi import BenefitRow, RoiResult, overall_benefits, roi_from_compare
from harness.run.launch import RunOutcome, RunRequest, launch
from harness.run.repeat import interleaved_order

SWITCHES: tuple[str, ...] = (
    "parallel_creation",
    "templates",
    "batching",
    "caching",
    "pooling",
    "precomputed_decisions",
    "early_termination",
    "indexes",
)
ALL_ON, ALL_OFF = "all_on", "all_off"
CLAIMS_FILE = Path(__file__).with_name("claims.yaml")
DEFAULT_SCENARIO = Path(__file__).with_name("switch_scenario.yaml")
SUMMARY_METRICS: tuple[tuple[str, str], ...] = (
    ("p50", "p50"),
    ("p95", "p95"),
    ("rate", "rate"),
    ("cpu_per_request", "CPU/req"),
    ("peak_rss", "peak RSS"),
    ("error_rate", "errors"),
)


class SweepError(ValueError):
    """Bad sweep arguments or a sweep that produced no usable runs."""


@dataclass
class EffectCell:
    change: float | None
    ci_low: float | None
    ci_high: float | None
    mark: str
    status: str


@dataclass
class SwitchRow:
    switch: str
    claim: str
    claimed_change: float | None
    claimed_text: str
    measured_metric: str
    measured: EffectCell | None
    measured_speedup: float | None
    verdict: str  # "confirmed", "partly", "not confirmed", "not measurable", "no claim"
    effects: dict[str, EffectCell]
    hit_rates: dict[str, dict[str, float | None]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


@dataclass
class SweepResult:
    kind: str
    schema_version: int
    scenario: str
    repeats: int
    variants: dict[str, list[str]]  # variant -> run folders
    rows: list[SwitchRow]
    benefits: list[BenefitRow]
    failed_runs: list[str]
    settings: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


# ---------------------------------------------------------------- configs and running


def variant_names(switches: list[str]) -> list[str]:
    return [ALL_ON, *[f"no_{s}" for s in switches], ALL_OFF]


def variant_config(variant: str, config_dir: Path) -> str:
    """The ``--config`` value of a variant: a shipped profile or a generated YAML file."""
    if variant == ALL_ON:
        return "optimized"
    if variant == ALL_OFF:
        return "baseline"
    switch = variant.removeprefix("no_")
    path = config_dir / f"{variant}.yaml"
    settings = {"profile": f"optimized-without-{switch}", "switches": {s: s != switch for s in SWITCHES}}
    rundir.write_text_atomic(path, yaml.safe_dump(settings, sort_keys=False))
    return str(path)


def run_sweep(
    scenario: Path,
    out_dir: Path,
    *,
    switches: list[str],
    repeats: int,
    time_scale: float,
    duration: str | None,
    cooldown_s: float,
    reports_dir: Path,
    runner: Callable[[RunRequest], RunOutcome] = launch,
    log: Callable[[str], None] = print,
) -> tuple[dict[str, list[Path]], list[str]]:
    """Run every variant ``repeats`` times, interleaved; returns run folders per variant and failures."""
    import time

    variants = variant_names(switches)
    configs = {v: variant_config(v, out_dir / "configs") for v in variants}
    runs: dict[str, list[Path]] = {v: [] for v in variants}
    failed: list[str] = []
    order = interleaved_order(variants, repeats)
    sweep_id = out_dir.name
    for step, (index, variant) in enumerate(order, start=1):
        if step > 1:
            time.sleep(cooldown_s)
        request = RunRequest(
            scenario=scenario,
            time_scale=time_scale,
            duration=duration,
            runtime_config=configs[variant],
            tags={
                "sweep": sweep_id,
                "variant": variant,
                REPEAT_GROUP_TAG: f"{sweep_id}-{variant}",
                REPEAT_INDEX_TAG: str(index),
            },
            out=out_dir / "runs",
            reports_dir=reports_dir,
            timeout_s=900,
        )
        log(f"[{step}/{len(order)}] {variant} (repeat {index + 1}/{repeats})")
        outcome = runner(request)
        if outcome.run_dir is not None and outcome.exit_code in (0, 1):
            runs[variant].append(outcome.run_dir)
        else:
            failed.append(f"{variant} #{index + 1}: exit {outcome.exit_code}: {outcome.output_tail[-300:]}")
    return runs, failed


# ---------------------------------------------------------------- analysis


def load_claims(path: Path = CLAIMS_FILE) -> dict[str, dict[str, Any]]:
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    switches = data.get("switches", {})
    return switches if isinstance(switches, dict) else {}


def _cell(m: MetricComparison | None) -> EffectCell | None:
    if m is None:
        return None
    return EffectCell(m.change, m.ci_low, m.ci_high, m.mark, m.status)


def _find(result: CompareResult, metric: str, operation: str) -> MetricComparison | None:
    return next((m for m in result.metrics if m.metric == metric and m.operation == operation), None)


def judge(claimed: float | None, cell: EffectCell | None) -> str:
    """Does the measured change (off -> on) reach the claimed one?"""
    if claimed is None:
        return "no claim"
    if cell is None or cell.change is None:
        return "not measurable"
    if (
        cell.status in ("not_significant", "untested", "within_threshold")
        and abs(cell.change) < abs(claimed) / 2
    ):
        return "not confirmed"
    if (cell.change <= claimed) if claimed < 0 else (cell.change >= claimed):
        return "confirmed"
    same_direction = (cell.change < 0) == (claimed < 0)
    return (
        "partly" if same_direction and cell.status in ("improvement", "within_threshold") else "not confirmed"
    )


def _hit_rates(paths: list[Path], targets: dict[str, float]) -> dict[str, dict[str, float | None]]:
    out: dict[str, dict[str, float | None]] = {}
    for column, target in targets.items():
        values = []
        for path in paths:
            stats = rundir.load_summary(path).resources.get(column)
            if stats is not None and stats.mean is not None:
                values.append(stats.mean)
        out[column] = {"target": target, "measured": sum(values) / len(values) if values else None}
    return out


def switch_row(
    switch: str, comparison: CompareResult, claim: dict[str, Any], on_runs: list[Path]
) -> SwitchRow:
    metric, operation = str(claim.get("metric", "p50")), str(claim.get("operation", "overall"))
    notes = []
    measured = _find(comparison, metric, operation)
    if measured is None and operation != "overall":
        notes.append(f"{operation} is not in the scenario's mix: measured on all operations instead")
        operation = "overall"
        measured = _find(comparison, metric, operation)
    cell = _cell(measured)
    speedup = None
    if metric.startswith("p") and cell is not None and cell.change is not None and cell.change > -1:
        speedup = 1.0 / (1.0 + cell.change)
    claimed = claim.get("claimed_change")
    claimed_f = float(claimed) if isinstance(claimed, int | float) else None
    effects = {label: c for key, label in SUMMARY_METRICS if (c := _cell(_find(comparison, key, "overall")))}
    targets = claim.get("hit_rate_targets") or {}
    return SwitchRow(
        switch=switch,
        claim=str(claim.get("claim", "")),
        claimed_change=claimed_f,
        claimed_text=str(
            claim.get("claimed_text") or ("–" if claimed_f is None else f"{claimed_f * 100:+.0f}%")
        ),
        measured_metric=f"{metric}({operation})",
        measured=cell,
        measured_speedup=speedup,
        verdict=judge(claimed_f, cell),
        effects=effects,
        hit_rates=_hit_rates(on_runs, targets) if targets else {},
        notes=notes,
    )


def analyse_sweep(
    runs: dict[str, list[Path]],
    *,
    scenario: str,
    repeats: int,
    failed: list[str],
    claims: dict[str, dict[str, Any]] | None = None,
    settings: dict[str, Any] | None = None,
) -> tuple[SweepResult, CompareResult | None]:
    """Claimed-vs-measured rows for every switch with runs, plus the all-off -> all-on comparison."""
    claims = claims if claims is not None else load_claims()
    on = runs.get(ALL_ON, [])
    if not on:
        raise SweepError("no successful all_on run: nothing to compare against")
    rows = []
    for variant, paths in runs.items():
        if not variant.startswith("no_") or not paths:
            continue
        switch = variant.removeprefix("no_")
        comparison = compare_paths(list(paths), list(on), pool_repeats=False)
        rows.append(switch_row(switch, comparison, claims.get(switch, {}), on))
    overall = compare_paths(list(runs[ALL_OFF]), list(on), pool_repeats=False) if runs.get(ALL_OFF) else None
    result = SweepResult(
        kind="motherbox-perf/roi-switches",
        schema_version=1,
        scenario=scenario,
        repeats=repeats,
        variants={k: [str(p) for p in v] for k, v in runs.items()},
        rows=rows,
        benefits=overall_benefits(overall) if overall else [],
        failed_runs=failed,
        settings=settings or {},
    )
    return result, overall


# ---------------------------------------------------------------- outputs

SWEEP_JSON = "roi_switches.json"
SWEEP_HTML = "switches.html"


def write_sweep(result: SweepResult, roi: RoiResult | None, out_dir: Path) -> tuple[Path, Path]:
    from harness.report import html

    data = result.to_json()
    if roi is not None:
        data["roi_all_off_to_all_on"] = roi.to_json()
    json_path, html_path = out_dir / SWEEP_JSON, out_dir / SWEEP_HTML
    rundir.write_json_atomic(json_path, data)
    page = html.render(
        "switches.html.j2", s=result, roi=roi, metric_labels=[label for _, label in SUMMARY_METRICS]
    )
    rundir.write_text_atomic(html_path, page)
    return json_path, html_path


def print_table(result: SweepResult, log: Callable[[str], None] = print) -> None:
    log(f"{'switch':24}{'claimed':>14}{'measured':>12}  {'metric':28}verdict")
    for row in result.rows:
        m = row.measured
        measured = "–" if m is None or m.change is None else f"{m.mark}{m.change * 100:+.1f}%"
        log(f"{row.switch:24}{row.claimed_text:>14}{measured:>12}  {row.measured_metric:28}{row.verdict}")
    for b in result.benefits:
        log(f"overall {b.benefit:16} claimed {b.claimed:>6}  measured {b.measured_text}")


def run_sweep_command(args: argparse.Namespace, model: CostModel) -> int:
    scenario = DEFAULT_SCENARIO if args.switches in ("", "default") else Path(args.switches)
    if not scenario.is_file():
        raise SweepError(f"SCENARIO: {scenario} not found")
    switches = list(SWITCHES) if not args.only else [s.strip() for s in args.only.split(",") if s.strip()]
    unknown = [s for s in switches if s not in SWITCHES]
    if unknown:
        raise SweepError(f"--only: unknown switch(es) {unknown}; choose from {', '.join(SWITCHES)}")
    if args.repeats < 1:
        raise SweepError("--repeats must be at least 1")
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    out_dir = args.out or args.reports_dir / "roi" / f"switches-{stamp}"
    out_dir.mkdir(parents=True, exist_ok=True)
    runs, failed = run_sweep(
        scenario,
        out_dir,
        switches=switches,
        repeats=args.repeats,
        time_scale=args.time_scale,
        duration=args.duration,
        cooldown_s=args.cooldown,
        reports_dir=args.reports_dir,
    )
    settings = {"time_scale": args.time_scale, "duration": args.duration, "cooldown_s": args.cooldown}
    result, overall = analyse_sweep(
        runs, scenario=str(scenario), repeats=args.repeats, failed=failed, settings=settings
    )
    roi = roi_from_compare(overall, model) if overall is not None else None
    if roi is not None and overall is not None:
        from harness.report.roi_page import write_roi

        write_roi(roi, result.benefits, overall, out_dir)
    json_path, html_path = write_sweep(result, roi, out_dir)
    print_table(result)
    for failure in failed:
        print(f"failed run: {failure}")
    print(f"wrote {json_path} and {html_path}")
    return 0 if not failed else 3
