"""``harness roi --switches``: run every variant of the switch sweep, then analyse and write it.

Every variant (see :mod:`harness.roi.switches`) runs ``repeats`` times as a child ``harness run``
in an interleaved order (forward, then reverse, ...), so drift of the machine hits every variant
alike. This module is the sweep's orchestrator: it launches runs and writes the pages.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import yaml

from harness.contract import rundir
from harness.report.roi_page import write_roi, write_switches_page
from harness.roi.model import CostModel
from harness.roi.outputs import RoiResult
from harness.roi.roi import roi_from_compare
from harness.roi.switches import (
    ALL_OFF,
    ALL_ON,
    SWITCHES,
    SweepError,
    SweepResult,
    analyse_sweep,
)
from harness.run.launch import RunOutcome, RunRequest, launch
from harness.run.repeat import interleaved_order, repeat_tags

DEFAULT_SCENARIO = Path(__file__).with_name("switch_scenario.yaml")
SWEEP_JSON = "roi_switches.json"


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
                **repeat_tags(f"{sweep_id}-{variant}", index, repeats),
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


# ---------------------------------------------------------------- outputs


def write_sweep(result: SweepResult, roi: RoiResult | None, out_dir: Path) -> tuple[Path, Path]:
    """roi_switches.json (with the all-off -> all-on ROI) and switches.html into ``out_dir``."""
    data = result.to_json()
    if roi is not None:
        data["roi_all_off_to_all_on"] = roi.model_dump()
    json_path = out_dir / SWEEP_JSON
    rundir.write_json_atomic(json_path, data)
    return json_path, write_switches_page(result, roi, out_dir)


def print_table(result: SweepResult, log: Callable[[str], None] = print) -> None:
    log(f"{'switch':24}{'claimed':>14}{'measured':>12}  {'metric':28}verdict")
    for row in result.rows:
        m = row.measured
        measured = "–" if m is None or m.change is None else f"{m.mark}{m.change * 100:+.1f}%"
        log(f"{row.switch:24}{row.claimed_text:>14}{measured:>12}  {row.measured_metric:28}{row.verdict}")
    for b in result.benefits:
        log(f"overall {b.benefit:16} claimed {b.claimed:>6}  measured {b.measured_text}")


@dataclass(frozen=True)
class SweepRequest:
    """What ``harness roi --switches`` asked for, checked by :func:`sweep_request`."""

    scenario: Path
    switches: list[str]
    repeats: int
    time_scale: float
    duration: str | None
    cooldown_s: float
    out_dir: Path
    reports_dir: Path


@dataclass(frozen=True)
class SweepOutcome:
    result: SweepResult
    roi: RoiResult | None
    failed: list[str]
    json_path: Path
    html_path: Path


def sweep_request(
    scenario: str,
    only: str | None,
    *,
    repeats: int,
    time_scale: float,
    duration: str | None,
    cooldown_s: float,
    out: Path | None,
    reports_dir: Path,
) -> SweepRequest:
    """A checked request; SweepError names the bad option."""
    path = DEFAULT_SCENARIO if scenario in ("", "default") else Path(scenario)
    if not path.is_file():
        raise SweepError(f"SCENARIO: {path} not found")
    switches = list(SWITCHES) if not only else [s.strip() for s in only.split(",") if s.strip()]
    unknown = [s for s in switches if s not in SWITCHES]
    if unknown:
        raise SweepError(f"--only: unknown switch(es) {unknown}; choose from {', '.join(SWITCHES)}")
    if repeats < 1:
        raise SweepError("--repeats must be at least 1")
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    out_dir = out or reports_dir / "roi" / f"switches-{stamp}"
    return SweepRequest(path, switches, repeats, time_scale, duration, cooldown_s, out_dir, reports_dir)


def sweep(request: SweepRequest, model: CostModel) -> SweepOutcome:
    """Run the sweep, analyse it, and write roi_switches.json, switches.html (+ roi.json/html)."""
    request.out_dir.mkdir(parents=True, exist_ok=True)
    runs, failed = run_sweep(
        request.scenario,
        request.out_dir,
        switches=request.switches,
        repeats=request.repeats,
        time_scale=request.time_scale,
        duration=request.duration,
        cooldown_s=request.cooldown_s,
        reports_dir=request.reports_dir,
    )
    settings = {
        "time_scale": request.time_scale,
        "duration": request.duration,
        "cooldown_s": request.cooldown_s,
    }
    result, overall = analyse_sweep(
        runs, scenario=str(request.scenario), repeats=request.repeats, failed=failed, settings=settings
    )
    roi = roi_from_compare(overall, model) if overall is not None else None
    if roi is not None:
        write_roi(roi, request.out_dir)
    json_path, html_path = write_sweep(result, roi, request.out_dir)
    return SweepOutcome(result, roi, failed, json_path, html_path)
