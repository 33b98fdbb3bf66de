"""Detection power and false alarms of ``harness compare`` (``make bench-detection``).

Each trial makes three runs of one scenario: A (clean), B (the runtime's fault injection adds
latency) and A' (clean again), in a rotating order (A B A' / A' B A) so drift of the machine does
not line up with the fault. Then:

- detection trial: ``compare(A, B)`` must report a regression;
- A/A trial: ``compare(A, A')`` must not (any regression flagged there is a false alarm).

Targets: detection >= 95 %, false alarms <= 5 %, runs of <= 60 s.

Modes:
- real (default): ``harness run`` of ``bench/detection_scenario.yaml`` (the steady-state mix at
  30 req/s, below saturation: at 100 req/s on a 2-vCPU machine a +10 % fault tips the runtime into
  queueing and latency grows 17x, which tests nothing) against the reference runtime it starts;
  the fault is set in a runtime config file (``faults:`` key, same settings as
  ``POST /v1/admin/faults``). Default fault: ``{"model_latency": {"percent": 10}}`` (+10 % on
  every model call).
- ``--synthetic``: synthetic run folders (harness.testing.synthetic) with latencies x (1 + slowdown) and a
  run-to-run noise factor (lognormal, ``--run-noise``), the same statistics, no runtime needed.

Prints the settings and the rates; ``--json FILE`` also writes them.
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
import yaml

from harness.compare.compare import CompareResult, CompareSettings, compare_paths, parse_fraction
from harness.run.launch import RunRequest, launch
from harness.testing.synthetic import SyntheticSpec, make_run

DEFAULT_SCENARIO = Path(__file__).with_name("detection_scenario.yaml")
DEFAULT_FAULT = '{"model_latency": {"percent": 10}}'


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


# ---------------------------------------------------------------- real mode


def write_configs(folder: Path, fault: dict[str, Any]) -> tuple[Path, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    clean, faulty = folder / "clean.yaml", folder / "fault.yaml"
    clean.write_text(yaml.safe_dump({"profile": "optimized"}))
    faulty.write_text(yaml.safe_dump({"profile": "optimized", "faults": fault}))
    return clean, faulty


def real_trial(
    index: int, args: argparse.Namespace, settings: CompareSettings, work: Path, configs: tuple[Path, Path]
) -> Trial | None:
    clean, faulty = configs
    order = [("a", clean), ("b", faulty), ("a2", clean)] * args.repeats
    if index % 2:
        order.reverse()
    runs: dict[str, list[Path]] = {"a": [], "b": [], "a2": []}
    for name, config in order:
        outcome = launch(
            RunRequest(
                scenario=Path(args.scenario),
                duration=args.duration,
                runtime_config=str(config),
                tags={"bench": "detection", "trial": str(index), "role": name},
                out=work / "runs",
                reports_dir=work,
                timeout_s=600,
            )
        )
        if outcome.run_dir is None or outcome.exit_code not in (0, 1):
            print(
                f"  trial {index}: run {name} failed (exit {outcome.exit_code}): {outcome.output_tail[-400:]}"
            )
            return None
        runs[name].append(outcome.run_dir)
        time.sleep(args.cooldown)
    return judge(index, runs["a"], runs["b"], runs["a2"], settings)


# ---------------------------------------------------------------- re-analysis of kept runs


def trials_from_runs(folder: Path) -> dict[int, dict[str, list[Path]]]:
    """Kept real-mode runs (``--keep``) grouped by their ``trial`` and ``role`` tags."""
    from harness.contract import rundir

    trials: dict[int, dict[str, list[Path]]] = {}
    for manifest in sorted(folder.glob(f"*/{rundir.MANIFEST_FILE}")):
        try:
            loaded = rundir.load_manifest(manifest.parent)
        except rundir.RunDirError:
            continue
        tags = loaded.tags
        if tags.get("bench") != "detection" or loaded.status != "complete":
            continue
        roles = trials.setdefault(int(tags["trial"]), {"a": [], "b": [], "a2": []})
        roles[tags["role"]].append(manifest.parent)
    return {i: r for i, r in sorted(trials.items()) if all(r.values())}


def grouped_trials(folders: list[Path], group: int) -> dict[int, dict[str, list[Path]]]:
    """Trials of several kept folders, renumbered; every ``group`` consecutive trials pooled."""
    flat = [roles for folder in folders for roles in trials_from_runs(folder).values()]
    out: dict[int, dict[str, list[Path]]] = {}
    for start in range(0, len(flat) - group + 1, group):
        chunk = flat[start : start + group]
        out[start // group] = {role: [p for roles in chunk for p in roles[role]] for role in ("a", "b", "a2")}
    return out


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
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--duration", default="30s", help="each run's duration in seconds, e.g. 30s (<= 60s)")
    parser.add_argument("--scenario", default=str(DEFAULT_SCENARIO), help="real mode: scenario file")
    parser.add_argument("--fault", default=DEFAULT_FAULT, help="real mode: runtime fault settings (JSON)")
    parser.add_argument(
        "--slowdown", type=float, default=0.10, help="synthetic mode: latency added (0.10 = 10%%)"
    )
    parser.add_argument(
        "--run-noise", type=float, default=0.02, help="synthetic mode: run-to-run sd (log scale)"
    )
    parser.add_argument("--rate", type=float, default=100.0, help="synthetic mode: req/s")
    parser.add_argument("--repeats", type=int, default=1, help="runs per side of each comparison (pooled)")
    parser.add_argument("--threshold", default="5%")
    parser.add_argument("--alpha", default="0.01")
    parser.add_argument("--cooldown", type=float, default=2.0, help="real mode: seconds between runs")
    parser.add_argument("--json", type=Path, default=None, help="also write the result as JSON")
    parser.add_argument("--keep", action="store_true", help="keep the run folders")
    parser.add_argument(
        "--from-runs", type=Path, nargs="+", default=None, help="re-analyse kept real runs in these folders"
    )
    parser.add_argument(
        "--group", type=int, default=1, help="re-analysis: pool N consecutive trials as repeats"
    )
    parser.add_argument("--bootstrap-unit", choices=["seconds", "requests"], default="seconds")
    args = parser.parse_args(argv)
    if _seconds(args.duration) > 60:
        parser.error("--duration: runs must be at most 60 s")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    settings = CompareSettings(
        threshold=parse_fraction(args.threshold, "--threshold"),
        alpha=float(args.alpha),
        bootstrap_unit=args.bootstrap_unit,
    )
    mode = "synthetic" if args.synthetic else ("real (re-analysed)" if args.from_runs else "real")
    shown = {k: v for k, v in vars(args).items() if k not in ("json", "keep")}
    result = BenchResult(mode=mode, settings={**shown, "compare": asdict(settings)})
    work = Path(tempfile.mkdtemp(prefix="detection-bench-"))
    configs = (
        None if args.synthetic or args.from_runs else write_configs(work / "configs", json.loads(args.fault))
    )
    print(f"detection bench ({mode}): {json.dumps(result.settings, default=str)}")
    started = time.perf_counter()
    kept = grouped_trials(args.from_runs, args.group) if args.from_runs else None
    try:
        for index in range(args.trials if kept is None else len(kept)):
            if kept is not None:
                key = list(kept)[index]
                roles = kept[key]
                trial: Trial | None = judge(key, roles["a"], roles["b"], roles["a2"], settings)
            elif configs is None:
                trial = synthetic_trial(index, args, settings, work)
            else:
                trial = real_trial(index, args, settings, work, configs)
            if trial is None:
                result.failed_runs += 1
                continue
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
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    print(
        f"\n{mode} mode, {len(result.trials)} trials ({result.failed_runs} failed), {args.duration} runs, "
        f"threshold {args.threshold}, alpha {args.alpha}"
    )
    print(f"detection rate:   {100 * result.detection_rate:.1f}%  (target >= 95%)")
    print(f"false-alarm rate: {100 * result.false_alarm_rate:.1f}%  (target <= 5%)")
    print(f"wall time {result.wall_s:.0f} s")
    if args.json:
        data = asdict(result) | {
            "detection_rate": result.detection_rate,
            "false_alarm_rate": result.false_alarm_rate,
        }
        args.json.write_text(json.dumps(data, indent=2, default=str))
    ok = result.trials and result.detection_rate >= 0.95 and result.false_alarm_rate <= 0.05
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
