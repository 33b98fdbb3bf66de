"""The memray pass: the scenario again, after the measured pass, with the runtime under memray.

memray slows the target, so this pass keeps none of its timings: only the memory profile (and
the RSS series the monitor sampled, for the growth rate) goes into ``manifest.profiles``.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from rich.console import Console

from harness.contract.rundir import ProfileRecord
from harness.load.plan import SetupError, api_key_headers
from harness.profiling.session import ProfilerSet
from harness.run.loadpass import LoadPass
from harness.run.monitor import Monitor
from harness.run.options import RunOptions
from harness.run.target import ManagedRuntime, TargetError
from harness.scenario import ResolvedScenario, resolve

WORK_DIR = ".work-memory"
DEFAULT_MAX_LENGTH_S = 60.0


def memory_pass(
    resolved: ResolvedScenario, options: RunOptions, profilers: ProfilerSet, run_dir: Path, console: Console
) -> None:
    """Run the pass if memory profiling was asked for and is possible; record its outcome."""
    if "memory" not in profilers.kinds or "memory" in profilers.records:
        return
    memray = profilers.memory_pass()
    if memray is None:
        return
    if not options.quiet:
        console.print("memory pass: the scenario again with the runtime under memray ...")
    length = profilers.spec.memory_duration or min(resolved.duration_s, DEFAULT_MAX_LENGTH_S)
    if length < resolved.duration_s:  # memray slows the target: a shorter pass of the same mix
        resolved = resolve(resolved.scenario, duration_s=length, source=resolved.source)
    runtime = ManagedRuntime(
        config=options.runtime_config or resolved.scenario.target.runtime_config,
        log_path=memray.out_dir / "target.log",
        launcher=memray.launcher(),
        extra_env=memray.env(),
        startup_timeout_s=180,
    )
    load = LoadPass(resolved, options, run_dir / WORK_DIR, run_id=run_dir.name + "-memory", csv_prefix=None)
    monitor, failure = _drive(runtime, load, options)
    if failure is not None:
        console.print(f"[yellow]warning:[/] {failure}", highlight=False)
    if not load.started:  # the pass never got to load the target
        profilers.record("memory", ProfileRecord(status="failed", reason=failure))
        return
    rss = None
    if monitor is not None and monitor.rows:
        rss = ([r["ts"] for r in monitor.rows], [r["rss_mb"] for r in monitor.rows])
    record = memray.report(rss)
    if failure is not None:
        record = record.model_copy(update={"reason": "; ".join(x for x in (record.reason, failure) if x)})
    profilers.record("memory", record)


def _drive(runtime: ManagedRuntime, load: LoadPass, options: RunOptions) -> tuple[Monitor | None, str | None]:
    """Start the runtime under memray, load it, stop it; its RSS monitor and what went wrong (or None)."""
    monitor: Monitor | None = None
    failure = None
    try:
        runtime.start()
        scenario = load.resolved.scenario
        headers = {
            **scenario.target.headers,
            **api_key_headers(scenario, runtime.api_key(), options.scenario_path.parent),
        }
        load.prepare(runtime.url, headers)
        assert runtime.pid is not None
        monitor = Monitor(pids=[runtime.pid], interval_s=1.0)
        monitor.start()
        load.start()
        status, reason = load.wait()
        if status != "complete":
            failure = f"memory pass: {reason}"
    except (TargetError, SetupError) as exc:
        failure = f"memory pass: {exc}"
    except KeyboardInterrupt:
        failure = "memory pass interrupted"
    finally:
        load.stop()
        if monitor is not None:
            monitor.stop()
        runtime.stop(timeout_s=60)  # memray finalises its capture on exit
        shutil.rmtree(load.work_dir, ignore_errors=True)
    return monitor, failure
