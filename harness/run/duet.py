"""``harness ab``: two live targets under one load (duet), one ordinary run folder per side, then
the paired analysis (:func:`harness.compare.paired.paired_compare`) and ``ab.json``/``ab.html``.

:func:`run_duet` checks the scenario and both sides (a URL passes the loopback guard; a config is
a known profile or a file), starts the managed runtimes (each with its own fresh state folder and
model backend, on free loopback ports) or health-probes the URLs, runs the setup steps on each
side, and drives both from one ``plan.json`` (:class:`~harness.load.contract.Plan` with ``sides``):
one open-model schedule, ``mirror`` or ``alternate`` (:mod:`harness.load.sides`). Each side is
monitored (psutil over its process tree when managed or given ``--a-pid``/``--b-pid``; NaN
otherwise). The samples are split by side into ``<ab>/a`` and ``<ab>/b``, each closed through the
normal after-run pipeline with the same window (start and duration) and the tags ``ab``,
``ab_side``, ``ab_assign``. CPU set: the managed targets inherit the harness's CPU affinity, so
both sides share one CPU set (pin the harness with ``taskset`` to choose it).

Exit codes: 0 no regression, 1 regression (or ``--gate`` failed on side b), 2 usage or input
error (nothing written), 3 aborted or target unreachable (nothing written when it happens before
the load) and, with ``--require-power``, an inconclusive result.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console

from harness.contract import rundir
from harness.contract.meta import REPO
from harness.contract.rundir import RunStatus
from harness.load.plan import SetupError, api_key_headers
from harness.load.sides import ASSIGN_MODES
from harness.run import finalize, pipeline
from harness.run.finalize import Measured, now_iso
from harness.run.loadpass import LoadPass
from harness.run.monitor import Monitor
from harness.run.options import EXIT_ABORTED, EXIT_FAILED, EXIT_OK, EXIT_USAGE, RunOptions, RunResult
from harness.run.orchestrator import new_run_id
from harness.run.progress import Progress
from harness.run.target import ManagedRuntime, TargetError, check_allowed, wait_reachable
from harness.scenario import ResolvedScenario, ScenarioError, check_scenario

SIDES = ("a", "b")
AB_TAG, SIDE_TAG, ASSIGN_TAG = "ab", "ab_side", "ab_assign"
DEFAULT_ASSIGN = "alternate"  # measured: docs/regressions.md, "Running it"


@dataclass
class SideTarget:
    """One side: a running service (``url``, optionally its ``pid`` to monitor) or a managed
    reference runtime with ``config`` (a profile name or a YAML file)."""

    url: str | None = None
    config: str | None = None
    pid: int | None = None


@dataclass
class DuetOptions:
    scenario_path: Path
    a: SideTarget
    b: SideTarget
    settings: Any  # harness.compare.paired.PairedSettings
    assign: str = DEFAULT_ASSIGN
    time_scale: float = 1.0
    duration_s: float | None = None
    out: Path | None = None  # default <reports_dir>/ab
    reports_dir: Path = Path(os.environ.get("HARNESS_REPORTS_DIR", "reports"))
    tags: dict[str, str] = field(default_factory=dict)
    allow_remote: bool = False
    gate: bool = False  # also gate side b as `harness run --gate` would
    require_power: bool = False  # an inconclusive result exits 3
    quiet: bool = False
    cli: list[str] = field(default_factory=list)
    console: Console | None = None

    def side(self, name: str) -> SideTarget:
        return self.a if name == "a" else self.b


@dataclass(frozen=True)
class DuetResult:
    exit_code: int
    ab_dir: Path | None = None
    runs: dict[str, RunResult] = field(default_factory=dict)
    result: Any = None  # harness.compare.ab_result.AbResult
    json_path: Path | None = None
    html_path: Path | None = None


def known_configs() -> list[str]:
    return sorted(p.stem for p in (REPO / "reference_runtime" / "config").glob("*.yaml"))


def check_side(name: str, side: SideTarget, allow_remote: bool) -> None:
    """A usable side, before anything starts (TargetError naming the option)."""
    if (side.url is None) == (side.config is None):
        raise TargetError(f"side {name}: give exactly one of --{name} URL and --{name}-config NAME|FILE")
    if side.url is not None:
        check_allowed(side.url, allow_remote)
    elif side.config not in known_configs() and not Path(str(side.config)).is_file():
        raise TargetError(
            f"--{name}-config {side.config!r}: not a profile ({', '.join(known_configs())}) nor a file"
        )
    if side.pid is not None and side.url is None:
        raise TargetError(f"--{name}-pid: the managed runtime's process is monitored already")


class Duet:
    def __init__(self, options: DuetOptions) -> None:
        self.o = options
        self.console = options.console or Console()
        self.runtimes: dict[str, ManagedRuntime] = {}
        self.monitors: dict[str, Monitor] = {}
        self.urls: dict[str, str] = {}
        self.not_measured: dict[str, list[rundir.NotMeasured]] = {s: [] for s in SIDES}

    def fail(self, code: int, message: str) -> DuetResult:
        self.console.print(f"[red]error:[/] {message}", highlight=False)
        return DuetResult(code)

    def execute(self) -> DuetResult:
        o = self.o
        try:
            resolved = check_scenario(o.scenario_path, time_scale=o.time_scale, duration_s=o.duration_s)
        except ScenarioError as exc:
            return self.fail(EXIT_USAGE, "; ".join(str(issue) for issue in exc.issues))
        if o.assign not in ASSIGN_MODES:
            return self.fail(EXIT_USAGE, f"--assign {o.assign!r}: choose from {', '.join(ASSIGN_MODES)}")
        try:
            for name in SIDES:
                check_side(name, o.side(name), o.allow_remote)
        except TargetError as exc:
            return self.fail(EXIT_USAGE, str(exc))
        ab_id = new_run_id(resolved.scenario.name)
        ab_dir = (o.out if o.out is not None else o.reports_dir / "ab") / ab_id
        return self._run(resolved, ab_id, ab_dir)

    def _run(self, resolved: ResolvedScenario, ab_id: str, ab_dir: Path) -> DuetResult:
        side_dirs = {name: ab_dir / name for name in SIDES}
        work = ab_dir / finalize.WORK_DIR
        work.mkdir(parents=True)
        for path in side_dirs.values():
            path.mkdir()
        started_at = now_iso()
        progress = Progress(self.console, resolved, self.o.quiet)
        load = LoadPass(
            resolved, self._run_options({}), work, run_id=ab_id, csv_prefix=None, on_progress=progress.update
        )
        try:
            targets = self._start_targets(resolved, side_dirs)
            contexts = load.prepare_sides(targets, self.o.assign)
        except (TargetError, SetupError) as exc:
            self._stop_targets()
            shutil.rmtree(ab_dir, ignore_errors=True)
            return self.fail(EXIT_ABORTED, str(exc))
        self._start_monitors(resolved, targets)
        status, reason, infos = self._measure(load, progress)
        frames = {name: m.frame() for name, m in self.monitors.items()}
        collected = finalize.collect_sides(
            resolved, work, side_dirs, status, reason, announced_t0=load.t0, monitors=frames
        )
        runs = {}
        for name in SIDES:
            measured = Measured(
                resolved=resolved,
                run_id=f"{ab_id}-{name}",
                run_dir=side_dirs[name],
                started_at=started_at,
                collected=collected,
                target=infos[name],
                context=contexts[name],
                monitor=frames.get(name),
                not_measured=self.not_measured[name],
            )
            runs[name] = pipeline.after_run(measured, self._side_options(ab_id, name), self.console)
        shutil.rmtree(work, ignore_errors=True)
        return self._conclude(ab_dir, runs)

    # -------------------------------------------------------- targets and monitors

    def _start_targets(
        self, resolved: ResolvedScenario, side_dirs: dict[str, Path]
    ) -> dict[str, tuple[str, dict[str, str]]]:
        """Each side up (managed runtimes started, URLs answering): (url, headers) by side."""
        scenario = resolved.scenario
        targets = {}
        for name in SIDES:
            side = self.o.side(name)
            key = None
            if side.url is not None:
                url = side.url.rstrip("/")
                wait_reachable(url, scenario.target.health_path, timeout_s=10.0)
            else:
                if not self.o.quiet:
                    self.console.print(f"starting the reference runtime for side {name} ...", highlight=False)
                runtime = ManagedRuntime(config=side.config, log_path=side_dirs[name] / "target.log")
                self.runtimes[name] = runtime
                runtime.start()
                url, key = runtime.url, runtime.api_key()
            api_key = api_key_headers(scenario, key, self.o.scenario_path.parent)
            targets[name] = (url, {**scenario.target.headers, **api_key})
            self.urls[name] = url
        return targets

    def _start_monitors(
        self, resolved: ResolvedScenario, targets: dict[str, tuple[str, dict[str, str]]]
    ) -> None:
        spec = resolved.scenario.monitor
        for name, (url, headers) in targets.items():
            if not spec.enabled:
                reason = "monitor disabled in scenario"
                self.not_measured[name].append(rundir.NotMeasured(metric="resources", reason=reason))
                continue
            runtime = self.runtimes.get(name)
            pid = runtime.pid if runtime is not None else self.o.side(name).pid
            self.monitors[name] = Monitor(
                pids=[pid] if pid else [],
                metrics_url=url + "/v1/metrics/prometheus" if runtime is not None else None,
                headers=headers,
                interval_s=spec.interval,
            )
        for monitor in self.monitors.values():
            monitor.start()

    def _measure(
        self, load: LoadPass, progress: Progress
    ) -> tuple[RunStatus, str | None, dict[str, rundir.TargetInfo]]:
        """The load; whatever happens, the Locust processes, the monitors and the runtimes end."""
        status: RunStatus = "complete"
        reason: str | None = None
        try:
            with progress:
                load.start()
                status, reason = load.wait()
        except KeyboardInterrupt:
            status, reason = "aborted", "interrupted (Ctrl-C)"
            load.interrupt()
        finally:
            load.stop()
            for monitor in self.monitors.values():
                monitor.stop()
            infos = {name: self._target_info(name) for name in SIDES}
            self._stop_targets()
        for name, monitor in self.monitors.items():
            for metric, why in monitor.not_measured.items():
                self.not_measured[name].append(rundir.NotMeasured(metric=metric, reason=why))
        return status, reason, infos

    def _target_info(self, name: str) -> rundir.TargetInfo:
        runtime = self.runtimes.get(name)
        pid = runtime.pid if runtime is not None else self.o.side(name).pid
        return rundir.TargetInfo(
            url=self.urls.get(name, ""),
            managed=runtime is not None,
            config_profile=(runtime.config or "default") if runtime is not None else None,
            pids=[pid] if pid else [],
        )

    def _stop_targets(self) -> None:
        for runtime in self.runtimes.values():
            runtime.stop()

    # -------------------------------------------------------- run folders and the analysis

    def _run_options(self, tags: dict[str, str]) -> RunOptions:
        o = self.o
        return RunOptions(
            scenario_path=o.scenario_path,
            time_scale=o.time_scale,
            duration_s=o.duration_s,
            reports_dir=o.reports_dir,
            tags={**o.tags, **tags},
            allow_remote=o.allow_remote,
            report=False,
            cli=o.cli,
            quiet=o.quiet,
            console=self.console,
        )

    def _side_options(self, ab_id: str, name: str) -> RunOptions:
        options = self._run_options({AB_TAG: ab_id, SIDE_TAG: name, ASSIGN_TAG: self.o.assign})
        options.gate = self.o.gate and name == "b"
        return options

    def _conclude(self, ab_dir: Path, runs: dict[str, RunResult]) -> DuetResult:
        if any(r.manifest is None or r.manifest.status != "complete" for r in runs.values()):
            self.console.print("[red]aborted:[/] no paired comparison of an incomplete run", highlight=False)
            return DuetResult(EXIT_ABORTED, ab_dir, runs)
        from harness.compare.paired import paired_compare
        from harness.report.ab_page import write_ab

        result = paired_compare(ab_dir / "a", ab_dir / "b", self.o.settings)
        json_path, html_path = write_ab(result, ab_dir)
        code = EXIT_OK
        if result.has_regression or runs["b"].exit_code == EXIT_FAILED:
            code = EXIT_FAILED
        elif self.o.require_power and result.inconclusive:
            code = EXIT_ABORTED
        return DuetResult(code, ab_dir, runs, result, json_path, html_path)


def run_duet(options: DuetOptions) -> DuetResult:
    """``harness ab``: both targets under one load, two run folders, the paired comparison."""
    return Duet(options).execute()
