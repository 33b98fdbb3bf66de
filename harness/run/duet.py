"""``harness ab``: two live targets under one load (duet), one ordinary run folder per side, then
the paired analysis (:func:`harness.compare.paired.paired_compare`) and ``ab.json``/``ab.html``.

A side is one of four kinds (:class:`SideTarget`): a running service (``--a URL``), the reference
runtime started with a profile or config file (``--a-config``), the reference runtime of a git ref
(``--a-ref``: a detached ``git worktree`` of that ref, served by this venv's python with the
worktree as cwd, removed at the end; :class:`GitWorktree`), or any HTTP service started from a
command line with a ``{port}`` placeholder (``--a-cmd``; :class:`CommandService`).

:func:`run_duet` checks the scenario and both sides (a URL passes the loopback guard; a config is
a known profile or a file; a ref resolves to a commit; a command parses and has ``{port}``), starts
the managed targets (each runtime with its own fresh state folder and model backend, on free
loopback ports) or health-probes the URLs, runs the setup steps on each
side, and drives both from one ``plan.json`` (:class:`~harness.load.contract.Plan` with ``sides``):
one open-model schedule, ``mirror`` or ``alternate`` (:mod:`harness.load.sides`). Each side is
monitored (psutil over its process tree when started by the harness or given ``--a-pid``; NaN
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
import shlex
import shutil
import subprocess
import sys
import tempfile
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
from harness.run.target import (
    PORT_PLACEHOLDER,
    CommandService,
    ManagedRuntime,
    TargetError,
    check_allowed,
    wait_reachable,
)
from harness.scenario import ResolvedScenario, ScenarioError, check_scenario

SIDES = ("a", "b")
AB_TAG, SIDE_TAG, ASSIGN_TAG = "ab", "ab_side", "ab_assign"
DEFAULT_ASSIGN = "alternate"  # measured: docs/regressions.md, "Running it"


@dataclass
class SideTarget:
    """One side, exactly one of: a running service (``url``, optionally its ``pid`` to monitor), the
    reference runtime with ``config`` (a profile name or a YAML file), the reference runtime of the
    git ``ref``, or the HTTP service started by ``cmd`` (``{port}`` is replaced by the port)."""

    url: str | None = None
    config: str | None = None
    pid: int | None = None
    ref: str | None = None
    cmd: str | None = None

    def kinds(self) -> list[str]:
        return [k for k in ("url", "config", "ref", "cmd") if getattr(self, k) is not None]


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


def resolve_ref(repo: Path, ref: str) -> str | None:
    """The commit ``ref`` names in ``repo``, or None."""
    if not ref or ref.startswith("-"):
        return None
    try:
        out = subprocess.run(
            ["git", "-C", str(repo), "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}"],
            capture_output=True,
            text=True,
            timeout=30,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() if out.returncode == 0 and out.stdout.strip() else None


def check_command(option: str, cmd: str) -> None:
    try:
        argv = shlex.split(cmd)
    except ValueError as exc:
        raise TargetError(f"{option}: cannot parse the command line: {exc}") from exc
    if not argv:
        raise TargetError(f"{option}: empty command")
    if PORT_PLACEHOLDER not in cmd:
        raise TargetError(f"{option}: the command must contain {PORT_PLACEHOLDER} (the harness picks it)")


def check_side(name: str, side: SideTarget, allow_remote: bool, repo: Path = REPO) -> str | None:
    """A usable side, before anything starts (TargetError naming the option); the commit of a ref."""
    if len(side.kinds()) != 1:
        raise TargetError(
            f"side {name}: give exactly one of --{name} URL, --{name}-config NAME|FILE, "
            f"--{name}-ref GITREF and --{name}-cmd CMD"
        )
    if side.pid is not None and side.url is None:
        raise TargetError(f"--{name}-pid: the process the harness starts is monitored already")
    if side.url is not None:
        check_allowed(side.url, allow_remote)
    elif side.config is not None:
        if side.config not in known_configs() and not Path(side.config).is_file():
            raise TargetError(
                f"--{name}-config {side.config!r}: not a profile ({', '.join(known_configs())}) nor a file"
            )
    elif side.ref is not None:
        commit = resolve_ref(repo, side.ref)
        if commit is None:
            raise TargetError(f"--{name}-ref: unknown git ref {side.ref!r}")
        return commit
    elif side.cmd is not None:
        check_command(f"--{name}-cmd", side.cmd)
    return None


@dataclass
class GitWorktree:
    """A detached ``git worktree`` of ``commit`` in a temporary folder, removed by :meth:`remove`."""

    repo: Path
    ref: str
    commit: str
    path: Path | None = None
    _tmp: Path | None = None

    def add(self) -> Path:
        self._tmp = Path(tempfile.mkdtemp(prefix="motherbox-ab-ref-"))
        path = self._tmp / "src"
        out = subprocess.run(
            ["git", "-C", str(self.repo), "worktree", "add", "--detach", str(path), self.commit],
            capture_output=True,
            text=True,
        )
        if out.returncode != 0:
            shutil.rmtree(self._tmp, ignore_errors=True)
            self._tmp = None
            raise TargetError(f"git worktree add {self.ref!r} failed: {out.stderr.strip()}")
        self.path = path
        return path

    def runtime(self, log_path: Path | None) -> ManagedRuntime:
        """``python -m reference_runtime serve ...`` with the worktree as cwd (and first on the path),
        so the worktree's ``reference_runtime`` is imported, not the one installed in the venv."""
        assert self.path is not None
        path = os.pathsep.join(p for p in (str(self.path), os.environ.get("PYTHONPATH", "")) if p)
        return ManagedRuntime(
            log_path=log_path,
            launcher=[sys.executable, "-m", "reference_runtime"],
            extra_env={"PYTHONPATH": path},
            cwd=self.path,
        )

    def remove(self) -> None:
        if self.path is not None:
            git = ["git", "-C", str(self.repo), "worktree"]
            removed = subprocess.run([*git, "remove", "--force", str(self.path)], capture_output=True)
            if removed.returncode != 0:
                shutil.rmtree(self.path, ignore_errors=True)
                subprocess.run([*git, "prune"], capture_output=True)
            self.path = None
        if self._tmp is not None:
            shutil.rmtree(self._tmp, ignore_errors=True)
            self._tmp = None


class Duet:
    def __init__(self, options: DuetOptions) -> None:
        self.o = options
        self.console = options.console or Console()
        self.runtimes: dict[str, ManagedRuntime] = {}
        self.services: dict[str, CommandService] = {}
        self.worktrees: dict[str, GitWorktree] = {}
        self.commits: dict[str, str] = {}
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
                commit = check_side(name, o.side(name), o.allow_remote, o.repo)
                if commit is not None:
                    self.commits[name] = commit
        except TargetError as exc:
            return self.fail(EXIT_USAGE, str(exc))
        ab_id = new_run_id(resolved.scenario.name)
        ab_dir = (o.out if o.out is not None else o.reports_dir / "ab") / ab_id
        try:
            return self._run(resolved, ab_id, ab_dir)
        finally:
            self._stop_targets()  # idempotent: also on an interrupt during start-up

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
        """Each side up (started by the harness, or its URL answering): (url, headers) by side."""
        scenario = resolved.scenario
        targets = {}
        for name in SIDES:
            url, key = self._start_side(name, scenario.target.health_path, side_dirs[name] / "target.log")
            api_key = api_key_headers(scenario, key, self.o.scenario_path.parent)
            targets[name] = (url, {**scenario.target.headers, **api_key})
            self.urls[name] = url
        return targets

    def _start_side(self, name: str, health_path: str, log_path: Path) -> tuple[str, str | None]:
        """One side up: its base URL and the API key of a reference runtime the harness started."""
        side = self.o.side(name)
        if side.url is not None:
            url = side.url.rstrip("/")
            wait_reachable(url, health_path, timeout_s=10.0)
            return url, None
        if side.cmd is not None:
            self._say(f"starting side {name}: {side.cmd}")
            service = CommandService(side.cmd, health_path, log_path, option=f"--{name}-cmd")
            self.services[name] = service
            service.start()
            return service.url, None
        if side.ref is not None:
            commit = self.commits[name]
            self._say(f"starting the reference runtime of {side.ref} ({commit[:12]}) for side {name} ...")
            worktree = GitWorktree(self.o.repo, side.ref, commit)
            self.worktrees[name] = worktree
            worktree.add()
            runtime = worktree.runtime(log_path)
        else:
            self._say(f"starting the reference runtime for side {name} ...")
            runtime = ManagedRuntime(config=side.config, log_path=log_path)
        self.runtimes[name] = runtime
        runtime.start()
        return runtime.url, runtime.api_key()

    def _say(self, message: str) -> None:
        if not self.o.quiet:
            self.console.print(message, highlight=False)

    def _pid(self, name: str) -> int | None:
        if name in self.runtimes:
            return self.runtimes[name].pid
        if name in self.services:
            return self.services[name].pid
        return self.o.side(name).pid

    def _start_monitors(
        self, resolved: ResolvedScenario, targets: dict[str, tuple[str, dict[str, str]]]
    ) -> None:
        spec = resolved.scenario.monitor
        for name, (url, headers) in targets.items():
            if not spec.enabled:
                reason = "monitor disabled in scenario"
                self.not_measured[name].append(rundir.NotMeasured(metric="resources", reason=reason))
                continue
            pid = self._pid(name)
            self.monitors[name] = Monitor(
                pids=[pid] if pid else [],
                metrics_url=url + "/v1/metrics/prometheus" if name in self.runtimes else None,
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
        pid = self._pid(name)
        ref = self.o.side(name).ref
        return rundir.TargetInfo(
            url=self.urls.get(name, ""),
            managed=runtime is not None or name in self.services,
            config_profile=(runtime.config or "default") if runtime is not None else None,
            pids=[pid] if pid else [],
            version=f"git {ref} {self.commits[name][:12]}" if ref is not None else None,
        )

    def _stop_targets(self) -> None:
        """Every process the harness started, then the worktrees they ran from (idempotent)."""
        for runtime in self.runtimes.values():
            runtime.stop()
        for service in self.services.values():
            service.stop()
        for worktree in self.worktrees.values():
            worktree.remove()

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
