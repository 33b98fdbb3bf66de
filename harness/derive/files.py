"""Derive the analysis files of a run folder from its raw samples and monitor series.

The one writer of ``summary.json`` (:mod:`.summary`), ``timeseries.csv`` (:mod:`.timeseries`) and
``histograms.json`` (:mod:`.histograms`). Called once when a run ends (by the runner, and by the
synthetic-run generator), so they always come from one code path and one percentile definition
(:mod:`.percentiles`).

An open-model run passes the arrival ``schedule`` its pacer ran (the rates already scaled to the
run's share of it: half for each side of an alternating ``harness ab``); the stages' target rates
in summary.json and the per-second target rate in timeseries.csv both come from it
(:func:`.timeseries.stage_targets`, :func:`.timeseries.target_per_second`).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import pandas as pd

from harness.contract import rundir
from harness.derive.histograms import build_histograms
from harness.derive.samples import Stage
from harness.derive.summary import summarize_run
from harness.derive.timeseries import build_timeseries, stage_targets
from harness.load.schedule import ArrivalSchedule


def write_derived_files(
    run_dir: Path,
    run_id: str,
    samples: pd.DataFrame,
    *,
    window_start: float,
    duration_s: float,
    stages: list[Stage] | None = None,
    schedule: ArrivalSchedule | None = None,
    targets_ms: Mapping[str, float | None] | None = None,
    monitor: pd.DataFrame | None = None,
) -> rundir.Summary:
    summary = summarize_run(
        run_id,
        samples,
        window_start=window_start,
        duration_s=duration_s,
        stages=stage_targets(schedule, duration_s) if schedule is not None else stages,
        targets_ms=targets_ms,
        monitor=monitor,
    )
    timeseries = build_timeseries(
        samples,
        window_start=window_start,
        duration_s=duration_s,
        stages=stages,
        schedule=schedule,
        monitor=monitor,
    )
    with rundir.atomic_path(run_dir / rundir.TIMESERIES_FILE) as tmp:
        # Full precision: ts is an epoch (10 digits before the point); rates and ms don't need more.
        timeseries.to_csv(tmp, index=False, float_format="%.10g")
    rundir.write_model(run_dir / rundir.HISTOGRAMS_FILE, build_histograms(samples, window_start=window_start))
    rundir.write_model(run_dir / rundir.SUMMARY_FILE, summary)
    return summary
