"""One pass of a scenario's load against a started target: setup, the plan, Locust, the wait.

The measured pass and the memray pass (:mod:`harness.run.memory_pass`) both run through a
:class:`LoadPass`; they differ only in the target they start, what they monitor and what they
keep afterwards.

The plan holds the API key (in its request headers), so it stays in memory and reaches the
Locust process on its stdin (:class:`~harness.run.drivers.Drivers`). The work folder, where the
driver leaves its sample parts and result, is created private (0700) and removed by whoever
closes the pass (:func:`harness.run.finalize.close_run_folder`, also on abort).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from harness.contract.rundir import RunStatus
from harness.load.contract import Plan, SidePlan
from harness.load.plan import build_ops, build_plan, run_setup
from harness.load.sides import check_sides
from harness.run.drivers import Drivers
from harness.run.options import RunOptions
from harness.scenario import ResolvedScenario

#: Beyond the scenario's duration and drain: start-up of the Locust processes and writing their
#: result (plus a minute for distributed workers to connect).
WAIT_MARGIN_S, WORKERS_MARGIN_S = 120.0, 60.0


def _ignore(msg: dict[str, Any]) -> None:
    return None


def make_private_dir(path: Path) -> None:
    """``path`` (and its parents) created, ``path`` itself readable by its owner only."""
    path.mkdir(parents=True, exist_ok=True)
    os.chmod(path, 0o700)


class LoadPass:
    def __init__(
        self,
        resolved: ResolvedScenario,
        options: RunOptions,
        work_dir: Path,
        *,
        run_id: str,
        csv_prefix: Path | None,
        on_progress: Callable[[dict[str, Any]], None] = _ignore,
    ) -> None:
        self.resolved, self.options, self.work_dir = resolved, options, work_dir
        self.run_id, self.csv_prefix, self.on_progress = run_id, csv_prefix, on_progress
        self.context: dict[str, Any] = {}
        self.drivers: Drivers | None = None
        self.plan: Plan | None = None
        make_private_dir(work_dir)

    def prepare(self, url: str, headers: dict[str, str]) -> None:
        """Run the scenario's setup steps against ``url`` and build the plan (SetupError)."""
        self.context = run_setup(self.resolved, url, headers)
        ops = build_ops(self.resolved, self.context, headers)
        self.plan = build_plan(
            self.resolved,
            run_id=self.run_id,
            target_url=url,
            ops=ops,
            work_dir=self.work_dir,
            csv_prefix=self.csv_prefix,
        )

    def use_plan(self, plan: Plan) -> None:
        """Drive ``plan`` (e.g. a repeat of another pass's plan with its own run id and work folder)."""
        self.plan = plan

    def prepare_sides(self, targets: dict[str, tuple[str, dict[str, str]]], assign: str) -> dict[str, Any]:
        """A duet pass (``harness ab``): the setup steps against each side's (url, headers), one
        ``plan.json`` driving them all; returns each side's setup context (SetupError)."""
        contexts = {side: run_setup(self.resolved, url, hdrs) for side, (url, hdrs) in targets.items()}
        sides = {
            side: SidePlan(url=url, ops=build_ops(self.resolved, contexts[side], hdrs))
            for side, (url, hdrs) in targets.items()
        }
        first = min(sides)
        plan = build_plan(
            self.resolved,
            run_id=self.run_id,
            target_url=sides[first].url,
            ops=sides[first].ops,
            work_dir=self.work_dir,
            csv_prefix=self.csv_prefix,
        ).model_copy(update={"sides": sides, "assign": assign})
        check_sides(plan)
        self.plan = plan
        return contexts

    def start(self) -> None:
        plan = self.plan
        if plan is None:
            raise RuntimeError("LoadPass.start before prepare, prepare_sides or use_plan")
        self.drivers = Drivers(plan, self.work_dir, self.options, self.on_progress)
        self.drivers.start()

    def wait(self) -> tuple[RunStatus, str | None]:
        """Until the Locust processes exit: ("complete", None) or ("aborted", why)."""
        assert self.drivers is not None
        margin = WAIT_MARGIN_S + (WORKERS_MARGIN_S if self.options.workers else 0.0)
        length = self.resolved.duration_s + float(self.resolved.scenario.load.drain)
        deadline = time.monotonic() + length + margin
        while not self.drivers.wait(0.5):
            if time.monotonic() > deadline:
                self.drivers.terminate()
                self.drivers.wait(20)
                return "aborted", "load generator did not finish in time"
        if self.drivers.errors:
            return "aborted", "; ".join(self.drivers.errors)
        return "complete", None

    def interrupt(self) -> None:
        """Ctrl-C: ask the Locust processes to stop and write what they collected (a second Ctrl-C
        does not cut that short)."""
        if self.drivers is None:
            return
        self.drivers.terminate()
        for _ in range(2):
            try:
                if self.drivers.wait(15):
                    break
            except KeyboardInterrupt:
                continue

    def stop(self) -> None:
        if self.drivers is not None:
            self.drivers.kill()

    @property
    def started(self) -> bool:
        return self.drivers is not None

    @property
    def t0(self) -> float | None:
        """The measured window's start as the driver announced it (None before that)."""
        return self.drivers.t0 if self.drivers is not None else None
