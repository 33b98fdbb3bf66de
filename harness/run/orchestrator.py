"""One run, end to end: scenario -> target -> load pass -> run folder -> after-run pipeline.

:class:`Run` checks the scenario, starts the target (the managed reference runtime, or checks a
``--target``), runs the measured :class:`~harness.run.loadpass.LoadPass` with the monitor and the
attached profilers, then the memray pass if asked (:mod:`harness.run.memory_pass`), collects the
samples (:mod:`harness.run.finalize`) and hands over to :func:`harness.run.pipeline.after_run`
(derive -> verdict -> report -> index -> history).

Exit codes (:mod:`harness.run.options`): 0 complete, 1 a gate failed (``--gate``), 2 usage or
scenario error (nothing written), 3 run aborted or incomplete (what was collected is written,
status ``aborted``).
"""

from __future__ import annotations

import datetime as dt
import secrets
import shutil
from pathlib import Path

from rich.console import Console

from harness.contract import rundir
from harness.contract.rundir import RunStatus
from harness.load.plan import SetupError, api_key_headers
from harness.profiling.session import ProfilerSet, wanted_kinds
from harness.run import finalize, pipeline
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
        self.profilers: ProfilerSet | None = None
        self.not_measured: list[rundir.NotMeasured] = []

    def fail(self, code: int, message: str) -> RunResult:
        self.console.print(f"[red]error:[/] {message}", highlight=False)
        return RunResult(code)

    def execute(self) -> RunResult:
        o = self.o
        try:
            resolved = check_scenario(o.scenario_path, time_scale=o.time_scale, duration_s=o.duration_s)
        except ScenarioError as exc:
            for issue in exc.issues:
                self.console.print(f"[red]error:[/] {issue}", highlight=False)
            return RunResult(EXIT_USAGE)
        url = o.target or resolved.scenario.target.url
        if url is not None:
            try:
                check_allowed(url, o.allow_remote)
            except TargetError as exc:
                return self.fail(EXIT_USAGE, str(exc))
        return self._run(resolved, url)

    def _run(self, resolved: ResolvedScenario, url: str | None) -> RunResult:
        o, scenario = self.o, resolved.scenario
        run_id = new_run_id(scenario.name)
        run_dir = (o.out if o.out is not None else o.reports_dir / "runs") / run_id
        work = run_dir / finalize.WORK_DIR
        work.mkdir(parents=True)
        started_at = now_iso()
        self._make_profilers(resolved, run_id, managed=url is None)
        progress = Progress(self.console, resolved, o.quiet)
        load = LoadPass(
            resolved, o, work, run_id=run_id, csv_prefix=run_dir / "locust", on_progress=progress.update
        )
        try:
            url, managed_key = self._start_target(url, run_dir, scenario.target)
            api_key = api_key_headers(scenario, managed_key, o.scenario_path.parent)
            headers = {**scenario.target.headers, **api_key}
            load.prepare(url, headers)
        except (TargetError, SetupError) as exc:
            self._cleanup()
            shutil.rmtree(run_dir, ignore_errors=True)
            return self.fail(EXIT_ABORTED, str(exc))
        self._start_monitor(resolved, url, headers)
        status, reason, target = self._measure(load, progress, run_id, url)
        if self.profilers is not None and status == "complete":
            memory_pass(resolved, o, self.profilers, run_dir, self.console)
        elif self.profilers is not None and "memory" in self.profilers.kinds:
            self.profilers.skip("memory", "not run: the measured pass did not complete")
        measured = self._measured(load, run_dir, started_at, status, reason, target)
        return pipeline.after_run(measured, o, self.console)

    # -------------------------------------------------------- the measured pass

    def _start_target(self, url: str | None, run_dir: Path, target: Target) -> tuple[str, str | None]:
        if url is not None:
            wait_reachable(url, target.health_path, timeout_s=10.0)
            return url, None
        config = self.o.runtime_config or target.runtime_config
        launcher, env = self.profilers.main_launcher(managed=True) if self.profilers else (None, {})
        self.runtime = ManagedRuntime(
            config=config, log_path=run_dir / "target.log", launcher=launcher, extra_env=env
        )
        if not self.o.quiet:
            self.console.print("starting the reference runtime ...", highlight=False)
        self.runtime.start()
        return self.runtime.url, self.runtime.api_key()

    def _measure(
        self, load: LoadPass, progress: Progress, run_id: str, url: str
    ) -> tuple[RunStatus, str | None, rundir.TargetInfo]:
        """The load, with the profilers attached; whatever happens, the Locust processes and the
        managed runtime end."""
        status: RunStatus = "complete"
        reason: str | None = None
        try:
            with progress:
                load.start()
                self._attach_profilers(run_id)
                status, reason = load.wait()
        except KeyboardInterrupt:
            status, reason = "aborted", "interrupted (Ctrl-C)"
            if not self.o.quiet:
                self.console.print(
                    "[yellow]interrupted: stopping the load and writing what was collected ...[/]"
                )
            load.interrupt()
        finally:
            if self.profilers is not None:
                self.profilers.stop_attached()
            load.stop()
            if self.monitor is not None:
                self.monitor.stop()
            target = self._target_info(url)
            self._stop_target()
        return status, reason, target

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
        metrics_url = spec.metrics_url or (
            url + "/v1/metrics/prometheus" if self.runtime is not None or spec.pids == [] else None
        )
        self.monitor = Monitor(
            pids=pids,
            process_names=spec.process_names,
            metrics_url=metrics_url,
            headers=headers,
            interval_s=spec.interval,
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

    def _make_profilers(self, resolved: ResolvedScenario, run_id: str, managed: bool) -> None:
        spec = resolved.scenario.profile.model_copy(update=self.o.profile_overrides)
        kinds = wanted_kinds(self.o.profile, spec)
        if kinds:
            self.profilers = ProfilerSet(kinds, run_id, spec, self.console, self.o.profiles_dir)
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
    ) -> Measured:
        frame = self.monitor.frame() if self.monitor is not None else None
        collected = finalize.collect(
            load.resolved, run_dir, status, reason, announced_t0=load.t0, monitor=frame
        )
        if self.monitor is not None:
            for metric, why in self.monitor.not_measured.items():
                self.not_measured.append(rundir.NotMeasured(metric=metric, reason=why))
        return Measured(
            resolved=load.resolved,
            run_id=run_dir.name,
            run_dir=run_dir,
            started_at=started_at,
            collected=collected,
            target=target,
            context=load.context,
            monitor=frame,
            not_measured=self.not_measured,
            profiles=dict(self.profilers.records) if self.profilers is not None else {},
        )


def execute(options: RunOptions) -> RunResult:
    """One run and its after-run steps (the run folder, the verdict, the report ...)."""
    return Run(options).execute()
