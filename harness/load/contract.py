"""What passes between the run stage and the Locust process, as versioned models.

- The plan (:class:`Plan`): built by the run stage (:func:`harness.load.plan.build_plan`) and
  written as JSON to the driver's stdin (``python -m harness.load.driver --plan -``, see
  :mod:`harness.run.drivers`), never to a file: its headers hold the API key. A master forwards it
  to its workers as JSON over Locust's own connection. :func:`read_plan` reads a plan file, for a
  plan given by path (``--plan FILE``, tests and manual runs).
- ``driver_result.json`` (:class:`DriverResult`): written by the driver when the load has ended,
  read by the run stage (:func:`load_driver_result`) to merge the samples and close the run folder.
  It lives in the run's ``.work`` folder, is deleted with it, and is written atomically with
  :func:`harness.contract.atomic.write_model`.

The schema version guards a driver and a harness of different versions meeting (a remote worker,
say).
"""

from __future__ import annotations

from pathlib import Path
from typing import Final, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from harness.contract.rundir import PacerCounts
from harness.scenario.operations import ReadyPoll

PLAN_FILE = "plan.json"
#: Start of the driver's stdout lines meant for the run stage (a JSON object follows).
PROGRESS_PREFIX = "@@HARNESS "
DRIVER_RESULT_FILE = "driver_result.json"
SCHEMA_VERSION: Final = 1


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class OpSpec(_Model):
    """One request template of the mix, rendered with the setup context."""

    label: str
    method: str
    path: str
    body: str | None = None  # JSON text
    headers: dict[str, str] = Field(default_factory=dict)
    expect: list[int] = Field(default_factory=list)  # empty: any 2xx is a success (no redirects)
    weight: float
    dynamic: bool = False  # the path or body has per-request placeholders ({seq}, {uuid}, {worker})
    #: A create-then-poll operation (team creation): one sample from the create request to the
    #: first poll that reads ready, at most the plan's ``timeout`` (harness.load.ready).
    until: ReadyPoll | None = None


class SidePlan(_Model):
    """One target of a duet pass (``harness ab``): its base URL and the mix rendered for it."""

    url: str
    ops: list[OpSpec]  # the same labels and weights, in the same order, on every side


class Plan(_Model):
    """Everything a Locust process needs to generate the load of one pass.

    ``sides`` (``harness ab``): the targets of a duet pass by side name; empty for ``harness run``.
    One schedule drives them all: ``mirror`` sends each scheduled request to every side at the
    same intended instant, ``alternate`` to one side in a seeded balanced random order. The
    samples then carry a ``side`` column (only inside ``.work``: each side's run folder gets the
    standard columns).
    """

    schema_version: Literal[1] = SCHEMA_VERSION
    run_id: str
    target_url: str
    model: Literal["open", "closed"]
    stages: list[tuple[float, float, float, float]]  # start_s, end_s, rate_from, rate_to
    duration_s: float
    max_in_flight: int
    timeout: float
    drain: float
    queue_timeout: float = 1.0
    users: int | None = None  # closed model
    spawn_rate: float | None = None
    wait: tuple[float, float] = (0.0, 0.0)  # closed model: seconds between requests (min, max)
    ops: list[OpSpec]
    seed: int = 1
    work_dir: str
    csv_prefix: str | None = None  # Locust's own CSV files (None: not written)
    start_delay: float | None = None  # seconds from "start" to t0 (None: the role's default)
    worker_wait: float = 60.0  # master: how long to wait for the workers to connect
    sides: dict[str, SidePlan] = Field(default_factory=dict)
    assign: Literal["mirror", "alternate"] = "mirror"


class DriverResult(_Model):
    """What the driver collected; ``parts`` are Parquet files under ``<work_dir>/parts``.

    ``pacer`` holds the open-model pacer's counts summed over workers (the manifest's
    ``load.pacer``); None when the load never started. Unknown keys are refused, as in every model
    here: a file of an older driver with since-removed fields reads as no result (the file only
    lives in the run's ``.work`` folder, written and read by one installed harness).
    """

    schema_version: Literal[1] = SCHEMA_VERSION
    status: Literal["complete", "aborted"]
    abort_reason: str | None = None
    t0: float | None = None  # start of the measured window (None: the load never started)
    ended_at: float
    parts: list[str] = Field(default_factory=list)
    pacer: PacerCounts | None = None


def read_plan(path: Path) -> Plan:
    return Plan.model_validate_json(path.read_text(encoding="utf-8"))


def load_driver_result(work_dir: Path) -> DriverResult | None:
    """The driver's result, or None when it wrote none (killed) or an unreadable one."""
    try:
        return DriverResult.model_validate_json((work_dir / DRIVER_RESULT_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError, ValidationError):
        return None
