"""Everything the report shows, computed up front (pandas/numpy): templates only format and place it.

Reads only what it needs: summary.json and verdict.json as they are, timeseries.csv downsampled to
at most :data:`MAX_POINTS` rows for charts, the HDR histograms for percentile curves, and two
columns of samples.parquet (completion time and error kind, failed rows only) for errors by kind.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from harness.contract import rundir
from harness.contract.runfolder import RunFolder
from harness.contract.samples import dropped_mask, window_seconds
from harness.derive.percentiles import decode, hdr_values_at
from harness.verdict.format import format_ms, format_value
from harness.verdict.metrics import Kind
from harness.verdict.model import RuleResult, Verdict

#: Charts never draw more points than this per series (longer runs are bucketed).
MAX_POINTS = 600
#: Error kinds drawn individually; the rest are grouped as "other".
MAX_ERROR_KINDS = 6
#: Percentiles sampled for the HDR percentile-distribution curve (log-spaced toward 100%).
CURVE_NINES = np.linspace(0.0, 5.0, 81)

_STATUS_RANK = {"fail": 3, "warn": 2, "pass": 1}


@dataclass(frozen=True)
class Fact:
    label: str
    value: str


@dataclass(frozen=True)
class Cell:
    text: str
    status: str = ""  # "pass" / "warn" / "fail" / "" (no target)
    title: str = ""  # tooltip: the rule or target it was compared with


@dataclass(frozen=True)
class OperationRow:
    name: str
    cells: list[Cell]
    overall: bool = False


@dataclass(frozen=True)
class Banner:
    status: str  # pass / warn / fail / incomplete / unknown
    headline: str
    detail: str
    failed: list[RuleResult] = field(default_factory=list)
    warned: list[RuleResult] = field(default_factory=list)

    @property
    def items(self) -> list[tuple[RuleResult, str | None]]:
        """Failed then warned rules, each hint shown only the first time it appears."""
        shown: set[str] = set()
        out: list[tuple[RuleResult, str | None]] = []
        for rule in self.failed + self.warned:
            hint = rule.hint if rule.hint and rule.hint not in shown else None
            shown.add(rule.hint or "")
            out.append((rule, hint))
        return out


@dataclass(frozen=True)
class ProfileView:
    """One profiler's section of the run page (built by :mod:`harness.report.profiles`)."""

    name: str
    status: str
    reason: str | None
    links: list[tuple[str, str]]  # (label, href relative to the report)
    hotspots: list[dict[str, str]]  # display strings: function, location, self, total
    memory: list[Fact]
    memory_sites: list[dict[str, str]]
    #: the target's own code first: function, location (file:line), own, total
    own_hotspots: list[dict[str, str]] = field(default_factory=list)
    own_caption: str | None = None
    #: the memray pass's RSS growth: labelled as such, never the run's
    under_memray: list[Fact] = field(default_factory=list)
    under_memray_note: str | None = None


@dataclass(frozen=True)
class ChecklistGroup:
    title: str
    rules: list[RuleResult]


@dataclass
class Series:
    """Chart inputs: numpy arrays indexed by time in seconds since the measured window started."""

    t: np.ndarray
    columns: dict[str, np.ndarray]
    stages: list[tuple[float, float, float | None]]
    bucket_s: int
    #: per stage: True when its scheduled rate changes inside it (a ramp: labelled "ramp", not a rate)
    ramps: list[bool] = field(default_factory=list)

    def get(self, name: str) -> np.ndarray | None:
        values = self.columns.get(name)
        if values is None or not np.isfinite(values).any():
            return None
        return values


@dataclass
class ReportData:
    run_id: str
    title: str
    description: str
    run_status: str
    incomplete: bool
    abort_reason: str | None
    banner: Banner
    verdict_note: str
    facts: dict[str, list[Fact]]
    switches: list[Fact]
    operation_header: list[str]
    operations: list[OperationRow]
    series: Series | None
    percentile_curves: dict[str, tuple[np.ndarray, np.ndarray]]
    errors_by_kind: pd.DataFrame | None  # index: bucket start second, columns: kinds
    error_kinds: list[Fact]  # kind -> "count (share of failures)", most frequent first
    checklist: list[ChecklistGroup]
    profiles: list[ProfileView]
    not_measured: list[Fact]
    generated_at: str
    not_applicable: list[Fact] = field(default_factory=list)  # checklist rules for other kinds of run
    run_kind: str | None = None


# ---------------------------------------------------------------- banner and facts


def _unique_texts(results: list[RuleResult]) -> list[RuleResult]:
    """One line per rule text: a checklist rule and a --rule can say the same thing."""
    seen: set[str] = set()
    return [r for r in results if not (r.text in seen or seen.add(r.text))]  # type: ignore[func-returns-value]


def build_banner(verdict: Verdict | None, manifest: rundir.Manifest, preview: bool = False) -> Banner:
    """The page's headline. ``preview``: no gate ran for this run (no verdict.json) and ``verdict`` was
    computed for the page only; the run stays "Not evaluated", as the index says, and the preview is
    shown as such."""
    failed = _unique_texts([r for r in verdict.rules if r.text in verdict.failed]) if verdict else []
    warned = _unique_texts([r for r in verdict.rules if r.status == "warn"]) if verdict else []
    counts = verdict.counts if verdict else None
    detail = (
        f"{counts['pass']} passed · {counts['fail']} failed · {_plural(counts['warn'], 'warning')} · "
        f"{counts['not-measured']} not measured"
        + (f" · {counts['not-applicable']} not applicable" if counts.get("not-applicable") else "")
        if counts
        else ""
    )
    if manifest.status != "complete" or (verdict is not None and verdict.incomplete):
        reason = manifest.abort_reason or "the run did not finish"
        partial = f" The numbers cover what was collected: {detail}." if detail else ""
        return Banner(
            "incomplete", "Incomplete run", f"Run {manifest.status}: {reason}.{partial}", failed, warned
        )
    if verdict is None:
        return Banner("unknown", "Not evaluated", "No verdict for this run.", [], [])
    if preview:
        text = (
            f"No gate ran for this run (harness run --gate, or harness gate). Preview with the default "
            f"checklist: {verdict.status.upper()} — {detail}."
        )
        return Banner("unknown", "Not evaluated", text, failed, warned)
    if verdict.status == "fail":
        return Banner("fail", f"Failed — {_plural(len(failed), 'gate')}", detail, failed, warned)
    if verdict.status == "warn":
        return Banner("warn", f"Passed with {_plural(len(warned), 'warning')}", detail, [], warned)
    return Banner("pass", "Passed", detail, [], [])


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


def _fmt_time(iso: str | None) -> str:
    return iso.replace("T", " ").split(".")[0].replace("+00:00", " UTC") if iso else "—"


def build_facts(manifest: rundir.Manifest) -> dict[str, list[Fact]]:
    load = manifest.load
    scenario_load = (
        manifest.scenario.get("load", {}) if isinstance(manifest.scenario.get("load"), dict) else {}
    )
    stages = scenario_load.get("stages") or []
    git = manifest.git
    machine = manifest.machine
    commit = (git.commit or "—")[:12] + (" (dirty)" if git.dirty else "")
    return {
        "Scenario": [
            Fact("Name", manifest.scenario_name),
            Fact("File", manifest.scenario_path or "—"),
            Fact("Load model", str(load.model or scenario_load.get("model") or "—")),
            Fact("Stages", str(len(stages)) if stages else "—"),
            Fact("Duration", _duration_text(manifest.duration_s)),
            Fact("Time scale", _text(load.time_scale)),
            Fact("Workers", _text(load.workers)),
            Fact("Tags", ", ".join(f"{k}={v}" for k, v in manifest.tags.items()) or "—"),
        ],
        "Target": [
            Fact("URL", manifest.target.url),
            Fact("Started by harness", "yes" if manifest.target.managed else "no"),
            Fact("Config profile", manifest.target.config_profile or "—"),
            Fact("Version", manifest.target.version or "—"),
        ],
        "Environment": [
            Fact("Machine", _text(machine.hostname)),
            Fact("Platform", _text(machine.platform)),
            Fact("CPUs", _text(machine.cpu_count)),
            Fact("Memory", _memory_text(machine.memory_bytes)),
            Fact("Git commit", commit),
            Fact("Branch", _text(git.branch)),
            Fact("Started", _fmt_time(manifest.started_at)),
            Fact("Ended", _fmt_time(manifest.ended_at)),
            Fact("Command", " ".join(manifest.cli) or "—"),
        ],
    }


def _text(value: object) -> str:
    return "—" if value is None else str(value)


def _duration_text(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    return format_ms(seconds * 1000.0)


def _memory_text(value: Any) -> str:
    if isinstance(value, int | float) and value > 0:
        return f"{value / 2**30:.1f} GiB" if value > 2**20 else f"{value:g}"
    return str(value) if value else "—"


def build_switches(manifest: rundir.Manifest) -> list[Fact]:
    return [
        Fact(str(key), json.dumps(value) if not isinstance(value, str) else value)
        for key, value in sorted(manifest.target.switches.items())
    ]


# ---------------------------------------------------------------- per-operation table

OPERATION_HEADER = [
    "Operation",
    "Requests",
    "Req/s (target)",
    "p50",
    "p90",
    "p95",
    "p99",
    "p99.9",
    "max",
    "Errors",
    "Dropped / late",
    "Target",
]
_LATENCY_COLUMNS = (
    ("p50", "p50"),
    ("p90", "p90"),
    ("p95", "p95"),
    ("p99", "p99"),
    ("p99.9", "p99_9"),
    ("max", "max"),
)


def _rule_status(results: list[RuleResult], operation: str | None, metric: str) -> tuple[str, str]:
    """Worst status of whole-run rules on (operation, metric), and the rules as a tooltip."""
    matching = [
        r
        for r in results
        if r.operation == operation and r.metric == metric and r.window is None and r.status in _STATUS_RANK
    ]
    if not matching:
        return "", ""
    worst = max(matching, key=lambda r: _STATUS_RANK[r.status])
    return worst.status, "; ".join(f"{r.text}: {r.status}" for r in matching)


def _operation_row(
    name: str, op: rundir.OperationSummary, results: list[RuleResult], overall: bool
) -> OperationRow:
    operation = None if overall else name
    cells = [Cell(f"{op.count:,}"), Cell(_rate_text(op))]
    for metric, key in _LATENCY_COLUMNS:
        value = getattr(op.latency_ms, key)
        status, title = _rule_status(results, operation, metric)
        if not status and metric == "p95" and op.target_ms is not None and value is not None:
            status = "pass" if value < op.target_ms else "fail"
            title = f"guide target {format_ms(op.target_ms)}"
        cells.append(Cell(format_value(Kind.TIME, value), status, title))
    status, title = _rule_status(results, operation, "error_rate")
    errors = f"{format_value(Kind.RATIO, op.error_rate)} ({op.errors:,})" if op.count else "—"
    cells.append(Cell(errors, status, title))
    dropped_status = "warn" if op.dropped or op.late else ""
    cells.append(Cell(f"{op.dropped:,} / {op.late:,}", dropped_status, "sends dropped / started late"))
    cells.append(Cell(format_ms(op.target_ms) if op.target_ms is not None else "—"))
    return OperationRow(name, cells, overall)


def _rate_text(op: rundir.OperationSummary) -> str:
    achieved = format_value(Kind.RATE, op.rate)
    if op.target_rate is None:
        return achieved
    target = format_value(Kind.RATE, op.target_rate)
    return f"{achieved.removesuffix(' req/s')} ({target.removesuffix(' req/s')})"


def build_operations(summary: rundir.Summary | None, verdict: Verdict | None) -> list[OperationRow]:
    if summary is None:
        return []
    results = verdict.rules if verdict else []
    rows = [_operation_row(name, op, results, False) for name, op in sorted(summary.operations.items())]
    rows.append(_operation_row("All operations", summary.overall, results, True))
    return rows


# ---------------------------------------------------------------- time series


def _bucket(frame: pd.DataFrame, bucket_s: int) -> pd.DataFrame:
    """Downsample per-second rows: means for rates and gauges, max for the max latency."""
    if bucket_s <= 1:
        return frame
    keys = (frame["t"] // bucket_s) * bucket_s
    numeric = frame.select_dtypes("number").drop(columns=["t"], errors="ignore")
    grouped = numeric.groupby(keys)
    out = grouped.mean()
    for column in ("max_ms", "dropped", "errors"):
        if column in numeric:
            out[column] = grouped[column].max() if column == "max_ms" else grouped[column].mean()
    out.index.name = "t"
    return out.reset_index()


def build_series(timeseries: pd.DataFrame | None, summary: rundir.Summary | None) -> Series | None:
    if timeseries is None or timeseries.empty:
        return None
    bucket_s = max(1, math.ceil(len(timeseries) / MAX_POINTS))
    frame = _bucket(timeseries, bucket_s)
    columns = {
        str(c): pd.to_numeric(frame[c], errors="coerce").to_numpy(dtype=float)
        for c in frame.columns
        if c not in ("t", "ts")
    }
    stages = [(s.start_s, s.end_s, s.target_rate) for s in summary.stages] if summary else []
    return Series(frame["t"].to_numpy(dtype=float), columns, stages, bucket_s, _ramps(timeseries, stages))


def _ramps(timeseries: pd.DataFrame, stages: list[tuple[float, float, float | None]]) -> list[bool]:
    """Which stages' per-second target rate changes over the seconds wholly inside them (files
    written before timeseries.csv held the schedule per second have each stage's mean: no ramp)."""
    if "target_rate" not in timeseries:
        return [False] * len(stages)
    t = pd.to_numeric(timeseries["t"], errors="coerce").to_numpy(dtype=float)
    target = pd.to_numeric(timeseries["target_rate"], errors="coerce").to_numpy(dtype=float)
    out = []
    for start, end, _ in stages:
        inside = target[(t >= start) & (t + 1 <= end) & np.isfinite(target)]
        out.append(bool(inside.size > 1 and np.ptp(inside) > 1e-9 * max(1.0, float(np.abs(inside).max()))))
    return out


def percentile_curves(histograms: rundir.HistogramSet | None) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Per histogram: (percentiles, latency ms) along the classic HDR 'nines' axis."""
    if histograms is None:
        return {}
    percentiles = 100.0 * (1.0 - 10.0 ** (-CURVE_NINES))
    curves: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for name, encoded in histograms.latency.items():
        hist = decode(encoded)
        total = hist.get_total_count()
        if total == 0:
            continue
        # Beyond 1/total the curve says nothing: stop at the last percentile the count can show.
        usable = percentiles[percentiles <= 100.0 * (1.0 - 1.0 / max(total, 2))]
        values = hdr_values_at(hist, usable) / 1000.0
        curves["overall" if name == rundir.OVERALL else name] = (usable, values)
    return curves


def errors_by_kind(folder: RunFolder, seconds: int) -> pd.DataFrame | None:
    """Failed requests per time bucket and error kind (dropped sends are not errors)."""
    window_start = folder.window_start
    samples = folder.sample_columns(["ts", "error"])
    if samples is None or window_start is None or seconds <= 0:
        return None
    failed = samples[samples["error"].notna().to_numpy(dtype=bool) & ~dropped_mask(samples["error"])].copy()
    bucket_s = max(1, math.ceil(seconds / 200))
    columns_index = pd.Index(np.arange(0, seconds, bucket_s), name="t")
    if failed.empty:
        return pd.DataFrame(index=columns_index)
    kinds = failed["error"].astype(str)
    top = kinds.value_counts().index[:MAX_ERROR_KINDS]
    failed["kind"] = kinds.where(kinds.isin(top), "other")
    failed["t"] = (window_seconds(failed["ts"], window_start) // bucket_s) * bucket_s
    counts = failed.groupby(["t", "kind"]).size().unstack("kind", fill_value=0)
    return counts.reindex(columns_index, fill_value=0) / bucket_s  # errors per second


def error_kind_table(summary: rundir.Summary | None) -> list[Fact]:
    if summary is None or not summary.overall.errors_by_kind:
        return []
    total = sum(summary.overall.errors_by_kind.values())
    ranked = sorted(summary.overall.errors_by_kind.items(), key=lambda item: -item[1])
    return [Fact(kind, f"{count:,} ({count / total:.1%} of failures)") for kind, count in ranked]


# ---------------------------------------------------------------- checklist, not measured


def build_checklist(verdict: Verdict | None) -> list[ChecklistGroup]:
    if verdict is None:
        return []
    groups: dict[str, list[RuleResult]] = {}
    for result in verdict.rules:
        if result.status != "not-applicable":  # listed apart (ReportData.not_applicable)
            groups.setdefault(result.section or result.origin, []).append(result)
    return [ChecklistGroup(title, rules) for title, rules in groups.items()]


def build_not_measured(
    manifest: rundir.Manifest, verdict: Verdict | None, missing_charts: list[Fact]
) -> list[Fact]:
    items = [Fact(item.metric, item.reason) for item in manifest.not_measured]
    items += missing_charts
    for name, record in sorted(manifest.profiles.items()):
        if record.status != "ok":
            items.append(Fact(f"profile: {name}", f"{record.status}: {record.reason or 'no reason given'}"))
    if not manifest.profiles:
        items.append(Fact("profiles", "not profiled (run with --profile cpu,memory)"))
    for result in verdict.rules if verdict else []:
        if result.status == "not-measured":
            items.append(Fact(f"rule {result.text}", result.reason or "no data"))
    seen: set[tuple[str, str]] = set()
    unique = []
    for item in items:
        if (item.label, item.value) not in seen:
            seen.add((item.label, item.value))
            unique.append(item)
    return unique
