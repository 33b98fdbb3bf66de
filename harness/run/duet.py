"""``harness ab``: two live targets under one load (duet), one ordinary run folder per side, then
the paired analysis (:func:`harness.compare.paired.paired_compare_repeats`) and
``ab.json``/``ab.html``.

A side is one of four kinds (:class:`SideTarget`, :mod:`harness.run.duet_targets`, which also
starts, watches and stops them): a running service (``--a URL``), the reference runtime started
with a profile or config file (``--a-config``), the reference runtime of a git ref (``--a-ref``: a
detached ``git worktree`` of that ref, served by this venv's python with the worktree as cwd,
removed at the end; :class:`GitWorktree`), or any HTTP service started from a command line with a
``{port}`` placeholder (``--a-cmd``; :class:`CommandService`).

:func:`run_duet` checks the scenario and both sides (a URL passes the loopback guard; a config is
a known profile or a file; a ref resolves to a commit; a command parses and has ``{port}``), starts
the managed targets (each runtime with its own fresh state folder and model backend, on free
loopback ports) or health-probes the URLs, runs the setup steps on each
side, and drives both from one ``plan.json`` (:class:`~harness.load.contract.Plan` with ``sides``):
one open-model schedule, ``mirror`` or ``alternate`` (:mod:`harness.load.sides`). Each side is
monitored (psutil over its process tree when started by the harness or given ``--a-pid``; NaN
otherwise). The samples are split by side into ``<ab>/a`` and ``<ab>/b``, each closed through the
normal after-run pipeline with the same window (start and duration) and the tags ``ab``,
``ab_side``, ``ab_assign``. ``--repeat N``: the targets stay up and N measured windows run back to
back (the setup steps once, each window its own ``plan.json`` with its own seed), each into
``<ab>/a-<i>`` and ``<ab>/b-<i>`` (tagged as a repeat group per side), and the paired analysis
pools the windows of all repeats (:func:`harness.compare.paired.paired_compare_repeats`).
``--profile cpu``: py-spy on each side's target over each measured window
(:mod:`harness.run.duet_profile`), the files in each side's run folder, the differential hotspots
in ``ab.json``. CPU set: the managed targets inherit the harness's CPU affinity, so
both sides share one CPU set (pin the harness with ``taskset`` to choose it).

Exit codes: 0 no regression, 1 regression (or ``--gate`` failed on side b), 2 usage or input
error (nothing written), 3 aborted or target unreachable (nothing written when it happens before
the load) and, with ``--require-power``, an inconclusive result.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console

from harness.contract import lifecycle, rundir
from harness.contract.meta import REPO, GitInfo
from harness.contract.rundir import RunStatus
from harness.load.contract import Plan
from harness.load.plan import SetupError, api_key_headers
from harness.load.sides import ASSIGN_MODES
from harness.run import finalize, pipeline
from harness.run.duet_profile import AB_PROFILE_KINDS, SideProfilers, no_pid_reason
from harness.run.duet_targets import (
    CommandService,
    DuetTargets,
    GitWorktree,
    SideTarget,
    check_side,
    known_configs,
    resolve_ref,
)
from harness.run.finalize import Measured, now_iso
from harness.run.loadpass import LoadPass
from harness.run.monitor import Monitor
from harness.run.options import (
    DEFAULT_REPORTS_DIR,
    EXIT_ABORTED,
    EXIT_FAILED,
    EXIT_OK,
    EXIT_USAGE,
    RunOptions,
    RunResult,
)
from harness.run.orchestrator import new_run_id
from harness.run.progress import Progress
from harness.run.repeat import repeat_tags
from harness.run.target import TargetError
from harness.scenario import ResolvedScenario, ScenarioError, check_scenario

__all__ = [  # the sides' kinds live in duet_targets; re-exported for the command, calibrate and tests
    "CommandService",
    "DuetOptions",
    "DuetResult",
    "GitWorktree",
    "SideTarget",
    "known_configs",
    "resolve_ref",
    "run_duet",
]

SIDES = ("a", "b")
AB_TAG, SIDE_TAG, ASSIGN_TAG = "ab", "ab_side", "ab_assign"
DEFAULT_ASSIGN = "mirror"  # measured on the reference runtime: docs/regressions.md, "Running it"


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
    reports_dir: Path = DEFAULT_REPORTS_DIR
    repo: Path = REPO  # the git repository --a-ref/--b-ref name commits of
    tags: dict[str, str] = field(default_factory=dict)
    allow_remote: bool = False
    gate: bool = False  # also gate side b as `harness run --gate` would
    require_power: bool = False  # an inconclusive result exits 3
    quiet: bool = False
    cli: list[str] = field(default_factory=list)
    console: Console | None = None
    repeat: int = 1  # measured windows back to back, the targets up throughout; pooled analysis
    profile: list[str] = field(default_factory=list)  # "cpu": py-spy on each side (duet_profile)
    api_key: str | None = None  # --api-key / $HARNESS_API_KEY: the key of the URL sides; never on disk

    def side(self, name: str) -> SideTarget:
        return self.a if name == "a" else self.b


@dataclass(frozen=True)
class DuetResult:
    exit_code: int
    ab_dir: Path | None = None
    runs: dict[str, RunResult] = field(default_factory=dict)  # by run folder name: a, b (a-1, b-1 ...)
    result: Any = None  # harness.compare.ab_result.AbResult
    json_path: Path | None = None
    html_path: Path | None = None


def side_folder(name: str, index: int, repeats: int) -> str:
    """The run folder of side ``name`` in repeat ``index`` (0-based): ``a``/``b`` for one window,
    ``a-1``/``b-1``, ``a-2``/``b-2`` ... for ``--repeat N``."""
    return name if repeats == 1 else f"{name}-{index + 1}"


def rate_share(assign: str) -> float:
    """Each side's share of the schedule: ``mirror`` sends every request to both sides (1.0),
    ``alternate`` each request to one of them (1 / 2); its run folder's target rates are that share."""
    return 1.0 if assign == "mirror" else 1.0 / len(SIDES)


def repeat_plan(first: Plan, work: Path, run_id: str, index: int) -> Plan:
    """Repeat ``index``'s plan: the first window's (the setup ran once, the targets stayed up) with
    its own run id, work folder and seed (a fresh draw of the mix and, with ``alternate``, of the
    side assignment). In memory: the plan holds the key, and it reaches the driver on stdin."""
    return first.model_copy(update={"run_id": run_id, "work_dir": str(work), "seed": first.seed + index})


class Duet:
    def __init__(self, options: DuetOptions) -> None:
        self.o = options
        self.console = options.console or Console()
        self.commits: dict[str, str] = {}
        self.targets = DuetTargets({s: options.side(s) for s in SIDES}, options.repo, self.commits, self._say)
        self.monitors: dict[str, Monitor] = {}
        self.not_measured: dict[str, list[rundir.NotMeasured]] = {s: [] for s in SIDES}
        self.started_at = ""  # of the current window
        self.profilers: SideProfilers | None = None
        self.ab_dir = Path()

    def fail(self, code: int, message: str) -> DuetResult:
        self.console.print(f"[red]error:[/] {message}", highlight=False)
        return DuetResult(code)

    def _check_options(self) -> str | None:
        """The problem with the options that need no scenario, or None."""
        o = self.o
        if o.assign not in ASSIGN_MODES:
            return f"--assign {o.assign!r}: choose from {', '.join(ASSIGN_MODES)}"
        if o.repeat < 1:
            return f"--repeat {o.repeat}: must be at least 1"
        other = sorted(set(o.profile) - set(AB_PROFILE_KINDS))
        if other:
            return f"--profile {','.join(other)}: harness ab profiles only cpu (py-spy attached to each side)"
        try:
            for name in SIDES:
                commit = check_side(name, o.side(name), o.allow_remote, o.repo)
                if commit is not None:
                    self.commits[name] = commit
        except TargetError as exc:
            return str(exc)
        return None

    def execute(self) -> DuetResult:
        o = self.o
        try:
            resolved = check_scenario(o.scenario_path, time_scale=o.time_scale, duration_s=o.duration_s)
        except ScenarioError as exc:
            return self.fail(EXIT_USAGE, "; ".join(str(issue) for issue in exc.issues))
        problem = self._check_options()
        if problem is not None:
            return self.fail(EXIT_USAGE, problem)
        ab_id = new_run_id(resolved.scenario.name)
        ab_dir = (o.out if o.out is not None else o.reports_dir / "ab") / ab_id
        self.ab_dir = ab_dir
        try:
            return self._run(resolved, ab_id, ab_dir)
        finally:
            self.targets.stop()  # idempotent: also on an interrupt during start-up

    def _run(self, resolved: ResolvedScenario, ab_id: str, ab_dir: Path) -> DuetResult:
        work = ab_dir / finalize.WORK_DIR
        works = [work / str(i + 1) for i in range(self.o.repeat)]
        works[0].mkdir(parents=True)
        first = {name: ab_dir / side_folder(name, 0, self.o.repeat) for name in SIDES}
        for path in first.values():
            path.mkdir()
        load, progress = self._load_pass(resolved, ab_id if self.o.repeat == 1 else f"{ab_id}-1", works[0])
        try:
            targets = self._start_targets(resolved, first)
            contexts = load.prepare_sides(targets, self.o.assign)
            first_plan = load.plan
            assert first_plan is not None  # prepare_sides built it
        except (TargetError, SetupError) as exc:
            self.targets.stop()
            shutil.rmtree(ab_dir, ignore_errors=True)
            return self.fail(EXIT_ABORTED, str(exc))
        self._note_unprofiled()
        windows: list[dict[str, RunResult]] = []
        for index in range(self.o.repeat):
            if index:
                run_id = f"{ab_id}-{index + 1}"
                works[index].mkdir(parents=True)
                load, progress = self._load_pass(resolved, run_id, works[index])
                load.use_plan(repeat_plan(first_plan, works[index], run_id, index))
            windows.append(self._window(resolved, load, progress, targets, contexts, ab_id, index))
            if any(r.manifest is None or r.manifest.status != "complete" for r in windows[-1].values()):
                break  # an aborted window ends the series: nothing to pool after it
        self.targets.stop()
        shutil.rmtree(work, ignore_errors=True)
        return self._conclude(ab_dir, windows)

    def _load_pass(self, resolved: ResolvedScenario, run_id: str, work: Path) -> tuple[LoadPass, Progress]:
        progress = Progress(self.console, resolved, self.o.quiet)
        options = self._run_options({})
        load = LoadPass(resolved, options, work, run_id=run_id, csv_prefix=None, on_progress=progress.update)
        return load, progress

    def _window(
        self,
        resolved: ResolvedScenario,
        load: LoadPass,
        progress: Progress,
        targets: dict[str, tuple[str, dict[str, str]]],
        contexts: dict[str, Any],
        ab_id: str,
        index: int,
    ) -> dict[str, RunResult]:
        """One measured window: monitors (and py-spy) on both sides, the load, two run folders."""
        repeats = self.o.repeat
        folders = {name: side_folder(name, index, repeats) for name in SIDES}
        side_dirs = {name: self.ab_dir / folder for name, folder in folders.items()}
        for path in side_dirs.values():
            path.mkdir(exist_ok=True)
        run_ids = {name: f"{ab_id}-{folder}" for name, folder in folders.items()}
        self.not_measured = {s: [] for s in SIDES}
        self._make_profilers(resolved, side_dirs, run_ids)
        self.started_at = now_iso()
        self._start_monitors(resolved, targets)
        status, reason, infos = self._measure(load, progress)
        with lifecycle.deferred():  # a signal now is noted; both run folders are written whole
            return self._close_window(resolved, load, status, reason, infos, contexts, ab_id, index)

    def _close_window(
        self,
        resolved: ResolvedScenario,
        load: LoadPass,
        status: RunStatus,
        reason: str | None,
        infos: dict[str, rundir.TargetInfo],
        contexts: dict[str, Any],
        ab_id: str,
        index: int,
    ) -> dict[str, RunResult]:
        folders = {name: side_folder(name, index, self.o.repeat) for name in SIDES}
        side_dirs = {name: self.ab_dir / folder for name, folder in folders.items()}
        run_ids = {name: f"{ab_id}-{folder}" for name, folder in folders.items()}
        frames = {name: m.frame() for name, m in self.monitors.items()}
        collected = finalize.collect_sides(
            resolved, load.work_dir, side_dirs, status, reason, announced_t0=load.t0, monitors=frames
        )
        runs = {}
        for name in SIDES:
            measured = Measured(
                resolved=resolved,
                run_id=run_ids[name],
                run_dir=side_dirs[name],
                started_at=self.started_at,
                collected=collected,
                target=infos[name],
                context=contexts[name],
                monitor=frames.get(name),
                not_measured=self.not_measured[name],
                profiles=self.profilers.records(name) if self.profilers is not None else {},
                rate_share=rate_share(self.o.assign),
            )
            options = self._side_options(ab_id, name, index)
            runs[folders[name]] = pipeline.after_run(measured, options, self.console)
        return runs

    # -------------------------------------------------------- targets, monitors, profilers

    def _start_targets(
        self, resolved: ResolvedScenario, side_dirs: dict[str, Path]
    ) -> dict[str, tuple[str, dict[str, str]]]:
        """Each side up (started by the harness, or its URL answering): (url, headers) by side."""
        scenario = resolved.scenario
        targets = {}
        for name in SIDES:
            url, key = self.targets.start(name, scenario.target.health_path, side_dirs[name] / "target.log")
            api_key = api_key_headers(scenario, key, self.o.scenario_path.parent, given_key=self.o.api_key)
            targets[name] = (url, {**scenario.target.headers, **api_key})
        return targets

    def _say(self, message: str) -> None:
        if not self.o.quiet:
            self.console.print(message, highlight=False)

    def _note_unprofiled(self) -> None:
        """With --profile cpu, say before the load which side cannot be profiled (no crash)."""
        if "cpu" in self.o.profile:
            for name in SIDES:
                if self.targets.pid(name) is None:
                    self.console.print(
                        f"[yellow]note:[/] side {name} is not CPU-profiled: {no_pid_reason(name)}",
                        highlight=False,
                    )

    def _make_profilers(
        self, resolved: ResolvedScenario, side_dirs: dict[str, Path], run_ids: dict[str, str]
    ) -> None:
        self.profilers = None
        if "cpu" not in self.o.profile:
            return
        self.profilers = SideProfilers(resolved.scenario.profile, self.console, side_dirs, run_ids)
        for name in SIDES:
            if self.targets.pid(name) is None:
                self.profilers.skip(name, no_pid_reason(name))

    def _start_monitors(
        self, resolved: ResolvedScenario, targets: dict[str, tuple[str, dict[str, str]]]
    ) -> None:
        spec = resolved.scenario.monitor
        self.monitors = {}
        for name, (url, headers) in targets.items():
            if not spec.enabled:
                reason = "monitor disabled in scenario"
                self.not_measured[name].append(rundir.NotMeasured(metric="resources", reason=reason))
                continue
            pid = self.targets.pid(name)
            self.monitors[name] = Monitor(
                pids=[pid] if pid else [],
                metrics_url=url + "/v1/metrics/prometheus" if self.targets.is_runtime(name) else None,
                headers=headers,
                interval_s=spec.interval,
            )
        for monitor in self.monitors.values():
            monitor.start()

    def _measure(
        self, load: LoadPass, progress: Progress
    ) -> tuple[RunStatus, str | None, dict[str, rundir.TargetInfo]]:
        """The load with py-spy attached; whatever happens, py-spy, the Locust processes and the
        monitors end (the targets stay up for the next window; :meth:`_run` stops them)."""
        status: RunStatus = "complete"
        reason: str | None = None
        try:
            with progress:
                load.start()
                if self.profilers is not None:
                    self.profilers.attach({name: self.targets.pid(name) for name in SIDES})
                status, reason = load.wait()
        except KeyboardInterrupt as exc:  # Ctrl-C or SIGTERM (harness.contract.lifecycle)
            status, reason = "aborted", lifecycle.interrupt_reason(exc)
            with lifecycle.deferred():
                load.interrupt()
        finally:
            with lifecycle.deferred():  # stopping is not cut short by a second signal
                if self.profilers is not None:
                    self.profilers.stop()
                load.stop()
                for monitor in self.monitors.values():
                    monitor.stop()
                infos = {name: self.targets.info(name) for name in SIDES}
        for name, monitor in self.monitors.items():
            for metric, why in monitor.not_measured.items():
                self.not_measured[name].append(rundir.NotMeasured(metric=metric, reason=why))
        return status, reason, infos

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

    def _side_options(self, ab_id: str, name: str, index: int) -> RunOptions:
        tags = {AB_TAG: ab_id, SIDE_TAG: name, ASSIGN_TAG: self.o.assign}
        if self.o.repeat > 1:  # each side's repeats are one repeat group: `harness compare` pools them
            tags.update(repeat_tags(f"{ab_id}-{name}", index, self.o.repeat))
        options = self._run_options(tags)
        options.gate = self.o.gate and name == "b"
        ref = self.o.side(name).ref
        if ref is not None:  # the side ran the ref's code, not this checkout's
            options.git = GitInfo(commit=self.commits[name], branch=ref, dirty=False)
        return options

    def _conclude(self, ab_dir: Path, windows: list[dict[str, RunResult]]) -> DuetResult:
        runs = {folder: run for window in windows for folder, run in window.items()}
        if len(windows) < self.o.repeat or any(
            r.manifest is None or r.manifest.status != "complete" for r in runs.values()
        ):
            self.console.print("[red]aborted:[/] no paired comparison of an incomplete run", highlight=False)
            return DuetResult(EXIT_ABORTED, ab_dir, runs)
        from harness.compare.paired import paired_compare_repeats
        from harness.report.ab_page import write_ab

        pairs = [
            (ab_dir / side_folder("a", i, self.o.repeat), ab_dir / side_folder("b", i, self.o.repeat))
            for i in range(self.o.repeat)
        ]
        result = paired_compare_repeats(pairs, self.o.settings)
        json_path, html_path = write_ab(result, ab_dir)
        code = EXIT_OK
        gates = [window[side_folder("b", i, self.o.repeat)] for i, window in enumerate(windows)]
        if result.has_regression or any(run.exit_code == EXIT_FAILED for run in gates):
            code = EXIT_FAILED
        elif self.o.require_power and result.inconclusive:
            code = EXIT_ABORTED
        return DuetResult(code, ab_dir, runs, result, json_path, html_path)


def run_duet(options: DuetOptions) -> DuetResult:
    """``harness ab``: both targets under one load, two run folders per window, the paired comparison."""
    return Duet(options).execute()
