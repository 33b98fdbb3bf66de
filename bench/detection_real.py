"""Sequential vs duet detection, side by side on the reference runtime (``make bench-detection``).

Seeded regressions (runtime fault injection, set in a runtime config file's ``faults:`` key, the
same settings as ``POST /v1/admin/faults``), each a *case* with its number of trials:

- ``cpu5``  ``{"cpu_per_request": {"percent": 5}}``  — a true +5 % CPU per request
- ``aa``    no fault                                 — A/A: any regression flagged is a false alarm
- ``cpu10`` ``{"cpu_per_request": {"percent": 10}}``
- ``model10`` ``{"model_latency": {"percent": 10}}`` — +10 % on every model call

Per trial, the same load budget per comparison (``--load``, default 40 s) in both modes:

- **sequential**: one clean run A and one run per case (clean again for ``aa``), each ``load/2``
  long, one after another (``harness run``); ``harness compare A B_case`` (the sequential
  statistics, :func:`harness.compare.compare.compare_paths`);
- **duet**: one ``harness ab --a-config clean --b-config case --duration load`` per case (both
  targets up and loaded at the same time), analysed by :func:`harness.compare.paired.paired_compare`.

The jobs of a trial run in a shuffled order (seeded by the trial), so drift of the machine does not
line up with a mode or a case. Every finished job is appended to ``<out>/index.jsonl``; with
``--out DIR`` the folders are kept and a second invocation with the same ``--out`` skips the jobs
already done (the bench can be split over sittings), and ``--analyse DIR`` re-runs only the
analysis, e.g. with other ``--threshold``/``--alpha``/``--min-effect`` settings.

Reported per case and mode: the rate of comparisons flagging a regression (detection for a fault,
false alarms for ``aa``), the median width of the (1 - alpha) interval and the median MDE of the
overall p50, p95 and CPU per request, and the ratio of the median interval widths sequential/duet.
"""

from __future__ import annotations

import json
import random
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import yaml

from harness.compare.compare import compare_paths, compare_settings
from harness.compare.paired import paired_compare, paired_settings
from harness.run.launch import RunRequest, launch

FAULTS: dict[str, dict[str, Any] | None] = {
    "cpu5": {"cpu_per_request": {"percent": 5}},
    "aa": None,
    "cpu10": {"cpu_per_request": {"percent": 10}},
    "model10": {"model_latency": {"percent": 10}},
}
DEFAULT_CASES = "cpu5:20,aa:20,cpu10:10,model10:10"
HEADLINE = ("p50", "p95", "cpu_per_request")  # overall metrics whose widths and MDEs are reported
INDEX = "index.jsonl"


@dataclass(frozen=True)
class Job:
    trial: int
    mode: str  # sequential | duet
    case: str  # for a sequential run: the case whose B run this is, or "a" for the clean base run

    @property
    def key(self) -> str:
        return f"{self.trial}/{self.mode}/{self.case}"


@dataclass
class Comparison:
    trial: int
    mode: str
    case: str
    regression: bool
    flagged: list[str]
    headline: dict[str, dict[str, float | None]] = field(default_factory=dict)


def parse_cases(text: str) -> dict[str, int]:
    cases: dict[str, int] = {}
    for item in text.split(","):
        name, _, count = item.strip().partition(":")
        if name not in FAULTS or not count.isdigit():
            raise ValueError(f"--cases: {item!r} is not NAME:TRIALS with NAME one of {', '.join(FAULTS)}")
        cases[name] = int(count)
    return cases


MODES = ("sequential", "duet")


def jobs_of(trial: int, cases: dict[str, int], modes: tuple[str, ...] = MODES) -> list[Job]:
    active = [c for c, n in cases.items() if trial < n]
    jobs = []
    if "sequential" in modes:
        jobs += [Job(trial, "sequential", "a")] + [Job(trial, "sequential", c) for c in active]
    if "duet" in modes:
        jobs += [Job(trial, "duet", c) for c in active]
    random.Random(trial).shuffle(jobs)
    return jobs


def write_configs(folder: Path) -> dict[str, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = {}
    for name, fault in {"clean": None, **FAULTS}.items():
        config: dict[str, Any] = {"profile": "optimized"}
        if fault is not None:
            config["faults"] = fault
        paths[name] = folder / f"{name}.yaml"
        paths[name].write_text(yaml.safe_dump(config))
    return paths


def load_index(out: Path) -> dict[str, Path]:
    index = out / INDEX
    if not index.exists():
        return {}
    entries = (json.loads(line) for line in index.read_text().splitlines() if line.strip())
    return {e["key"]: out / e["path"] for e in entries}


def record(out: Path, job: Job, path: Path) -> None:
    with (out / INDEX).open("a") as index:
        index.write(json.dumps({"key": job.key, "path": str(path.relative_to(out))}) + "\n")


# ---------------------------------------------------------------- load


@dataclass(frozen=True)
class LoadSettings:
    scenario: Path
    load_s: float
    assign: str
    cooldown_s: float
    modes: tuple[str, ...] = MODES


def run_sequential(job: Job, out: Path, config: Path, s: LoadSettings) -> Path | None:
    outcome = launch(
        RunRequest(
            scenario=s.scenario,
            duration=f"{s.load_s / 2:g}s",
            runtime_config=str(config),
            tags={"bench": "detection", "trial": str(job.trial), "role": job.case},
            out=out / "runs",
            reports_dir=out,
            timeout_s=600,
        )
    )
    if outcome.run_dir is None or outcome.exit_code not in (0, 1):
        print(f"  {job.key}: run failed (exit {outcome.exit_code}): {outcome.output_tail[-400:]}")
        return None
    return outcome.run_dir


def run_duet_job(job: Job, out: Path, configs: dict[str, Path], s: LoadSettings) -> Path | None:
    parent = out / "duets" / f"t{job.trial}-{job.case}"
    cmd = [sys.executable, "-m", "harness", "ab", str(s.scenario), "--quiet"]
    cmd += ["--a-config", str(configs["clean"]), "--b-config", str(configs[job.case])]
    cmd += ["--duration", f"{s.load_s:g}s", "--assign", s.assign, "--out", str(parent)]
    cmd += ["--reports-dir", str(out), "--tag", "bench=detection", "--tag", f"trial={job.trial}"]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=900, check=False)
    found = sorted(parent.glob("*/ab.json"))
    if done.returncode not in (0, 1) or not found:
        print(f"  {job.key}: ab failed (exit {done.returncode}): {(done.stdout + done.stderr)[-400:]}")
        return None
    return found[-1].parent


def run_jobs(out: Path, cases: dict[str, int], s: LoadSettings) -> None:
    configs = write_configs(out / "configs")
    done = load_index(out)
    for trial in range(max(cases.values())):
        for job in jobs_of(trial, cases, s.modes):
            if job.key in done:
                continue
            started = time.perf_counter()
            config = configs["clean" if job.case in ("a", "aa") else job.case]
            if job.mode == "sequential":
                path = run_sequential(job, out, config, s)
            else:
                path = run_duet_job(job, out, configs, s)
            if path is not None:
                record(out, job, path)
            print(f"  {job.key}: {'ok' if path else 'FAILED'} ({time.perf_counter() - started:.0f} s)")
            time.sleep(s.cooldown_s)


# ---------------------------------------------------------------- analysis


def _headline(metrics: Iterator[Any]) -> dict[str, dict[str, float | None]]:
    out: dict[str, dict[str, float | None]] = {}
    for m in metrics:
        if m.operation == "overall" and m.metric in HEADLINE:
            width = None if m.ci_low is None or m.ci_high is None else m.ci_high - m.ci_low
            out[m.metric] = {"change": m.change, "width": width, "mde": m.mde}
    return out


def analyse(out: Path, settings: dict[str, str]) -> list[Comparison]:
    """Every comparison the index allows, recomputed with ``settings`` (threshold, alpha, min_effect)."""
    index = load_index(out)
    sequential = compare_settings(**settings, error_threshold="0.1%", n_boot=2000, seed=0)
    paired = paired_settings(**settings, n_boot=2000, seed=0)
    found = []
    for key, path in sorted(index.items()):
        trial_text, mode, case = key.split("/")
        trial = int(trial_text)
        if mode == "duet":
            ab = paired_compare(path / "a", path / "b", paired)
            regressions = [m.label for m in ab.metrics if m.status == "regression"]
            headline = _headline(iter(ab.metrics))
        elif case != "a" and f"{trial}/sequential/a" in index:
            result = compare_paths([index[f"{trial}/sequential/a"]], [path], sequential, pool_repeats=False)
            regressions, headline = [m.label for m in result.regressions], _headline(iter(result.metrics))
        else:
            continue
        found.append(Comparison(trial, mode, case, bool(regressions), regressions, headline))
    return found


def _median(values: list[float | None]) -> float | None:
    kept = [v for v in values if v is not None]
    return statistics.median(kept) if kept else None


def summarize(comparisons: list[Comparison]) -> list[dict[str, Any]]:
    rows = []
    for case in FAULTS:
        for mode in ("sequential", "duet"):
            group = [c for c in comparisons if c.case == case and c.mode == mode]
            if not group:
                continue
            row: dict[str, Any] = {"case": case, "mode": mode, "n": len(group)}
            row["flag_rate"] = sum(c.regression for c in group) / len(group)
            for metric in HEADLINE:
                parts = [c.headline.get(metric, {}) for c in group]
                row[f"{metric}_width"] = _median([p.get("width") for p in parts])
                row[f"{metric}_mde"] = _median([p.get("mde") for p in parts])
            rows.append(row)
    return rows


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f}%"


def print_summary(rows: list[dict[str, Any]]) -> None:
    print(f"\n{'case':8} {'mode':10} {'n':>3} {'flagged':>8}  " + "  ".join(f"{m:>22}" for m in HEADLINE))
    print(f"{'':8} {'':10} {'':>3} {'':>8}  " + "  ".join(f"{'CI width / MDE':>22}" for _ in HEADLINE))
    for r in rows:
        cells = "  ".join(f"{_pct(r[f'{m}_width']):>10} / {_pct(r[f'{m}_mde']):>9}" for m in HEADLINE)
        print(f"{r['case']:8} {r['mode']:10} {r['n']:>3} {_pct(r['flag_rate']):>8}  {cells}")
    print("\nCI width ratio sequential/duet (median widths, same cases):")
    for case in FAULTS:
        pair = {r["mode"]: r for r in rows if r["case"] == case}
        if len(pair) < 2:
            continue
        ratios = []
        for m in HEADLINE:
            seq, duet = pair["sequential"][f"{m}_width"], pair["duet"][f"{m}_width"]
            ratios.append(f"{m} {seq / duet:.2f}x" if seq and duet else f"{m} -")
        print(f"  {case:8} " + "  ".join(ratios))


def targets_met(rows: list[dict[str, Any]]) -> bool:
    by = {(r["case"], r["mode"]): r for r in rows}
    cpu5, aa = by.get(("cpu5", "duet")), by.get(("aa", "duet"))
    return bool(cpu5 and aa and cpu5["flag_rate"] >= 0.95 and aa["flag_rate"] <= 0.05)


def write_json(
    path: Path, comparisons: list[Comparison], rows: list[dict[str, Any]], meta: dict[str, Any]
) -> None:
    data = {"settings": meta, "summary": rows, "comparisons": [asdict(c) for c in comparisons]}
    path.write_text(json.dumps(data, indent=2, default=str))
