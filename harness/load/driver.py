"""The Locust process of a run: ``python -m harness.load.driver --role local|master|worker``.

Importing locust monkey-patches the standard library with gevent, so this module is only ever
run as its own process (never imported by the harness CLI). It uses Locust as a library: its
runners (local, or real master/worker over ZeroMQ), its FastHttpUser and its ``request`` event.

Data flow: every request fires ``events.request`` -> :class:`Recorder` (list appends). Once a
second the columns are handed over: locally to the :class:`Collector` (Parquet part files + live
stats); on a worker they ride along with Locust's own stats report (``report_to_master``) and the
master's ``worker_report`` listener feeds its collector. The master tells workers the plan, the
common start time t0 and each worker's slot in the global arrival schedule with custom messages.
Progress lines for the CLI go to stdout prefixed with ``@@HARNESS`` (``PROGRESS_PREFIX``).

Local and master runs share one path (:func:`drive`: environment, Locust's CSV files, collector,
progress, ``driver_result.json``); a :class:`LocalRole` or :class:`MasterRole` supplies the few
steps that differ (who records the samples, waiting for workers, handing them the plan).
The plan and ``driver_result.json`` are the models of :mod:`harness.load.contract`; the plan
arrives on stdin (``--plan -``: it holds the API key, so the harness never writes it to a file).

Lifecycle: the first thing :func:`main` does is ask the kernel to kill this process when the
harness dies (:func:`harness.contract.lifecycle.die_with_parent`, ``PR_SET_PDEATHSIG``), so a
SIGKILL of the harness cannot leave load running; SIGTERM/SIGINT stop the load and write what
was collected.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import itertools
import json
import logging
import math
import random
import signal
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import gevent
import gevent.event
import gevent.pool
import locust
import locust.runners
from locust import FastHttpUser, task
from locust.env import Environment
from locust.exception import StopUser
from locust.log import setup_logging
from locust.stats import PERCENTILES_TO_REPORT, StatsCSVFileWriter, stats_history

from harness.contract.atomic import write_model
from harness.contract.columns import DROPPED
from harness.contract.lifecycle import die_with_parent
from harness.contract.rundir import PacerCounts
from harness.load.collector import Collector
from harness.load.contract import (
    DRIVER_RESULT_FILE,
    PROGRESS_PREFIX,
    DriverResult,
    OpSpec,
    Plan,
    read_plan,
)
from harness.load.pacer import Pacer, PacerStats, WeightedChoice
from harness.load.ready import send_until_ready
from harness.load.recorder import Recorder, SidedRecorder
from harness.load.schedule import schedule_from
from harness.load.sides import Sides

# Workers ship samples with each stats report: every second keeps the master's view fresh.
locust.runners.WORKER_REPORT_INTERVAL = 1.0
log = logging.getLogger("harness.driver")


class Op:
    """A request template, prepared once (body serialised, headers merged) for a cheap hot path."""

    __slots__ = ("body", "dynamic", "expect", "headers", "label", "method", "path", "until")

    def __init__(self, spec: OpSpec) -> None:
        self.label = spec.label
        self.method = spec.method
        self.path = spec.path
        self.body = spec.body
        self.headers = dict(spec.headers)
        self.expect = frozenset(spec.expect) or None
        self.dynamic = spec.dynamic
        self.until = spec.until  # create-then-poll: one sample until ready (harness.load.ready)


_SEQ = itertools.count()


def _fill(text: str, seq: int, worker: int) -> str:
    return (
        text.replace("{seq}", f"{worker}-{seq}")
        .replace("{uuid}", uuid.uuid4().hex)
        .replace("{worker}", str(worker))
    )


class State:
    """What the users of this process need; filled from the plan (directly or via the master)."""

    def __init__(self) -> None:
        self._plan: Plan | None = None
        self.t0 = math.inf
        self.slot = 0
        self.step = 1
        self.worker = 0
        self.ops: list[Op] = []
        self.choice: WeightedChoice | None = None
        self.sides: Sides | None = None  # a duet pass (harness ab): the targets by side
        self.side_ops: dict[str, list[Op]] = {}
        self.users = itertools.count()
        self.recorder = Recorder()
        self.ready = gevent.event.Event()
        self.done = gevent.event.Event()
        self.abort = gevent.event.Event()
        self.pacer_stats = PacerStats()

    @property
    def plan(self) -> Plan:
        assert self._plan is not None, "no plan yet"
        return self._plan

    def start_at(self, plan: Plan, t0: float) -> None:
        """The plan and the common start time (all a master needs: it runs no users)."""
        self._plan, self.t0 = plan, t0

    def configure(self, plan: Plan, t0: float, slot: int, step: int, env: Environment) -> None:
        """The users' plan, and the recorder on ``events.request`` (one that also tags the side of
        each sample only in a duet pass: an ordinary run pays nothing for it)."""
        self.start_at(plan, t0)
        if plan.sides:
            self.recorder = SidedRecorder()
        env.events.request.add_listener(self.recorder.on_request)  # type: ignore[no-untyped-call]
        self.slot, self.step, self.worker = slot, step, slot
        self.ops = [Op(spec) for spec in plan.ops]
        weights = [o.weight for o in plan.ops]
        self.choice = WeightedChoice(self.ops, weights, plan.seed + slot)
        if plan.sides:  # the choice picks an index into the mix: the same op on every side
            self.sides = Sides(plan, plan.seed + 1000 + slot)
            self.side_ops = {name: [Op(spec) for spec in side.ops] for name, side in plan.sides.items()}
            self.choice = WeightedChoice(list(range(len(self.ops))), weights, plan.seed + slot)
        per_process = max(1, math.ceil(plan.max_in_flight / step))
        for cls in (OpenModelUser, ClosedModelUser):
            cls.host = plan.target_url
            cls.network_timeout = cls.connection_timeout = float(plan.timeout)
            # the egress policy (harness.contract.egress): a redirect is an answer, never followed,
            # so the plan's headers (the API key) reach the plan's target(s) and nothing else
            cls.max_redirects = 0
            cls.proxy_host = cls.proxy_port = None
        OpenModelUser.concurrency = per_process
        ClosedModelUser.concurrency = 1
        self.ready.set()

    @property
    def end(self) -> float:
        return self.t0 + self.plan.duration_s

    def send(self, client: Any, op: Op, intended: float | None, side: str | None = None) -> None:
        path, body = op.path, op.body
        if op.dynamic:
            seq = next(_SEQ)
            path = _fill(path, seq, self.worker)
            body = _fill(body, seq, self.worker) if body is not None else None
        context: dict[str, Any] = {"expect": op.expect}
        if intended is not None:
            context["intended"] = intended
        if side is not None:  # a duet pass: the side's own target (an absolute URL) and its tag
            assert self.sides is not None
            path, context["side"] = self.sides.url(side, path), side
        if op.until is not None:  # polls go to the same side as the create request
            base = self.sides.url(side, "") if self.sides is not None and side is not None else ""
            send_until_ready(
                client, op, path, body, context, timeout_s=self.plan.timeout, sleep=gevent.sleep, base=base
            )
            return
        client.request(op.method, path, name=op.label, data=body, headers=op.headers, context=context)


STATE = State()


def _wait_for_start() -> None:
    STATE.ready.wait(timeout=600)
    delay = STATE.t0 - time.time()
    if delay > 0:
        gevent.sleep(delay)


def _early(plan: Plan, step: int) -> float:
    """Precise wake-ups cost a little CPU per arrival: only worth it below ~250 req/s per process."""
    peak = max((max(s[2], s[3]) for s in plan.stages), default=0.0) / step
    return 0.0011 if peak <= 250 else 0.0


class OpenModelUser(FastHttpUser):
    """One per process: runs the pacer; requests go out on a pool of greenlets."""

    abstract = False

    def wait_time(self) -> float:
        return 0.0

    @task
    def pace(self) -> None:
        _wait_for_start()
        if STATE.sides is not None:
            _pace_sides(self.client)
        plan = STATE.plan
        pool = gevent.pool.Pool(OpenModelUser.concurrency)
        schedule = schedule_from(plan.stages)
        recorder, choice = STATE.recorder, STATE.choice
        assert choice is not None
        client = self.client

        def send(op: object, intended: float) -> None:
            pool.spawn(STATE.send, client, op, intended)

        def drop(op: object, intended: float) -> None:
            recorder.record_unsent(op.label, intended, DROPPED)  # type: ignore[attr-defined]

        pacer = Pacer(
            schedule.offsets(STATE.slot, STATE.step),
            STATE.t0,
            clock=time.time,
            sleep=gevent.sleep,
            can_send=lambda: pool.free_count() > 0,
            wait_free=lambda timeout: (
                pool.wait_available(timeout=timeout) is not None and pool.free_count() > 0
            ),
            queue_timeout_s=plan.queue_timeout,
            send=send,
            drop=drop,
            choose=choice.pick,
            stopped=STATE.abort.is_set,
            early_s=_early(plan, STATE.step),
            yield_=gevent.idle,
        )
        STATE.pacer_stats = pacer.stats
        pacer.run()
        _drain([pool])


def _drain(pools: list[gevent.pool.Pool]) -> None:
    """Wait ``drain`` for the requests in flight; record the rest as unfinished; the process is done."""
    drain = 1.0 if STATE.abort.is_set() else STATE.plan.drain
    deadline = time.time() + drain
    for pool in pools:
        if not pool.join(timeout=max(0.0, deadline - time.time())):
            now = time.time()
            for greenlet in list(pool):
                _, op, intended, *side = greenlet.args
                STATE.recorder.record_unsent(op.label, intended, "Unfinished", now, *side)
            pool.kill(block=True, timeout=2)
    STATE.done.set()
    raise StopUser()


def _pace_sides(client: Any) -> None:
    """The open-model pacer of a duet pass: one schedule; each slot goes to the side(s)
    :class:`Sides` picks, each side with its own pool of ``max_in_flight`` (when a picked side
    has no free slot in time, the slot is dropped on every picked side: the pairs stay whole)."""
    plan, sides, choice, recorder = STATE.plan, STATE.sides, STATE.choice, STATE.recorder
    assert sides is not None and choice is not None and isinstance(recorder, SidedRecorder)
    pools = {name: gevent.pool.Pool(OpenModelUser.concurrency) for name in sides.names}
    shot: list[Any] = [None]

    def choose() -> object:
        shot[0] = (choice.pick(), sides.pick())
        return shot[0]

    def wait_free(timeout: float) -> bool:
        deadline = time.time() + timeout
        return all(
            pools[s].wait_available(timeout=max(0.0, deadline - time.time())) is not None
            and pools[s].free_count() > 0
            for s in shot[0][1]
        )

    def send(picked: Any, intended: float) -> None:
        index, names = picked
        for name in names:
            pools[name].spawn(STATE.send, client, STATE.side_ops[name][index], intended, name)

    def drop(picked: Any, intended: float) -> None:
        index, names = picked
        for name in names:
            recorder.record_unsent(STATE.side_ops[name][index].label, intended, DROPPED, side=name)

    pacer = Pacer(
        schedule_from(plan.stages).offsets(STATE.slot, STATE.step),
        STATE.t0,
        clock=time.time,
        sleep=gevent.sleep,
        can_send=lambda: all(pools[s].free_count() > 0 for s in shot[0][1]),
        wait_free=wait_free,
        queue_timeout_s=plan.queue_timeout,
        send=send,
        drop=drop,
        choose=choose,
        stopped=STATE.abort.is_set,
        early_s=_early(plan, STATE.step),
        yield_=gevent.idle,
    )
    STATE.pacer_stats = pacer.stats
    pacer.run()
    _drain(list(pools.values()))


class ClosedModelUser(FastHttpUser):
    """Classic Locust user: request, wait, repeat (closed model; no CO correction)."""

    abstract = False

    def wait_time(self) -> float:
        low, high = STATE.plan.wait
        return low if high <= low else low + (high - low) * _RNG.random()

    side: str | None = None

    def on_start(self) -> None:
        _wait_for_start()
        if STATE.sides is not None:  # a duet pass: users split evenly between the sides
            self.side = STATE.sides.of_user(next(STATE.users) + STATE.slot)

    @task
    def one(self) -> None:
        if time.time() >= STATE.end or STATE.abort.is_set():
            raise StopUser()
        assert STATE.choice is not None
        if self.side is not None:
            op = STATE.side_ops[self.side][STATE.choice.pick()]  # type: ignore[call-overload]
            STATE.send(self.client, op, None, self.side)
            return
        STATE.send(self.client, STATE.choice.pick(), None)  # type: ignore[arg-type]


_RNG = random.Random(7)


def _closed_watcher(runner: locust.runners.Runner) -> None:
    """Closed model: the process is done when the window has ended and its users have stopped."""
    _wait_for_start()
    while time.time() < STATE.end and not STATE.abort.is_set():
        gevent.sleep(min(0.2, max(0.0, STATE.end - time.time())))
    deadline = time.time() + STATE.plan.drain
    while runner.user_count > 0 and time.time() < deadline:
        gevent.sleep(0.05)
    STATE.done.set()


# ---------------------------------------------------------------- master / local side


def emit(kind: str, **data: Any) -> None:
    sys.stdout.write(PROGRESS_PREFIX + json.dumps({"kind": kind, **data}, default=str) + "\n")
    sys.stdout.flush()


class CsvFiles:
    """Locust's own CSV files (``locust_stats.csv`` ...), via its StatsCSVFileWriter."""

    def __init__(self, env: Environment, prefix: str) -> None:
        self.writer = StatsCSVFileWriter(env, PERCENTILES_TO_REPORT, prefix, full_history=False)
        self.greenlet = gevent.spawn(self.writer.stats_writer)

    def close(self) -> None:
        self.greenlet.kill(block=True)
        w = self.writer
        # final snapshot (the writer loop rewrites these files every second)
        for handle, columns, rows in (
            (w.requests_csv_filehandle, w.requests_csv_columns, w._requests_data_rows),
            (w.failures_csv_filehandle, w.failures_columns, w._failures_data_rows),
            (w.exceptions_csv_filehandle, w.exceptions_columns, w._exceptions_data_rows),
        ):
            handle.seek(0)
            out = csv.writer(handle)
            out.writerow(columns)
            rows(out)
            handle.truncate()
        w.close_files()


def _emit_progress(collector: Collector, total: float, final: bool = False) -> None:
    """One ``progress`` message: the collector's live figures (overall and per operation, the
    interval since the last message and the run so far); ``final`` once the last samples are in."""
    now = time.time()
    emit("progress", elapsed=now - STATE.t0, total=total, final=final, **collector.progress(now))


def _progress_loop(collector: Collector, local: bool, total: float) -> None:
    while True:
        gevent.sleep(1.0)
        if local:
            collector.add(STATE.recorder.take(), STATE.worker)
        _emit_progress(collector, total)


def _write_result(
    collector: Collector,
    work_dir: Path,
    reason: str | None,
    pacer: PacerStats | None,
) -> None:
    collector.close()
    result = DriverResult(
        status="aborted" if reason else "complete",
        abort_reason=reason,
        t0=STATE.t0 if math.isfinite(STATE.t0) else None,
        ended_at=time.time(),
        parts=collector.parts,
        pacer=PacerCounts(**vars(pacer)) if pacer is not None else None,
    )
    write_model(work_dir / DRIVER_RESULT_FILE, result)


def _user_class(plan: Plan) -> type[FastHttpUser]:
    return OpenModelUser if plan.model == "open" else ClosedModelUser


def _install_sigterm() -> None:
    def on_term() -> None:
        log.warning("termination requested: stopping the load and writing what was collected")
        STATE.abort.set()

    gevent.signal_handler(signal.SIGTERM, on_term)
    gevent.signal_handler(signal.SIGINT, on_term)


def _wait_done(deadline: float) -> str | None:
    while not STATE.done.is_set():
        if time.time() > deadline:
            STATE.abort.set()
            return "timeout waiting for the load to finish"
        STATE.done.wait(timeout=0.5)
    return "interrupted" if STATE.abort.is_set() else None


class LocalRole:
    """The whole load in this process: users record into :data:`STATE`'s recorder."""

    workers = 0
    start_delay = 0.5
    open_users = 1  # one pacer user drives the whole open-model schedule

    def create_runner(self, env: Environment) -> locust.runners.Runner:
        return env.create_local_runner()

    def connect(self, runner: locust.runners.Runner, plan: Plan) -> str | None:
        return None

    def begin(self, runner: locust.runners.Runner, plan: Plan, t0: float, collector: Collector) -> None:
        STATE.configure(plan, t0, 0, 1, runner.environment)

    def started(self, runner: locust.runners.Runner) -> None:
        if STATE.plan.model == "closed":
            gevent.spawn(_closed_watcher, runner)

    def finish(self, collector: Collector, reason: str | None) -> PacerStats:
        """Take the last samples; return the pacer's counters."""
        collector.add(STATE.recorder.take(), 0)
        return STATE.pacer_stats


class MasterRole:
    """Locust workers generate the load; samples ride along with their stats reports."""

    start_delay = 1.5
    open_users = 0  # set to the worker count: one pacer user per worker

    def __init__(self, bind_host: str, bind_port: int, expect: int) -> None:
        self.bind_host, self.bind_port, self.workers = bind_host, bind_port, expect
        self.open_users = expect
        self.clients: list[str] = []
        self.done: set[str] = set()
        self.pacers: dict[str, dict[str, int | float]] = {}
        self.runner: locust.runners.MasterRunner | None = None

    def create_runner(self, env: Environment) -> locust.runners.Runner:
        self.runner = env.create_master_runner(
            master_bind_host=self.bind_host, master_bind_port=self.bind_port
        )
        return self.runner

    def connect(self, runner: locust.runners.Runner, plan: Plan) -> str | None:
        """Wait for the workers; a message when they did not all connect in time."""
        assert self.runner is not None
        emit("waiting_workers", expect=self.workers)
        wait_until = time.time() + plan.worker_wait
        while len(self.runner.clients.ready) < self.workers:
            if time.time() > wait_until or STATE.abort.is_set():
                return f"only {len(self.runner.clients.ready)} of {self.workers} workers connected"
            gevent.sleep(0.2)
        self.clients = sorted(c.id for c in self.runner.clients.ready)[: self.workers]
        return None

    def begin(self, runner: locust.runners.Runner, plan: Plan, t0: float, collector: Collector) -> None:
        """Tell every worker the plan, t0 and its slot in the global arrival schedule."""
        index_of = {cid: i for i, cid in enumerate(self.clients)}

        def on_report(client_id: str, data: dict[str, Any]) -> None:
            collector.add(data.pop("harness_samples", None), index_of.get(client_id, -1))

        def on_done(environment: Environment, msg: Any, **_: Any) -> None:
            collector.add(msg.data.get("chunk"), index_of.get(msg.node_id, -1))
            self.pacers[msg.node_id] = msg.data.get("pacer", {})
            self.done.add(msg.node_id)
            if self.done >= set(self.clients):
                STATE.done.set()

        runner.environment.events.worker_report.add_listener(on_report)  # type: ignore[no-untyped-call]
        runner.register_message("harness_done", on_done)
        STATE.start_at(plan, t0)
        message = {"plan": plan.model_dump(mode="json"), "t0": t0, "step": self.workers}
        for cid in self.clients:
            runner.send_message("harness_plan", {**message, "slot": index_of[cid]}, cid)

    def started(self, runner: locust.runners.Runner) -> None:
        return None

    def finish(self, collector: Collector, reason: str | None) -> PacerStats:
        """Stop the workers if need be, wait for their last report; return the summed pacer counters."""
        assert self.runner is not None
        if reason:
            for cid in self.clients:
                self.runner.send_message("harness_abort", {}, cid)
            grace = time.time() + 5
            while not self.done >= set(self.clients) and time.time() < grace:
                gevent.sleep(0.1)
        # one more stats report from every worker, so Locust's own CSV counts the last requests too
        gevent.sleep(locust.runners.WORKER_REPORT_INTERVAL + 0.5)
        totals = PacerStats()
        for stats in self.pacers.values():
            for key, value in stats.items():
                before = getattr(totals, key)
                setattr(totals, key, max(before, value) if key == "max_lag_s" else before + value)
        return totals


Role = LocalRole | MasterRole


def drive(plan: Plan, work_dir: Path, role: Role) -> int:
    """One pass of the load, local or as a master: environment, Locust CSVs, collector, result."""
    env = Environment(user_classes=[OpenModelUser, ClosedModelUser], host=plan.target_url)
    runner = role.create_runner(env)
    csv_files = CsvFiles(env, plan.csv_prefix) if plan.csv_prefix else None
    gevent.spawn(stats_history, runner)
    collector = Collector(work_dir / "parts", sided=bool(plan.sides))
    try:
        problem = role.connect(runner, plan)
        if problem is not None:
            emit("error", message=problem)
            _write_result(collector, work_dir, "workers did not connect", None)
            return 3
        reason, pacer = _generate(plan, runner, collector, role)
        _write_result(collector, work_dir, reason, pacer)
        return 0
    finally:
        if csv_files is not None:
            csv_files.close()
        runner.quit()


def _generate(
    plan: Plan, runner: locust.runners.Runner, collector: Collector, role: Role
) -> tuple[str | None, PacerStats]:
    """Start the users at a common t0, report progress, wait for the end; (abort reason, pacer)."""
    t0 = time.time() + (plan.start_delay if plan.start_delay is not None else role.start_delay)
    role.begin(runner, plan, t0, collector)
    emit("start", t0=t0, workers=role.workers)
    cls = _user_class(plan)
    users = role.open_users if cls is OpenModelUser else int(plan.users or 1)
    runner.start(users, spawn_rate=min(100.0, float(plan.spawn_rate or users)), user_classes=[cls])
    role.started(runner)
    progress = gevent.spawn(_progress_loop, collector, isinstance(role, LocalRole), plan.duration_s)
    reason = _wait_done(t0 + plan.duration_s + plan.drain + 30)
    pacer = role.finish(collector, reason)
    progress.kill(block=True)
    _emit_progress(collector, plan.duration_s, final=True)  # the live view ends on the run's figures
    return reason, pacer


def run_worker(master_host: str, master_port: int) -> int:
    env = Environment(user_classes=[OpenModelUser, ClosedModelUser])
    runner = env.create_worker_runner(master_host, master_port)

    def on_report(client_id: str, data: dict[str, Any]) -> None:
        data["harness_samples"] = STATE.recorder.take()

    def on_plan(environment: Environment, msg: Any, **_: Any) -> None:
        plan = Plan.model_validate(msg.data["plan"])
        STATE.configure(
            plan, float(msg.data["t0"]), int(msg.data["slot"]), int(msg.data["step"]), environment
        )
        if plan.model == "closed":
            gevent.spawn(_closed_watcher, runner)
        gevent.spawn(_report_done)

    def on_abort(environment: Environment, msg: Any, **_: Any) -> None:
        STATE.abort.set()

    def _report_done() -> None:
        STATE.done.wait()
        runner.send_message(
            "harness_done", {"chunk": STATE.recorder.take(), "pacer": vars(STATE.pacer_stats)}
        )

    env.events.report_to_master.add_listener(on_report)  # type: ignore[no-untyped-call]
    runner.register_message("harness_plan", on_plan)
    runner.register_message("harness_abort", on_abort)
    runner.greenlet.join()
    return 0


def _read_plan(source: str) -> Plan:
    """The plan from stdin (``-``, how the harness passes it) or from a file (by hand)."""
    if source == "-":
        return Plan.model_validate_json(sys.stdin.read())
    return read_plan(Path(source))


def main(argv: list[str] | None = None) -> int:
    die_with_parent()
    parser = argparse.ArgumentParser(prog="harness.load.driver")
    parser.add_argument("--role", choices=("local", "master", "worker"), required=True)
    parser.add_argument("--plan", help="the plan: '-' reads it from stdin")
    parser.add_argument("--master-host", default="127.0.0.1")
    parser.add_argument("--master-port", type=int, default=5557)
    parser.add_argument("--master-bind-host", default="127.0.0.1")
    parser.add_argument("--expect-workers", type=int, default=1)
    parser.add_argument("--loglevel", default="WARNING")
    args = parser.parse_args(argv)
    setup_logging(args.loglevel)  # type: ignore[no-untyped-call]
    _install_sigterm()
    if args.role == "worker":
        return run_worker(args.master_host, args.master_port)
    if args.plan is None:
        parser.error("--plan is required for the local and master roles")
    plan = _read_plan(args.plan)
    role: Role = (
        LocalRole()
        if args.role == "local"
        else MasterRole(args.master_bind_host, args.master_port, args.expect_workers)
    )
    return drive(plan, Path(plan.work_dir), role)


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        sys.exit(main())
