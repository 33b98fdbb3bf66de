"""One run, end to end: scenario -> target -> setup -> Locust processes -> run folder.

Exit codes: 0 complete, 1 a gate failed (``--gate``), 2 usage or scenario error (nothing
written), 3 run aborted or incomplete (what was collected is written, status ``aborted``).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console

from harness.contract import rundir
from harness.contract.rundir import ProfileRecord
from harness.history import db as history
from harness.load.collector import merge_parts
from harness.load.plan import (
    SetupError,
    api_key_headers,
    build_ops,
    build_plan,
    missing_placeholders,
    run_setup,
)
from harness.load.schedule import schedule_from
from harness.profiling.session import ProfilerSet
from harness.run.monitor import Monitor
from harness.run.target import ManagedRuntime, TargetError, check_allowed, free_port, wait_reachable
from harness.scenario import ResolvedScenario, ScenarioError, load_scenario, resolve

EXIT_OK, EXIT_GATE, EXIT_USAGE, EXIT_ABORTED = 0, 1, 2, 3
PREFIX = "@@HARNESS "
EXTRA_FILES = {
    "locust_stats": "locust_stats.csv",
    "locust_stats_history": "locust_stats_history.csv",
    "locust_failures": "locust_failures.csv",
    "locust_exceptions": "locust_exceptions.csv",
    "locust_log": "locust.log",
    "target_log": "target.log",
}
REPO = Path(__file__).resolve().parents[2]


@dataclass
class RunOptions:
    scenario_path: Path
    target: str | None = None
    time_scale: float = 1.0
    duration_s: float | None = None
    workers: int = 0
    local_workers: int | None = None  # default: all N workers local unless --master-bind
    master_bind: str | None = None
    out: Path | None = None
    reports_dir: Path = Path(os.environ.get("HARNESS_REPORTS_DIR", "reports"))
    tags: dict[str, str] = field(default_factory=dict)
    allow_remote: bool = False
    runtime_config: str | None = None
    gate: bool = False
    profile: list[str] = field(default_factory=list)  # cpu, memory, scalene (else the scenario's block)
    profile_pid: int | None = None
    profile_overrides: dict[str, Any] = field(default_factory=dict)  # rate, gil, idle, native
    profiles_dir: Path | None = None
    cli: list[str] = field(default_factory=list)
    quiet: bool = False
    console: Console | None = None


@dataclass
class RunResult:
    exit_code: int
    run_dir: Path | None = None
    summary: rundir.Summary | None = None
    manifest: rundir.Manifest | None = None


def new_run_id(name: str) -> str:
    return f"{dt.datetime.now(dt.UTC):%Y%m%dT%H%M%SZ}-{name}-{secrets.token_hex(2)}"


def now_iso() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def git_info() -> dict[str, Any]:
    def git(*args: str) -> str | None:
        try:
            out = subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True, timeout=5)
        except (OSError, subprocess.TimeoutExpired):
            return None
        return out.stdout.strip() if out.returncode == 0 else None

    status = git("status", "--porcelain", "-uno")
    return {
        "commit": git("rev-parse", "HEAD"),
        "branch": git("rev-parse", "--abbrev-ref", "HEAD"),
        "dirty": bool(status),
    }


# ---------------------------------------------------------------- the Locust processes


class Drivers:
    """The Locust master/local process (+ local workers); reads its progress lines."""

    def __init__(
        self,
        plan_path: Path,
        work_dir: Path,
        options: RunOptions,
        on_progress: Callable[[dict[str, Any]], None],
    ):
        self.procs: list[subprocess.Popen[str]] = []
        self.main: subprocess.Popen[str] | None = None
        self.plan_path, self.work_dir, self.options = plan_path, work_dir, options
        self.on_progress = on_progress
        self.t0: float | None = None
        self.errors: list[str] = []
        self._reader: threading.Thread | None = None

    def start(self) -> None:
        base = [sys.executable, "-m", "harness.load.driver"]
        log = open(self.work_dir.parent / "locust.log", "a")  # noqa: SIM115 (kept open by the children)
        opts = self.options
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        if opts.workers <= 0:
            cmd = [*base, "--role", "local", "--plan", str(self.plan_path)]
        else:
            host, port = _bind(opts.master_bind)
            cmd = [*base, "--role", "master", "--plan", str(self.plan_path), "--master-bind-host", host]
            cmd += ["--master-port", str(port), "--expect-workers", str(opts.workers)]
        self.main = subprocess.Popen(
            cmd, stdout=subprocess.PIPE, stderr=log, text=True, cwd=REPO, env=env, start_new_session=True
        )
        self.procs.append(self.main)
        if opts.workers > 0:
            local = (
                opts.local_workers
                if opts.local_workers is not None
                else (0 if opts.master_bind else opts.workers)
            )
            host, port = _bind(opts.master_bind)
            connect = "127.0.0.1" if host in ("0.0.0.0", "*", "") else host
            for _ in range(local):
                worker = [*base, "--role", "worker", "--master-host", connect, "--master-port", str(port)]
                self.procs.append(
                    subprocess.Popen(
                        worker,
                        stdout=subprocess.DEVNULL,
                        stderr=log,
                        text=True,
                        cwd=REPO,
                        env=env,
                        start_new_session=True,
                    )
                )
        log.close()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.main is not None and self.main.stdout is not None
        for line in self.main.stdout:
            if not line.startswith(PREFIX):
                continue
            try:
                msg = json.loads(line[len(PREFIX) :])
            except ValueError:
                continue
            if msg.get("kind") == "start":
                self.t0 = float(msg["t0"])
            elif msg.get("kind") == "error":
                self.errors.append(str(msg.get("message")))
            self.on_progress(msg)

    def terminate(self) -> None:
        """Ask the Locust processes to stop the load and write what they collected."""
        for proc in self.procs:
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    proc.send_signal(signal.SIGTERM)

    def wait(self, timeout_s: float) -> bool:
        assert self.main is not None
        try:
            self.main.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            return False
        return True

    def kill(self) -> None:
        """Never leave a Locust process behind."""
        for proc in self.procs:
            if proc.poll() is None:
                proc.terminate()
        deadline = time.monotonic() + 10
        for proc in self.procs:
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if self._reader is not None:
            self._reader.join(timeout=2)


def _bind(spec: str | None) -> tuple[str, int]:
    if not spec:
        return "127.0.0.1", _BIND_PORT.setdefault("port", free_port())
    host, _, port = spec.partition(":")
    return host or "127.0.0.1", int(port) if port else 5557


_BIND_PORT: dict[str, int] = {}


# ---------------------------------------------------------------- progress display


class Progress:
    def __init__(self, console: Console, resolved: ResolvedScenario, quiet: bool) -> None:
        self.console, self.resolved, self.quiet = console, resolved, quiet
        self.schedule = schedule_from([(s.start_s, s.end_s, s.rate_from, s.rate_to) for s in resolved.stages])
        self.last: dict[str, Any] = {}
        self._live: Any = None
        self._last_plain = 0.0

    def __enter__(self) -> Progress:
        if self.console.is_terminal and not self.quiet:
            from rich.live import Live

            self._live = Live("", console=self.console, refresh_per_second=4, transient=True)
            self._live.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._live is not None:
            self._live.__exit__(None, None, None)

    def line(self, msg: dict[str, Any]) -> str:
        elapsed = max(0.0, float(msg.get("elapsed", 0.0)))
        total = float(msg.get("total", self.resolved.duration_s))
        if self.resolved.is_open:
            stage = self.schedule.stage_at(elapsed)
            target = f"{self.schedule.rate_at(elapsed):7.1f}"
        else:
            stage, target = 0, "closed"
        p95 = msg.get("p95_ms")
        p95_text = f"{p95:8.1f} ms" if isinstance(p95, float) and p95 == p95 else "       - ms"
        done = max(1, int(msg.get("completed", 0)))
        err = 100.0 * int(msg.get("errors", 0)) / done
        return (
            f"[bold]{min(elapsed, total):6.0f}/{total:.0f}s[/] stage {stage}  "
            f"rate {msg.get('rate', 0.0):7.1f}/{target} req/s  p95 {p95_text}  "
            f"errors {err:5.2f}%  dropped {msg.get('dropped', 0)}"
        )

    def update(self, msg: dict[str, Any]) -> None:
        kind = msg.get("kind")
        if kind == "waiting_workers" and not self.quiet:
            self.console.print(f"waiting for {msg.get('expect')} Locust worker(s) ...")
        if kind != "progress":
            return
        self.last = msg
        text = self.line(msg)
        if self._live is not None:
            self._live.update(text)
        elif not self.quiet and time.monotonic() - self._last_plain >= 5:
            self._last_plain = time.monotonic()
            self.console.print(text, highlight=False)


# ---------------------------------------------------------------- the run


class Run:
    def __init__(self, options: RunOptions) -> None:
        self.o = options
        self.console = options.console or Console(stderr=False)
        self.runtime: ManagedRuntime | None = None
        self.monitor: Monitor | None = None
        self.drivers: Drivers | None = None
        self.profilers: ProfilerSet | None = None
        self.not_measured: list[rundir.NotMeasured] = []

    def fail(self, code: int, message: str) -> RunResult:
        self.console.print(f"[red]error:[/] {message}", highlight=False)
        return RunResult(code)

    def execute(self) -> RunResult:
        o = self.o
        try:
            scenario = load_scenario(o.scenario_path)
            resolved = resolve(
                scenario, time_scale=o.time_scale, duration_s=o.duration_s, source=str(o.scenario_path)
            )
        except ScenarioError as exc:
            for issue in exc.issues:
                self.console.print(f"[red]error:[/] {issue}", highlight=False)
            return RunResult(EXIT_USAGE)
        except ValueError as exc:
            return self.fail(EXIT_USAGE, str(exc))
        missing = missing_placeholders(resolved)
        if missing:
            detail = "; ".join(f"{op}: {sorted(v)}" for op, v in missing.items())
            return self.fail(EXIT_USAGE, f"{o.scenario_path}: placeholders not provided by setup: {detail}")
        url = o.target or scenario.target.url
        if url is not None:
            try:
                check_allowed(url, o.allow_remote)
            except TargetError as exc:
                return self.fail(EXIT_USAGE, str(exc))
        return self._run(resolved, url)

    def _run(self, resolved: ResolvedScenario, url: str | None) -> RunResult:
        o, scenario = self.o, resolved.scenario
        run_id = new_run_id(scenario.name)
        runs_parent = o.out if o.out is not None else o.reports_dir / "runs"
        run_dir = runs_parent / run_id
        work = run_dir / ".work"
        work.mkdir(parents=True)
        started_at = now_iso()
        self._make_profilers(resolved, run_id, managed=url is None)
        try:
            url, managed_key = self._start_target(url, run_dir)
        except TargetError as exc:
            self._cleanup()
            shutil.rmtree(run_dir, ignore_errors=True)
            return self.fail(EXIT_ABORTED, str(exc))
        base = o.scenario_path.parent
        try:
            headers = {**scenario.target.headers, **api_key_headers(scenario, managed_key, base)}
            context = run_setup(resolved, url, headers)
        except SetupError as exc:
            self._cleanup()
            shutil.rmtree(run_dir, ignore_errors=True)
            return self.fail(EXIT_ABORTED, str(exc))
        ops = build_ops(resolved, context, headers)
        plan = build_plan(
            resolved, run_id=run_id, target_url=url, ops=ops, work_dir=work, csv_prefix=run_dir / "locust"
        )
        rundir.write_json_atomic(work / "plan.json", plan)
        self._start_monitor(resolved, url, headers)
        status, reason = "complete", None
        progress = Progress(self.console, resolved, o.quiet)
        try:
            with progress:
                self.drivers = Drivers(work / "plan.json", work, o, progress.update)
                self.drivers.start()
                self._attach_profilers(run_id)
                status, reason = self._wait(resolved)
        except KeyboardInterrupt:
            status, reason = "aborted", "interrupted (Ctrl-C)"
            self._interrupt()
        finally:
            self._stop_profilers()
            if self.drivers is not None:
                self.drivers.kill()
            if self.monitor is not None:
                self.monitor.stop()
            target_info = self._target_info(url)
            if self.runtime is not None:
                self.runtime.stop()
            if self.profilers is not None:
                self.profilers.after_target_stopped()
        if self.profilers is not None and status == "complete":
            self._memory_pass(resolved, run_dir)
        elif self.profilers is not None and "memory" in self.profilers.kinds:
            self.profilers.skip("memory", "not run: the measured pass did not complete")
        return self._finalize(resolved, run_id, run_dir, started_at, status, reason, context, target_info)

    # -------------------------------------------------------- pieces

    def _start_target(self, url: str | None, run_dir: Path) -> tuple[str, str | None]:
        scenario_target = None
        if url is not None:
            health = "/v1/health"
            with contextlib.suppress(Exception):
                scenario_target = load_scenario(self.o.scenario_path).target
            if scenario_target is not None:
                health = scenario_target.health_path
            wait_reachable(url, health, timeout_s=10.0)
            return url, None
        config = self.o.runtime_config or load_scenario(self.o.scenario_path).target.runtime_config
        launcher, env = self.profilers.main_launcher(managed=True) if self.profilers else (None, {})
        self.runtime = ManagedRuntime(
            config=config, log_path=run_dir / "target.log", launcher=launcher, extra_env=env
        )
        if not self.o.quiet:
            self.console.print("starting the reference runtime ...", highlight=False)
        self.runtime.start()
        return self.runtime.url, self.runtime.api_key()

    # -------------------------------------------------------- profiling (issue 5)

    def _make_profilers(self, resolved: ResolvedScenario, run_id: str, managed: bool) -> None:
        from harness.profiling.session import wanted_kinds

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

    def _stop_profilers(self) -> None:
        if self.profilers is not None:
            self.profilers.stop_attached()

    def _memory_pass(self, resolved: ResolvedScenario, run_dir: Path) -> None:
        """A second pass of the scenario with the runtime under memray (timings discarded)."""
        assert self.profilers is not None
        if "memory" not in self.profilers.kinds or "memory" in self.profilers.records:
            return
        memray = self.profilers.memory_pass()
        if memray is None:
            return
        if not self.o.quiet:
            self.console.print("memory pass: the scenario again with the runtime under memray ...")
        config = self.o.runtime_config or resolved.scenario.target.runtime_config
        spec = self.profilers.spec
        length = spec.memory_duration or min(resolved.duration_s, 60.0)
        if length < resolved.duration_s:  # memray slows the target: a shorter pass of the same mix
            resolved = resolve(resolved.scenario, duration_s=length, source=resolved.source)
        runtime = ManagedRuntime(
            config=config,
            log_path=memray.out_dir / "target.log",
            launcher=memray.launcher(),
            extra_env=memray.env(),
            startup_timeout_s=180,
        )
        monitor: Monitor | None = None
        drivers: Drivers | None = None
        failure = None
        try:
            runtime.start()
            headers = {
                **resolved.scenario.target.headers,
                **api_key_headers(resolved.scenario, runtime.api_key(), self.o.scenario_path.parent),
            }
            context = run_setup(resolved, runtime.url, headers)
            work = run_dir / ".work-memory"
            work.mkdir(parents=True, exist_ok=True)
            ops = build_ops(resolved, context, headers)
            plan = build_plan(
                resolved,
                run_id=run_dir.name + "-memory",
                target_url=runtime.url,
                ops=ops,
                work_dir=work,
                csv_prefix=None,
            )
            rundir.write_json_atomic(work / "plan.json", plan)
            assert runtime.pid is not None
            monitor = Monitor(pids=[runtime.pid], interval_s=1.0)
            monitor.start()
            drivers = Drivers(work / "plan.json", work, self.o, lambda msg: None)
            drivers.start()
            limit = resolved.duration_s + float(resolved.scenario.load.drain) + 120
            if not drivers.wait(limit):
                failure = "memory pass: load generator did not finish in time"
        except (TargetError, SetupError) as exc:
            failure = f"memory pass: {exc}"
        except KeyboardInterrupt:
            failure = "memory pass interrupted"
        finally:
            if drivers is not None:
                drivers.kill()
            if monitor is not None:
                monitor.stop()
            runtime.stop(timeout_s=60)  # memray finalises its capture on exit
            shutil.rmtree(run_dir / ".work-memory", ignore_errors=True)
        if failure is not None:
            self.console.print(f"[yellow]warning:[/] {failure}", highlight=False)
        if drivers is None:  # the pass never got to load the target
            self.profilers.record("memory", ProfileRecord(status="failed", reason=failure))
            return
        rss = None
        if monitor is not None and monitor.rows:
            rss = ([r["ts"] for r in monitor.rows], [r["rss_mb"] for r in monitor.rows])
        record = memray.report(rss)
        if failure is not None:
            record = record.model_copy(update={"reason": "; ".join(x for x in (record.reason, failure) if x)})
        self.profilers.record("memory", record)

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

    def _wait(self, resolved: ResolvedScenario) -> tuple[str, str | None]:
        assert self.drivers is not None
        limit = (
            resolved.duration_s + float(resolved.scenario.load.drain) + 120 + (60 if self.o.workers else 0)
        )
        deadline = time.monotonic() + limit
        while not self.drivers.wait(0.5):
            if time.monotonic() > deadline:
                self.drivers.terminate()
                self.drivers.wait(20)
                return "aborted", "load generator did not finish in time"
        if self.drivers.errors:
            return "aborted", "; ".join(self.drivers.errors)
        return "complete", None

    def _interrupt(self) -> None:
        if not self.o.quiet:
            self.console.print("[yellow]interrupted: stopping the load and writing what was collected ...[/]")
        if self.drivers is not None:
            self.drivers.terminate()
            for _ in range(2):
                try:
                    if self.drivers.wait(15):
                        break
                except KeyboardInterrupt:
                    continue

    def _cleanup(self) -> None:
        if self.runtime is not None:
            self.runtime.stop()

    def _target_info(self, url: str) -> rundir.TargetInfo:
        pids = [self.runtime.pid] if self.runtime is not None and self.runtime.pid else []
        return rundir.TargetInfo(
            url=url,
            managed=self.runtime is not None,
            config_profile=(self.runtime.config or "default") if self.runtime is not None else None,
            pids=pids,
        )

    # -------------------------------------------------------- the run folder

    def _finalize(
        self,
        resolved: ResolvedScenario,
        run_id: str,
        run_dir: Path,
        started_at: str,
        status: str,
        reason: str | None,
        context: dict[str, Any],
        target_info: rundir.TargetInfo,
    ) -> RunResult:
        from harness.derive.files import write_derived_files

        work = run_dir / ".work"
        result = _read_json(work / "driver_result.json")
        if result is None:
            status, reason = "aborted", reason or "the load generator wrote no result (see locust.log)"
            parts = (
                sorted(p.name for p in (work / "parts").glob("part-*.parquet"))
                if (work / "parts").is_dir()
                else []
            )
            t0 = self.drivers.t0 if self.drivers is not None and self.drivers.t0 else time.time()
        else:
            parts, t0 = list(result["parts"]), float(result["t0"])
            if result.get("status") == "aborted" and status == "complete":
                status, reason = "aborted", result.get("abort_reason")
        merge_parts(work / "parts", parts, run_dir / rundir.SAMPLES_FILE)
        samples = rundir.load_samples(run_dir)
        ended = float(result["ended_at"]) if result else time.time()
        duration = (
            resolved.duration_s if status == "complete" else max(1.0, min(resolved.duration_s, ended - t0))
        )
        monitor_frame = self.monitor.frame() if self.monitor is not None else None
        files = {
            "samples": rundir.SAMPLES_FILE,
            "summary": rundir.SUMMARY_FILE,
            "timeseries": rundir.TIMESERIES_FILE,
            "histograms": rundir.HISTOGRAMS_FILE,
        }
        if monitor_frame is not None:
            with rundir.atomic_path(run_dir / rundir.MONITOR_FILE) as tmp:
                monitor_frame.to_csv(tmp, index=False, float_format="%.10g")
            files["monitor"] = rundir.MONITOR_FILE
        summary = write_derived_files(
            run_dir,
            run_id,
            samples,
            window_start=t0,
            duration_s=duration,
            stages=_clip(resolved.summary_stages(), duration),
            targets_ms=resolved.targets_ms(),
            monitor=monitor_frame,
        )
        for key, name in EXTRA_FILES.items():
            if (run_dir / name).is_file():
                files[key] = name
        if self.monitor is not None:
            for metric, why in self.monitor.not_measured.items():
                self.not_measured.append(rundir.NotMeasured(metric=metric, reason=why))
        profiles = dict(self.profilers.records) if self.profilers is not None else {}
        manifest = rundir.Manifest(
            run_id=run_id,
            scenario_name=resolved.scenario.name,
            scenario_path=str(self.o.scenario_path),
            scenario=resolved.dump(),
            cli=self.o.cli,
            git=git_info(),
            machine=history.machine_info(),
            tags={**resolved.scenario.tags, **self.o.tags},
            target=target_info,
            load={
                "model": resolved.scenario.load.model,
                "workers": self.o.workers,
                "time_scale": resolved.time_scale,
                "duration_s": resolved.duration_s,
                "window_start": t0,
                "setup_context": context,
                "pacer": (result or {}).get("pacer", {}),
            },
            started_at=started_at,
            ended_at=now_iso(),
            duration_s=duration,
            status=status,  # type: ignore[arg-type]
            abort_reason=reason,
            files=files,
            profiles=profiles,
            not_measured=self.not_measured,
        )
        rundir.write_model(run_dir / rundir.MANIFEST_FILE, manifest)
        shutil.rmtree(work, ignore_errors=True)
        history.record_run(self.o.reports_dir / "history.db", manifest, summary, run_dir)
        _point_latest(self.o.reports_dir, run_dir)
        return RunResult(EXIT_OK if status == "complete" else EXIT_ABORTED, run_dir, summary, manifest)


def _clip(
    stages: list[tuple[float, float, float | None]], duration: float
) -> list[tuple[float, float, float | None]]:
    return [(s, min(e, duration), r) for s, e, r in stages if s < duration] or stages[:1]


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _point_latest(reports_dir: Path, run_dir: Path) -> None:
    link = reports_dir / "latest"
    reports_dir.mkdir(parents=True, exist_ok=True)
    target = os.path.relpath(run_dir.resolve(), reports_dir.resolve())
    tmp = reports_dir / f".latest.{os.getpid()}"
    with contextlib.suppress(FileNotFoundError):
        tmp.unlink()
    os.symlink(target, tmp)
    os.replace(tmp, link)


def execute(options: RunOptions) -> RunResult:
    return Run(options).execute()


def run_worker(master_host: str, master_port: int) -> int:
    """``harness run --worker``: a Locust worker process serving a (possibly remote) master."""
    cmd = [sys.executable, "-m", "harness.load.driver", "--role", "worker"]
    cmd += ["--master-host", master_host, "--master-port", str(master_port)]
    try:
        return subprocess.call(cmd, cwd=REPO)
    except KeyboardInterrupt:
        return EXIT_ABORTED
