"""Run history from run folders: series per scenario and machine, change points, Otava CSV.

Built from ``reports/runs/*/manifest.json`` + ``summary.json`` rather than from the runs table of
``history.db``: the folders are the source of truth, so history works even for runs copied in
from another machine or made before the database existed. Aborted runs are left out of the series
(they are counted) because a partial run's percentiles are not comparable.

The result is ``history.json`` (:class:`History`, versioned; :func:`load_history` reads it back);
the page is drawn by :mod:`harness.report.history_page`.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from pathlib import Path
from typing import Any, Literal

import numpy as np
import yaml
from pydantic import BaseModel, Field

from harness.contract import rundir
from harness.contract.runfolder import RunFolder
from harness.contract.versioned import read_versioned_json, validate_as
from harness.history import baseline as baselines
from harness.history import changepoints
from harness.history.db import commit_of

#: Overall metrics charted and searched for change points, with their units.
METRICS: dict[str, str] = {
    "p50": "ms",
    "p95": "ms",
    "p99": "ms",
    "error_rate": "fraction",
    "rate": "req/s",
    "peak_rss_mb": "MB",
}
LATENCY_KEYS = ("p50", "p95", "p99")
HIGHER_IS_BETTER = frozenset({"rate"})
HISTORY_KIND: Literal["motherbox-perf/history"] = "motherbox-perf/history"
HISTORY_SCHEMA_VERSION = 1
SUPPORTED_HISTORY_VERSIONS = (1,)


class HistoryFileError(ValueError):
    """history.json is missing, unreadable, of another kind or of an unsupported schema version."""


class RunPoint(BaseModel):
    run_id: str
    scenario: str
    fingerprint: str
    started_at: str
    commit: str
    run_dir: str
    metrics: dict[str, float | None]
    op_metrics: dict[str, dict[str, float | None]]
    tags: dict[str, str] = Field(default_factory=dict)

    @property
    def when(self) -> dt.datetime:
        return parse_time(self.started_at)


class ChangeRecord(BaseModel):
    scenario: str
    fingerprint: str
    metric: str
    operation: str
    index: int
    run_id: str
    started_at: str
    commit_before: str
    commit_after: str
    commits_between: list[str]
    before: float
    after: float
    change: float
    p_value: float

    @property
    def is_regression(self) -> bool:
        """The rate is better higher; every other metric (latency, errors, memory) better lower."""
        return (self.change > 0) != (self.metric in HIGHER_IS_BETTER)


class Series(BaseModel):
    scenario: str
    fingerprint: str
    points: list[RunPoint]
    baseline_run_id: str | None = None
    changes: list[ChangeRecord] = Field(default_factory=list)

    @property
    def key(self) -> str:
        return f"{self.scenario}@{self.fingerprint}"

    def values(self, metric: str, operation: str | None = None) -> list[float | None]:
        if operation is None:
            return [p.metrics.get(metric) for p in self.points]
        return [p.op_metrics.get(operation, {}).get(metric) for p in self.points]

    def operations(self) -> list[str]:
        return sorted({op for p in self.points for op in p.op_metrics})


class History(BaseModel):
    """``history.json``: every series with its change points, the folders left out, the settings."""

    kind: Literal["motherbox-perf/history"] = HISTORY_KIND
    schema_version: int = HISTORY_SCHEMA_VERSION
    series: list[Series]
    skipped: list[str]  # aborted or unreadable run folders
    settings: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        return self.model_dump(mode="json")


def parse_time(text: str) -> dt.datetime:
    value = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


def write_history_json(history: History, path: Path) -> None:
    rundir.write_json_atomic(path, history.to_json())


def load_history(path: Path) -> History:
    """Read history.json back, checking its kind and schema version; :class:`HistoryFileError` if not."""
    data = read_versioned_json(
        path, supported=SUPPORTED_HISTORY_VERSIONS, error=HistoryFileError, kind=HISTORY_KIND
    )
    return validate_as(History, data, path, HistoryFileError)


# ---------------------------------------------------------------- reading


def _percentiles(op: rundir.OperationSummary) -> dict[str, float | None]:
    lat = op.latency_ms
    return {"p50": lat.p50, "p95": lat.p95, "p99": lat.p99, "error_rate": op.error_rate, "rate": op.rate}


def point_of(folder: RunFolder) -> RunPoint:
    manifest, summary = folder.manifest, folder.require_summary()
    metrics = _percentiles(summary.overall)
    rss = summary.resources.get("rss_mb")
    cpu = summary.resources.get("cpu_percent")
    metrics["peak_rss_mb"] = None if rss is None else rss.max
    metrics["cpu_percent_mean"] = None if cpu is None else cpu.mean
    return RunPoint(
        run_id=manifest.run_id,
        scenario=manifest.scenario_name,
        fingerprint=baselines.fingerprint_of(manifest),
        started_at=manifest.started_at,
        commit=commit_of(manifest) or "unknown",
        run_dir=str(folder.path),
        metrics=metrics,
        op_metrics={name: _percentiles(op) for name, op in summary.operations.items()},
        tags=dict(manifest.tags),
    )


def collect_points(reports_dir: Path) -> tuple[list[RunPoint], list[str]]:
    """Every complete run under ``reports_dir/runs``; skipped folders listed with the reason."""
    points: list[RunPoint] = []
    skipped: list[str] = []
    runs_dir = reports_dir / "runs"
    if not runs_dir.is_dir():
        return points, skipped
    for manifest_path in sorted(runs_dir.glob(f"*/{rundir.MANIFEST_FILE}")):
        run_dir = manifest_path.parent
        try:
            folder = RunFolder(run_dir)
            if folder.manifest.status != "complete":
                skipped.append(f"{run_dir.name}: aborted")
                continue
            points.append(point_of(folder))
        except rundir.RunDirError as exc:
            skipped.append(f"{run_dir.name}: {exc}")
    return points, skipped


# ---------------------------------------------------------------- analysis


def _changes_of(
    series: Series, metric: str, operation: str | None, alpha: float, min_magnitude: float
) -> list[ChangeRecord]:
    raw = series.values(metric, operation)
    kept = [i for i, v in enumerate(raw) if v is not None and np.isfinite(v)]
    values = np.array([raw[i] for i in kept], dtype=float)
    out = []
    for cp in changepoints.detect(values, alpha=alpha, min_magnitude=min_magnitude):
        after_i, before_i = kept[cp.index], kept[cp.index - 1]
        between = [p.commit for p in series.points[before_i + 1 : after_i + 1]]
        out.append(
            ChangeRecord(
                scenario=series.scenario,
                fingerprint=series.fingerprint,
                metric=metric,
                operation=operation or "overall",
                index=after_i,
                run_id=series.points[after_i].run_id,
                started_at=series.points[after_i].started_at,
                commit_before=series.points[before_i].commit,
                commit_after=series.points[after_i].commit,
                commits_between=between,
                before=cp.before_mean,
                after=cp.after_mean,
                change=cp.change,
                p_value=cp.p_value,
            )
        )
    return out


def build_history(
    reports_dir: Path = Path("reports"),
    *,
    scenario: str | None = None,
    alpha: float = changepoints.DEFAULT_ALPHA,
    min_magnitude: float = changepoints.DEFAULT_MIN_MAGNITUDE,
    op_metric: str = "p95",
) -> History:
    """Group runs into series (scenario x machine), ordered by start time, with change points.

    Change points are searched in every overall metric of :data:`METRICS` and in ``op_metric``
    of every operation.
    """
    points, skipped = collect_points(reports_dir)
    groups: dict[tuple[str, str], list[RunPoint]] = {}
    for point in points:
        if scenario is None or point.scenario == scenario:
            groups.setdefault((point.scenario, point.fingerprint), []).append(point)
    series_list = []
    for (name, fingerprint), members in sorted(groups.items()):
        members.sort(key=lambda p: (p.when, p.run_id))
        stored = baselines.get_baseline(name, fingerprint, reports_dir)
        series = Series(
            scenario=name,
            fingerprint=fingerprint,
            points=members,
            baseline_run_id=stored.run_id if stored else None,
        )
        for metric in METRICS:
            series.changes.extend(_changes_of(series, metric, None, alpha, min_magnitude))
        for operation in series.operations():
            series.changes.extend(_changes_of(series, op_metric, operation, alpha, min_magnitude))
        series_list.append(series)
    settings = {"alpha": alpha, "min_magnitude": min_magnitude, "op_metric": op_metric, "scenario": scenario}
    return History(series=series_list, skipped=skipped, settings=settings)


# ---------------------------------------------------------------- Otava export

OTAVA_TIME_FORMAT = "%Y.%m.%d %H:%M:%S %z"


def otava_csv(series: Series) -> str:
    """One series in the CSV layout Apache Otava's ``type: csv`` tests read (time, attributes, metrics)."""
    metric_names = list(METRICS)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["time", "commit", "run_id", *metric_names])
    for p in series.points:
        row = [p.when.strftime(OTAVA_TIME_FORMAT), p.commit, p.run_id]
        row += ["" if p.metrics.get(m) is None else f"{p.metrics[m]:.6g}" for m in metric_names]
        writer.writerow(row)
    return buffer.getvalue()


def otava_name(series: Series) -> str:
    safe = "".join(c if c.isalnum() or c in "-_" else "_" for c in series.key)
    return f"motherbox.{safe}"


def export_otava(history: History, out_dir: Path) -> list[Path]:
    """Write one CSV per series plus an ``otava.yaml`` that declares them as Otava tests."""
    written = []
    tests: dict[str, Any] = {}
    for series in history.series:
        name = otava_name(series)
        path = out_dir / f"{name}.csv"
        rundir.write_text_atomic(path, otava_csv(series))
        written.append(path)
        tests[name] = {
            "type": "csv",
            "file": path.name,
            "time_column": "time",
            "attributes": ["commit", "run_id"],
            "metrics": list(METRICS),
            "csv_options": {"delimiter": ",", "quote_char": '"'},
        }
    config = out_dir / "otava.yaml"
    rundir.write_text_atomic(config, yaml.safe_dump({"tests": tests}, sort_keys=False))
    return [*written, config]
