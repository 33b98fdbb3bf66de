"""One run, end to end: scenario -> target -> load pass -> run folder -> after-run pipeline.

:class:`Run` checks the scenario, starts the target (the managed reference runtime, or checks a
``--target``), runs the measured :class:`~harness.run.loadpass.LoadPass` with the monitor and the
attached profilers, then the memray pass if asked (:mod:`harness.run.memory_pass`), collects the
samples (:mod:`harness.run.finalize`) and hands over to :func:`harness.run.pipeline.after_run`
(derive -> verdict -> report -> index -> history).

Exit codes (:mod:`harness.run.options`): 0 complete, 1 a gate failed (``--gate``), 2 usage or
scenario error, an output folder that cannot be written, a bad ``--config``/``--baseline``
(:mod:`harness.run.preflight`; nothing written), 3 run aborted or incomplete: Ctrl-C, SIGTERM, a
write error such as a full disk, the load generator failing (what was collected is written,
status ``aborted`` with the reason; the work folder is removed either way).

Stopping: Ctrl-C and SIGTERM (:mod:`harness.contract.lifecycle`) during the load stop the Locust
processes, which write what they collected; stopping the processes and closing the run folder
(samples, derived files, manifest, report, history) then run to the end, a further signal noted
but not cutting them short. Before the load starts, an interrupt stops the target and removes
the run folder.
"""

from __future__ import annotations

import datetime as dt
import secrets
import shutil
from pathlib import Path

from rich.console import Console

from harness.contract import lifecycle, rundir
from harness.contract.egress import Egress
from harness.contract.rundir import RunStatus
from harness.load.plan import SetupError, api_key_headers
from harness.profiling.session import (
    PROFILES_DIR,
    ProfilerSet,
    managed_own_prefixes,
    profiles_root,
    wanted_kinds,
)
from harness.run import finalize, pipeline, preflight
from harness.run.finalize import Measured, now_iso
from harness.run.loadpass import LoadPass
from harness.run.memory_pass import memory_pass
from harness.run.monitor import Monitor
from harness.run.options import EXIT_ABORTED, EXIT_USAGE, RunOptions, RunResult
from harness.run.progress import Progress
from harness.run.target import ManagedRuntime, TargetError, check_allowed, wait_reachable
from harness.scenario import ResolvedScenario, ScenarioError, check_scenario
from harness.scenario.schema import Target


def new_run_id(name: str) -> str:
    return f"{dt.datetime.now(dt.UTC):%Y%m%dT%H%M%SZ}-{name}-{secrets.token_hex(2)}"


class Run:
    def __init__(self, options: RunOptions) -> None:
        self.o = options
        self.console = options.console or Console(stderr=False)
        self.runtime: ManagedRuntime | None = None
        self.monitor: Monitor | None = None
        self.egress: Egress | None = None  # the target's origin: where credentials may go
        self.profilers: ProfilerSet | None = None
        self.not_measured: list[rundir.NotMeasured] = []

    def fail(self, code: int, message: str) -> RunResult:
        self.console.print(f"[red]error:[/] {message}", highlight=False, soft_wrap=True)
        return RunResult(code)

    def execute(self) -> RunResult:
        o = self.o
        stopped = lifecycle.stop_requested()
        if stopped is not None:  # e.g. the next run of --repeat after a SIGTERM
            return self.fail(EXIT_ABORTED, f"not started: stopping on {stopped}")
        problem = preflight.numbers_problem(o)
        if problem is not None:
            return self.fail(EXIT_USAGE, problem)
        try:
            resolved = check_scenario(o.scenario_path, time_scale=o.time_scale, duration_s=o.duration_s)
        except ScenarioError as exc:
            for issue in exc.issues:
                self.console.print(f"[red]error:[/] {issue}", highlight=False, soft_wrap=True)
            return RunResult(EXIT_USAGE)
        url = o.target or resolved.scenario.target.url
        problem = self._preflight(resolved, url)
        if problem is not None:
            return self.fail(EXIT_USAGE, problem)
        return self._run(resolved, url)

    def _preflight(self, resolved: ResolvedScenario, url: str | None) -> str | None:
        """What makes the run impossible before any load (:mod:`harness.run.preflight`), or None."""
        o = self.o
        if url is not None:
            try:
                check_allowed(url, o.allow_remote)
            except TargetError as exc:
                return str(exc)
            except ValueError as exc:  # urllib cannot even split it
                return f"target {url!r}: {exc}"
        else:
            problem = preflight.config_problem(o.runtime_config or resolved.scenario.target.runtime_config)
            if problem is not None:
                return problem
        kinds = wanted_kinds(o.profile, resolved.scenario.profile.model_copy(update=o.profile_overrides))
        profiles = (o.profiles_dir or profiles_root()) if kinds else None
        return preflight.output_problem(o, profiles) or preflight.baseline_problem(o)

    def _run(self, resolved: ResolvedScenario, url: str | None) -> RunResult:
        o = self.o
        run_id = new_run_id(resolved.scenario.name)
        run_dir = (o.out if o.out is not None else o.reports_dir / "runs") / run_id
        started_at = now_iso()
        progress = Progress(self.console, resolved, o.quiet, live=o.live, web_port=o.web, run_id=run_id)
        try:
            load, url, headers = self._prepare(resolved, url, run_id, run_dir, progress)
        except (TargetError, SetupError, OSError, KeyboardInterrupt) as exc:
            with lifecycle.deferred():
                self._cleanup()
                shutil.rmtree(run_dir, ignore_errors=True)
            if isinstance(exc, KeyboardInterrupt):
                return self.fail(EXIT_ABORTED, f"{lifecycle.interrupt_reason(exc)} before the load started")
            return self.fail(EXIT_ABORTED, str(exc))
        status, reason, target = self._measure(load, progress, run_id, url, headers)
        self._memory_pass(resolved, run_dir, status)
        with lifecycle.deferred():  # a SIGTERM now waits for the run folder to close
            measured, failure = self._measured(load, run_dir, started_at, status, reason, target)
            if failure is not None:
                return pipeline.write_failed(measured, o, self.console, failure)
            return pipeline.after_run(measured, o, self.console)

    def _prepare(
        self, resolved: ResolvedScenario, url: str | None, run_id: str, run_dir: Path, progress: Progress
    ) -> tuple[LoadPass, str, dict[str, str]]:
        """The run folder, the target up, the setup steps run and the plan built: (load, url, headers)."""
        o, scenario = self.o, resolved.scenario
        run_dir.mkdir(parents=True)
        load = LoadPass(
            resolved,
            o,
            run_dir / finalize.WORK_DIR,
            run_id=run_id,
            csv_prefix=run_dir / "locust",
            on_progress=progress.update,
        )
        self._make_profilers(resolved, run_dir, managed=url is None)
        url, managed_key = self._start_target(url, run_dir, scenario.target)
        api_key = api_key_headers(scenario, managed_key, o.scenario_path.parent, given_key=o.api_key)
        headers = {**scenario.target.headers, **api_key}
        load.prepare(url, headers)
        return load, url, headers

    def _memory_pass(self, resolved: ResolvedScenario, run_dir: Path, status: RunStatus) -> None:
        if self.profilers is None:
            return
        if status != "complete":
            if "memory" in self.profilers.kinds:
                self.profilers.skip("memory", "not run: the measured pass did not complete")
            return
        try:
            memory_pass(resolved, self.o, self.profilers, run_dir, self.console)
        except KeyboardInterrupt as exc:
            if "memory" not in self.profilers.records:
                self.profilers.skip("memory", f"not run: {lifecycle.interrupt_reason(exc)}")

    # -------------------------------------------------------- the measured pass

    def _start_target(self, url: str | None, run_dir: Path, target: Target) -> tuple[str, str | None]:
        if url is not None:
            self.egress = check_allowed(url, self.o.allow_remote)
            wait_reachable(url, target.health_path, timeout_s=10.0, egress=self.egress)
            return url, None
        config = self.o.runtime_config or target.runtime_config
        launcher, env = self.profilers.main_launcher(managed=True) if self.profilers else (None, {})
        self.runtime = ManagedRuntime(
            config=config, log_path=run_dir / "target.log", launcher=launcher, extra_env=env
        )
        if not self.o.quiet:
            self.console.print("starting the reference runtime ...", highlight=False)
        self.runtime.start()
        self.egress = Egress(target=self.runtime.url)
        return self.runtime.url, self.runtime.api_key()

    def _measure(
        self, load: LoadPass, progress: Progress, run_id: str, url: str, headers: dict[str, str]
    ) -> tuple[RunStatus, str | None, rundir.TargetInfo]:
        """The load, with the monitor and profilers attached; whatever happens (Ctrl-C, SIGTERM),
        the Locust processes and the managed runtime end, and stopping them is not cut short."""
        status: RunStatus = "complete"
        reason: str | None = None
        try:
            self._start_monitor(load.resolved, url, headers)
            with progress:
                load.start()
                self._attach_profilers(run_id)
                status, reason = load.wait()
        except KeyboardInterrupt as exc:
            status, reason = "aborted", lifecycle.interrupt_reason(exc)
            with lifecycle.deferred():
                if not self.o.quiet:
                    self.console.print(
                        f"[yellow]{reason}: stopping the load and writing what was collected ...[/]"
                    )
                load.interrupt()
        except OSError as exc:  # locust.log could not be opened, the driver not started
            status, reason = "aborted", f"load generator: {exc}"
        finally:
            with lifecycle.deferred():
                target = self._stop_everything(load, url)
        return status, reason, target

    def _stop_everything(self, load: LoadPass, url: str) -> rundir.TargetInfo:
        if self.profilers is not None:
            self.profilers.stop_attached()
        load.stop()
        if self.monitor is not None:
            self.monitor.stop()
        target = self._target_info(url)
        self._stop_target()
        return target

    def _start_monitor(self, resolved: ResolvedScenario, url: str, headers: dict[str, str]) -> None:
        spec = resolved.scenario.monitor
        if not spec.enabled:
            self.not_measured.append(
                rundir.NotMeasured(metric="resources", reason="monitor disabled in scenario")
            )
            return
        pids = list(spec.pids)
        if self.runtime is not None and self.runtime.pid is not None:
            pids.insert(0, self.runtime.pid)
        elif self.o.profile_pid:
            pids.append(self.o.profile_pid)
        base = self.egress.target if self.egress is not None and self.egress.target else url
        metrics_url = spec.metrics_url or (
            base + "/v1/metrics/prometheus" if self.runtime is not None or spec.pids == [] else None
        )
        self.monitor = Monitor(
            pids=pids,
            process_names=spec.process_names,
            metrics_url=metrics_url,
            headers=headers,
            interval_s=spec.interval,
            egress=self.egress,
        )
        self.monitor.start()

    def _target_info(self, url: str) -> rundir.TargetInfo:
        pids = [self.runtime.pid] if self.runtime is not None and self.runtime.pid else []
        return rundir.TargetInfo(
            url=url,
            managed=self.runtime is not None,
            config_profile=(self.runtime.config or "default") if self.runtime is not None else None,
            pids=pids,
        )

    def _stop_target(self) -> None:
        if self.runtime is not None:
            self.runtime.stop()
        if self.profilers is not None:
            self.profilers.after_target_stopped()

    def _cleanup(self) -> None:
        if self.runtime is not None:
            self.runtime.stop()

    # -------------------------------------------------------- profilers

    def _make_profilers(self, resolved: ResolvedScenario, run_dir: Path, managed: bool) -> None:
        """Profiles go inside the run folder (``<run>/profiles/<run-id>/``); the profiles folder
        (``--profiles-dir``) gets a link to them once the run is measured."""
        spec = resolved.scenario.profile.model_copy(update=self.o.profile_overrides)
        kinds = wanted_kinds(self.o.profile, spec)
        if kinds:
            root = run_dir / PROFILES_DIR
            self.profilers = ProfilerSet(kinds, run_dir.name, spec, self.console, root)
            if managed:
                self.profilers.own_prefixes = managed_own_prefixes()
            if "memory" in kinds and not managed:
                self.profilers.skip("memory", "memray must launch the target: only with the managed runtime")
            if "cpu" in kinds and not managed and self.o.profile_pid is None:
                self.profilers.skip("cpu", "external target: pass --pid PID to profile it")

    def _attach_profilers(self, run_id: str) -> None:
        if self.profilers is None or "cpu" in self.profilers.records:
            return
        pid = self.runtime.pid if self.runtime is not None else self.o.profile_pid
        self.profilers.attach(pid, run_id)

    # -------------------------------------------------------- the run folder

    def _measured(
        self,
        load: LoadPass,
        run_dir: Path,
        started_at: str,
        status: RunStatus,
        reason: str | None,
        target: rundir.TargetInfo,
    ) -> tuple[Measured, OSError | None]:
        """The pass as its run folder will record it, and the write error that stopped merging its
        samples (None: ``samples.parquet`` and ``monitor.csv`` are written)."""
        frame = self.monitor.frame() if self.monitor is not None else None
        failure: OSError | None = None
        try:
            collected = finalize.collect(
                load.resolved, run_dir, status, reason, announced_t0=load.t0, monitor=frame
            )
        except OSError as exc:
            failure, collected = exc, finalize.uncollected(load.resolved, load.t0)
        if self.monitor is not None:
            for metric, why in self.monitor.not_measured.items():
                self.not_measured.append(rundir.NotMeasured(metric=metric, reason=why))
        measured = Measured(
            resolved=load.resolved,
            run_id=run_dir.name,
            run_dir=run_dir,
            started_at=started_at,
            collected=collected,
            target=target,
            context=load.context,
            monitor=frame,
            not_measured=self.not_measured,
            profiles=self._profile_records(run_dir),
        )
        return measured, failure

    def _profile_records(self, run_dir: Path) -> dict[str, rundir.ProfileRecord]:
        """The manifest's profiles, named relative to the run folder, and their link in the index."""
        if self.profilers is None:
            return {}
        self.profilers.link_index(self.o.profiles_dir or profiles_root())
        return self.profilers.relative_records(run_dir)


def execute(options: RunOptions) -> RunResult:
    """One run and its after-run steps (the run folder, the verdict, the report ...)."""
    return Run(options).execute()
