"""Detection power and false alarms of the harness's comparisons (``make bench-detection``).

Real mode (default, :mod:`bench.detection_real`): sequential comparisons (``harness run`` A, then
B, then ``harness compare``) and duet comparisons (``harness ab``, both loaded at once) side by side
in one invocation, on the same seeded regressions of the reference runtime (+5 % and +10 % CPU per
request, +10 % model latency) and on A/A pairs, with the same seconds of load per comparison;
prints detection and false-alarm rates, median interval widths and MDEs per mode, and the ratio of
interval widths. ``--out DIR`` keeps every run and resumes; ``--analyse DIR`` only re-analyses.

``--synthetic``: sequential comparisons of synthetic run folders (harness.testing.synthetic) with
latencies x (1 + slowdown) and a run-to-run noise factor (lognormal, ``--run-noise``), no runtime.

Targets: a +5 % CPU regression detected by duet in >= 95 % of trials, A/A false alarms <= 5 %,
<= 120 s of load per comparison, duet intervals >= 3x narrower than sequential.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from bench import detection_real
from harness.compare.compare import (
    CompareResult,
    CompareSettings,
    compare_paths,
    parse_fraction,
    parse_min_effect,
)
from harness.testing.synthetic import SyntheticSpec, make_run

DEFAULT_SCENARIO = Path(__file__).with_name("detection_scenario.yaml")


@dataclass
class Trial:
    index: int
    detected: bool
    false_alarm: bool
    detected_by: list[str]
    false_alarm_by: list[str]
    p50_change_fault: float | None
    p50_change_aa: float | None


@dataclass
class BenchResult:
    mode: str
    settings: dict[str, Any]
    trials: list[Trial] = field(default_factory=list)
    failed_runs: int = 0
    wall_s: float = 0.0

    @property
    def detection_rate(self) -> float:
        return sum(t.detected for t in self.trials) / len(self.trials) if self.trials else float("nan")

    @property
    def false_alarm_rate(self) -> float:
        return sum(t.false_alarm for t in self.trials) / len(self.trials) if self.trials else float("nan")


def _overall_p50_change(result: CompareResult) -> float | None:
    return next((m.change for m in result.metrics if m.metric == "p50" and m.operation == "overall"), None)


def _names(result: CompareResult) -> list[str]:
    return [f"{m.metric}({m.operation})" for m in result.regressions]


def judge(index: int, a: list[Path], b: list[Path], a2: list[Path], settings: CompareSettings) -> Trial:
    fault = compare_paths(list(a), list(b), settings, pool_repeats=False)
    aa = compare_paths(list(a), list(a2), settings, pool_repeats=False)
    return Trial(
        index=index,
        detected=fault.has_regression,
        false_alarm=aa.has_regression,
        detected_by=_names(fault),
        false_alarm_by=_names(aa),
        p50_change_fault=_overall_p50_change(fault),
        p50_change_aa=_overall_p50_change(aa),
    )


# ---------------------------------------------------------------- synthetic mode


def synthetic_trial(index: int, args: argparse.Namespace, settings: CompareSettings, work: Path) -> Trial:
    rng = np.random.default_rng(10_000 + index)
    duration = _seconds(args.duration)

    def runs(name: str, scale: float, offset: int) -> list[Path]:
        out = []
        for r in range(args.repeats):
            noise = float(np.exp(rng.normal(0.0, args.run_noise)))
            seed = (3 * index + offset) * 100 + r
            spec = SyntheticSpec(
                rate=args.rate,
                duration_s=duration,
                seed=seed,
                latency_scale=scale * noise,
                run_id=f"{name}-{r}",
            )
            out.append(make_run(work, spec))
        return out

    a = runs(f"t{index}-a", 1.0, 0)
    b = runs(f"t{index}-b", 1.0 + args.slowdown, 1)
    a2 = runs(f"t{index}-a2", 1.0, 2)
    return judge(index, a, b, a2, settings)


# ---------------------------------------------------------------- main


def _seconds(text: str) -> float:
    return float(text.removesuffix("s"))


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--synthetic", action="store_true", help="synthetic runs instead of the reference runtime"
    )
    parser.add_argument("--cases", default=detection_real.DEFAULT_CASES, help="real mode: CASE:TRIALS,...")
    parser.add_argument("--load", default="40s", help="real mode: seconds of load per comparison (<= 120s)")
    parser.add_argument("--assign", default="mirror", choices=["mirror", "alternate"], help="real mode: duet")
    parser.add_argument(
        "--modes", default="sequential,duet", help="real mode: which comparisons to run (comma-separated)"
    )
    parser.add_argument("--scenario", default=str(DEFAULT_SCENARIO), help="real mode: scenario file")
    parser.add_argument(
        "--out", type=Path, default=None, help="real mode: keep every run here; resumes from its index"
    )
    parser.add_argument("--analyse", type=Path, default=None, help="real mode: only re-analyse this --out")
    parser.add_argument("--cooldown", type=float, default=2.0, help="real mode: seconds between jobs")
    parser.add_argument("--trials", type=int, default=20, help="synthetic mode")
    parser.add_argument("--duration", default="30s", help="synthetic mode: each run's duration")
    parser.add_argument(
        "--slowdown", type=float, default=0.10, help="synthetic mode: latency added (0.10 = 10%%)"
    )
    parser.add_argument(
        "--run-noise", type=float, default=0.02, help="synthetic mode: run-to-run sd (log scale)"
    )
    parser.add_argument("--rate", type=float, default=100.0, help="synthetic mode: req/s")
    parser.add_argument("--repeats", type=int, default=1, help="synthetic mode: runs per side (pooled)")
    parser.add_argument("--threshold", default="5%")
    parser.add_argument("--alpha", default="0.01")
    parser.add_argument("--min-effect", default="1ms")
    parser.add_argument("--json", type=Path, default=None, help="also write the result as JSON")
    parser.add_argument("--bootstrap-unit", choices=["seconds", "requests"], default="seconds")
    args = parser.parse_args(argv)
    if _seconds(args.load) > 120:
        parser.error("--load: at most 120 s of load per comparison")
    return args


def main_real(args: argparse.Namespace) -> int:
    settings = {"threshold": args.threshold, "alpha": args.alpha, "min_effect": args.min_effect}
    out = args.analyse or args.out or Path(tempfile.mkdtemp(prefix="detection-bench-"))
    meta = {k: str(v) for k, v in vars(args).items() if k != "json"}
    print(f"detection bench (sequential vs duet): {json.dumps(meta)}\nfolder: {out}")
    started = time.perf_counter()
    try:
        if args.analyse is None:
            out.mkdir(parents=True, exist_ok=True)
            modes = tuple(m.strip() for m in args.modes.split(","))
            load = detection_real.LoadSettings(
                Path(args.scenario), _seconds(args.load), args.assign, args.cooldown, modes
            )
            detection_real.run_jobs(out, detection_real.parse_cases(args.cases), load)
        comparisons = detection_real.analyse(out, settings)
    finally:
        if args.out is None and args.analyse is None:
            shutil.rmtree(out, ignore_errors=True)
    rows = detection_real.summarize(comparisons)
    print(f"threshold {args.threshold}, alpha {args.alpha}, min effect {args.min_effect}, load {args.load}")
    detection_real.print_summary(rows)
    print(f"wall time {time.perf_counter() - started:.0f} s")
    if args.json:
        detection_real.write_json(args.json, comparisons, rows, meta)
    return 0 if detection_real.targets_met(rows) else 1


def main_synthetic(args: argparse.Namespace) -> int:
    settings = CompareSettings(
        threshold=parse_fraction(args.threshold, "--threshold"),
        alpha=float(args.alpha),
        bootstrap_unit=args.bootstrap_unit,
        min_effect_ms=parse_min_effect(args.min_effect),
    )
    shown = {k: v for k, v in vars(args).items() if k != "json"}
    result = BenchResult(mode="synthetic", settings={**shown, "compare": asdict(settings)})
    work = Path(tempfile.mkdtemp(prefix="detection-bench-"))
    print(f"detection bench (synthetic): {json.dumps(result.settings, default=str)}")
    started = time.perf_counter()
    try:
        for index in range(args.trials):
            trial = synthetic_trial(index, args, settings, work)
            result.trials.append(trial)
            fault = "DETECTED" if trial.detected else "missed  "
            alarm = "FALSE ALARM" if trial.false_alarm else "quiet"
            print(
                f"trial {index:3d}: fault {fault} (p50 {100 * (trial.p50_change_fault or 0):+.1f}%)  "
                f"A/A {alarm} (p50 {100 * (trial.p50_change_aa or 0):+.1f}%)  "
                + ", ".join(trial.false_alarm_by)
            )
    finally:
        result.wall_s = time.perf_counter() - started
        shutil.rmtree(work, ignore_errors=True)
    print(f"\nsynthetic mode, {len(result.trials)} trials, {args.duration} runs, threshold {args.threshold}")
    print(f"detection rate:   {100 * result.detection_rate:.1f}%  (target >= 95%)")
    print(f"false-alarm rate: {100 * result.false_alarm_rate:.1f}%  (target <= 5%)")
    if args.json:
        data = asdict(result) | {
            "detection_rate": result.detection_rate,
            "false_alarm_rate": result.false_alarm_rate,
        }
        args.json.write_text(json.dumps(data, indent=2, default=str))
    ok = result.trials and result.detection_rate >= 0.95 and result.false_alarm_rate <= 0.05
    return 0 if ok else 1


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    return main_synthetic(args) if args.synthetic else main_real(args)


if __name__ == "__main__":
    sys.exit(main())
