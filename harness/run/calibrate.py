"""``harness calibrate``: the noise of this machine, A/A on one target in both comparison modes.

- **sequential**: N pairs of back-to-back runs of the scenario against the same target (or a
  managed runtime of that config, started per run as ``harness run`` does), each pair compared
  with :func:`harness.compare.compare.compare_paths`: per pair the overall p50/p95 change and MDE;
  across the 2N runs the **between-run CV** of the overall p50 and p95.
- **duet**: N ``harness ab`` runs (:func:`harness.run.duet.run_duet`) with the same target (or
  config) on both sides: per pair the paired change and MDE; across pairs the **paired CV** (the
  standard deviation of the pairs' log(B/A)).

The modes alternate pair by pair (sequential pair 1, duet 1, sequential pair 2, ...) so both see
the same machine. What a comparison on this machine can see (``detectable``) is the larger of the
median MDE of the mode's comparisons and the MDE the measured noise implies:
expm1((z₁₋α/₂ + z₀.₉₅) · s) with s = √2 · CV (two independent runs) sequentially and s = the
paired CV in duet, at alpha 0.01 (compare's default). docs/regressions.md, "Calibrate: the noise
of this machine", has the reasoning.

Output: ``<reports>/calibrations/<id>/`` with ``sequential/<run-id>/`` and ``duet/<ab-id>/`` and
``calibration.json`` (:class:`Calibration`, kind ``motherbox-perf/calibration``, schema_version 1,
read back by :func:`load_calibration`); one row per mode in history.db's ``calibrations`` table,
keyed by the machine fingerprint (:func:`harness.history.db.record_calibration`).
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final, Literal

import numpy as np
from pydantic import BaseModel, Field
from rich.console import Console

from harness.compare import stats
from harness.contract import rundir
from harness.contract.meta import REPO, machine_info
from harness.contract.versioned import read_versioned_json, validate_as
from harness.history import db
from harness.run.options import DEFAULT_REPORTS_DIR, EXIT_ABORTED, EXIT_OK, EXIT_USAGE, RunOptions
from harness.run.target import TargetError, check_allowed

CALIBRATION_KIND: Final = "motherbox-perf/calibration"
CALIBRATION_SCHEMA_VERSION = 1
SUPPORTED_VERSIONS = (1,)
CALIBRATION_JSON = "calibration.json"
DEFAULT_SCENARIO = REPO / "scenarios" / "smoke.yaml"
DEFAULT_DURATION_S = 20.0
DEFAULT_PAIRS = 3
DEFAULT_CONFIG = "optimized"  # the reference runtime's own default profile
#: The level and power of the noise-implied MDE (compare's default alpha, the MDE's power).
NOISE_ALPHA, NOISE_POWER = 0.01, 0.95
CALIBRATION_TAG = "calibration"
Mode = Literal["sequential", "duet"]
MODES: tuple[Mode, ...] = ("sequential", "duet")


class CalibrationError(Exception):
    """calibration.json is missing, unreadable, of another kind or of an unsupported version."""


class PairFigures(BaseModel):
    """One A/A comparison: overall p50/p95 of each side (ms), the change and the MDE (fractions)."""

    base: str  # run folder (sequential: the first run; duet: side a)
    new: str
    base_p50: float | None
    new_p50: float | None
    base_p95: float | None
    new_p95: float | None
    change_p50: float | None
    change_p95: float | None
    mde_p50: float | None
    mde_p95: float | None


class ModeFigures(BaseModel):
    mode: Mode
    pairs: list[PairFigures]
    cv_p50: float | None  # between-run CV (sequential) or SD of the paired log ratios (duet)
    cv_p95: float | None
    mde_p50: float | None  # median MDE of the pairs' comparisons
    mde_p95: float | None
    detectable_p50: float | None  # max(median MDE, noise-implied MDE)
    detectable_p95: float | None


class Calibration(BaseModel):
    kind: Literal["motherbox-perf/calibration"] = CALIBRATION_KIND
    schema_version: int = CALIBRATION_SCHEMA_VERSION
    calibration_id: str
    machine_fingerprint: str | None
    measured_at: str
    scenario: str
    scenario_path: str
    duration_s: float
    target: str
    modes: list[ModeFigures]
    warnings: list[str] = Field(default_factory=list)

    def mode(self, name: str) -> ModeFigures | None:
        return next((m for m in self.modes if m.mode == name), None)


def load_calibration(path: Path) -> Calibration:
    """Read calibration.json (a file, or the folder holding it) of any supported version."""
    if path.is_dir():
        path = path / CALIBRATION_JSON
    data = read_versioned_json(
        path, supported=SUPPORTED_VERSIONS, error=CalibrationError, kind=CALIBRATION_KIND
    )
    return validate_as(Calibration, data, path, CalibrationError)


# ---------------------------------------------------------------- the statistics (pure)


def _median(values: Sequence[float | None]) -> float | None:
    kept = [v for v in values if v is not None and math.isfinite(v)]
    return statistics.median(kept) if kept else None


def paired_cv(base: Sequence[float | None], new: Sequence[float | None]) -> float | None:
    """Standard deviation (ddof 1) of log(new / base) over the pairs with both values; None below 2."""
    logs = [math.log(n / b) for b, n in zip(base, new, strict=True) if b and n and b > 0 and n > 0]
    return float(np.std(logs, ddof=1)) if len(logs) >= 2 else None


def between_run_cv(base: Sequence[float | None], new: Sequence[float | None]) -> float | None:
    """Coefficient of variation (SD / mean) of every run's value, both sides of every pair."""
    return stats.coefficient_of_variation([v for v in [*base, *new] if v is not None])


def noise_mde(log_sd: float | None, alpha: float = NOISE_ALPHA, power: float = NOISE_POWER) -> float | None:
    """The relative change a comparison with this SD of log(B/A) detects at ``power``."""
    if log_sd is None:
        return None
    return math.expm1(stats.mde_from_se(log_sd, alpha=alpha, power=power))


def mode_figures(mode: Mode, pairs: list[PairFigures]) -> ModeFigures:
    """CVs, median MDEs and what a comparison can see, from a set of A/A comparisons."""
    cvs, mdes, seen = {}, {}, {}
    for q in ("p50", "p95"):
        base = [getattr(p, f"base_{q}") for p in pairs]
        new = [getattr(p, f"new_{q}") for p in pairs]
        if mode == "sequential":
            cv = between_run_cv(base, new)
            log_sd = None if cv is None else math.sqrt(2.0) * cv  # log(B/A) of two independent runs
        else:
            cv = log_sd = paired_cv(base, new)
        cvs[q], mdes[q] = cv, _median([getattr(p, f"mde_{q}") for p in pairs])
        candidates = [v for v in (mdes[q], noise_mde(log_sd)) if v is not None]
        seen[q] = max(candidates) if candidates else None
    return ModeFigures(
        mode=mode,
        pairs=pairs,
        cv_p50=cvs["p50"],
        cv_p95=cvs["p95"],
        mde_p50=mdes["p50"],
        mde_p95=mdes["p95"],
        detectable_p50=seen["p50"],
        detectable_p95=seen["p95"],
    )


# ---------------------------------------------------------------- options


@dataclass
class CalibrateOptions:
    target: str | None = None
    config: str | None = None
    duration_s: float = DEFAULT_DURATION_S
    pairs: int = DEFAULT_PAIRS
    scenario_path: Path = DEFAULT_SCENARIO
    reports_dir: Path = DEFAULT_REPORTS_DIR
    allow_remote: bool = False
    quiet: bool = False
    cli: list[str] = field(default_factory=list)
    console: Console | None = None
    api_key: str | None = None  # --api-key / $HARNESS_API_KEY: the key of --target; never on disk

    @property
    def runtime_config(self) -> str | None:
        """The managed runtime's config (None with --target)."""
        return None if self.target else self.config or DEFAULT_CONFIG

    def target_text(self) -> str:
        return self.target or f"reference runtime, config {self.runtime_config}"


def check_options(o: CalibrateOptions) -> None:
    """ValueError naming the bad option, before anything runs."""
    from harness.run.duet import known_configs

    if o.target and o.config:
        raise ValueError("give at most one of --target URL and --config NAME|FILE")
    if o.pairs < 1:
        raise ValueError(f"--pairs {o.pairs}: at least 1 pair per mode")
    if o.duration_s <= 0:
        raise ValueError("--duration must be > 0")
    if not o.scenario_path.is_file():
        raise ValueError(f"--scenario {o.scenario_path}: no such file")
    if o.config and o.config not in known_configs() and not Path(o.config).is_file():
        raise ValueError(f"--config {o.config!r}: not a profile ({', '.join(known_configs())}) nor a file")
    if o.target:
        try:
            check_allowed(o.target, o.allow_remote)
        except TargetError as exc:
            raise ValueError(str(exc)) from None


# ---------------------------------------------------------------- the runs


class PairFailed(Exception):
    """A run or a duet of the calibration did not complete."""


def _overall(metrics: Sequence[object], metric: str) -> object | None:
    """The overall ``metric`` of a compare or ab result."""
    for m in metrics:
        if getattr(m, "operation", "") == "overall" and getattr(m, "metric", "") == metric:
            return m
    return None


def _run_options(o: CalibrateOptions, out: Path, tags: dict[str, str], console: Console) -> RunOptions:
    return RunOptions(
        scenario_path=o.scenario_path,
        target=o.target,
        duration_s=o.duration_s,
        out=out,
        reports_dir=o.reports_dir,
        tags=tags,
        allow_remote=o.allow_remote,
        api_key=o.api_key,
        runtime_config=o.runtime_config,
        report=False,
        cli=o.cli,
        quiet=o.quiet,
        console=console,
    )


def sequential_pair(o: CalibrateOptions, out: Path, tags: dict[str, str], console: Console) -> PairFigures:
    """Two back-to-back runs, compared as `harness compare` would (compare.json in the second)."""
    from harness.compare.compare import compare_paths, write_compare_json
    from harness.run.orchestrator import execute

    dirs = []
    for _ in range(2):
        result = execute(_run_options(o, out, tags, console))
        if result.run_dir is None or result.manifest is None or result.manifest.status != "complete":
            raise PairFailed(f"a sequential run did not complete (exit {result.exit_code})")
        dirs.append(result.run_dir)
    comparison = compare_paths([dirs[0]], [dirs[1]], reports_dir=o.reports_dir, pool_repeats=False)
    write_compare_json(comparison, dirs[1])
    p50, p95 = _overall(comparison.metrics, "p50"), _overall(comparison.metrics, "p95")
    return _figures(str(dirs[0]), str(dirs[1]), p50, p95, "base", "new")


def duet_pair(o: CalibrateOptions, out: Path, tags: dict[str, str], console: Console) -> PairFigures:
    """One `harness ab` run with the same target (or config) on both sides."""
    from harness.compare.ab_result import PairedSettings
    from harness.run.duet import DuetOptions, SideTarget, run_duet

    side = SideTarget(url=o.target) if o.target else SideTarget(config=o.runtime_config)
    options = DuetOptions(
        scenario_path=o.scenario_path,
        a=side,
        b=SideTarget(url=side.url, config=side.config),
        settings=PairedSettings(),
        duration_s=o.duration_s,
        out=out,
        reports_dir=o.reports_dir,
        tags=tags,
        allow_remote=o.allow_remote,
        quiet=o.quiet,
        cli=o.cli,
        console=console,
        api_key=o.api_key,
    )
    outcome = run_duet(options)
    result = outcome.result
    if result is None:
        raise PairFailed(f"a duet run did not complete (exit {outcome.exit_code})")
    p50, p95 = _overall(result.metrics, "p50"), _overall(result.metrics, "p95")
    return _figures(result.a.run_dir, result.b.run_dir, p50, p95, "a", "b")


def _figures(base: str, new: str, p50: object, p95: object, left: str, right: str) -> PairFigures:
    def get(metric: object, name: str) -> float | None:
        value = getattr(metric, name, None)
        return float(value) if isinstance(value, int | float) else None

    return PairFigures(
        base=base,
        new=new,
        base_p50=get(p50, left),
        new_p50=get(p50, right),
        base_p95=get(p95, left),
        new_p95=get(p95, right),
        change_p50=get(p50, "change"),
        change_p95=get(p95, "change"),
        mde_p50=get(p50, "mde"),
        mde_p95=get(p95, "mde"),
    )


# ---------------------------------------------------------------- the calibration


@dataclass(frozen=True)
class CalibrateResult:
    exit_code: int
    calibration: Calibration | None = None
    json_path: Path | None = None
    message: str | None = None


def _fingerprint(pairs: list[PairFigures]) -> str | None:
    for pair in pairs:
        try:
            return rundir.load_manifest(Path(pair.base)).machine.fingerprint
        except rundir.RunDirError:
            continue
    return machine_info().fingerprint


def _measure(
    o: CalibrateOptions, cal_dir: Path, cal_id: str, console: Console
) -> dict[Mode, list[PairFigures]]:
    pairs: dict[Mode, list[PairFigures]] = {mode: [] for mode in MODES}
    for index in range(o.pairs):
        for mode in MODES:
            if not o.quiet:
                console.print(f"calibrate: {mode} pair {index + 1} of {o.pairs}", highlight=False)
            tags = {CALIBRATION_TAG: cal_id, "calibration_mode": mode, "calibration_pair": str(index)}
            measure = sequential_pair if mode == "sequential" else duet_pair
            pairs[mode].append(measure(o, cal_dir / mode, tags, console))
    return pairs


def record(calibration: Calibration, cal_dir: Path, reports_dir: Path) -> None:
    """One ``calibrations`` row per mode, under the machine's fingerprint."""
    if calibration.machine_fingerprint is None:
        return
    for m in calibration.modes:
        row = db.CalibrationRow(
            machine_fingerprint=calibration.machine_fingerprint,
            measured_at=calibration.measured_at,
            scenario=calibration.scenario,
            duration_s=calibration.duration_s,
            mode=m.mode,
            pairs=len(m.pairs),
            cv_p50=m.cv_p50,
            cv_p95=m.cv_p95,
            mde_p50=m.mde_p50,
            mde_p95=m.mde_p95,
            detectable_p50=m.detectable_p50,
            detectable_p95=m.detectable_p95,
            calibration_dir=str(cal_dir),
        )
        db.record_calibration(db.db_path(reports_dir), row)


def run_calibration(o: CalibrateOptions) -> CalibrateResult:
    """Both modes, calibration.json and the history rows; exit 2 on bad input, 3 when a run fails."""
    from harness.run.finalize import now_iso
    from harness.run.orchestrator import new_run_id
    from harness.scenario import ScenarioError, check_scenario

    try:
        check_options(o)
        resolved = check_scenario(o.scenario_path, duration_s=o.duration_s)
    except ValueError as exc:
        return CalibrateResult(EXIT_USAGE, message=str(exc))
    except ScenarioError as exc:
        return CalibrateResult(EXIT_USAGE, message="; ".join(str(issue) for issue in exc.issues))
    console = o.console or Console()
    name = resolved.scenario.name
    cal_id = new_run_id(f"calibrate-{name}")
    cal_dir = o.reports_dir / "calibrations" / cal_id
    measured_at = now_iso()
    try:
        pairs = _measure(o, cal_dir, cal_id, console)
    except PairFailed as exc:
        return CalibrateResult(EXIT_ABORTED, message=f"{exc}; run folders kept in {cal_dir}")
    calibration = Calibration(
        calibration_id=cal_id,
        machine_fingerprint=_fingerprint(pairs["sequential"]),
        measured_at=measured_at,
        scenario=name,
        scenario_path=str(o.scenario_path),
        duration_s=o.duration_s,
        target=o.target_text(),
        modes=[mode_figures(mode, pairs[mode]) for mode in MODES],
        warnings=[] if o.pairs > 1 else ["one pair per mode: no paired CV (use --pairs 2 or more)"],
    )
    json_path = cal_dir / CALIBRATION_JSON
    rundir.write_json_atomic(json_path, calibration.model_dump())
    record(calibration, cal_dir, o.reports_dir)
    return CalibrateResult(EXIT_OK, calibration, json_path)
