"""Load, validate and resolve scenario files; errors carry file, line and field path."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from harness.scenario.operations import (
    DYNAMIC,
    NAMED_OPERATIONS,
    SetupStepDef,
    default_setup,
    placeholders,
    request_template,
)
from harness.scenario.schema import Scenario, Stage, semantic_errors
from harness.scenario.yamlsafe import LoadedYaml, YamlError, load_yaml_text

FieldPath = tuple[str | int, ...]


@dataclass(frozen=True)
class Issue:
    file: str
    line: int | None
    column: int | None
    path: str
    message: str

    def __str__(self) -> str:
        where = self.file
        if self.line is not None:
            where += f":{self.line}" + (f":{self.column}" if self.column is not None else "")
        field_part = f" {self.path}:" if self.path else ""
        return f"{where}:{field_part} {self.message}"


class ScenarioError(Exception):
    """A scenario that cannot be used; ``issues`` lists every problem found."""

    def __init__(self, issues: list[Issue]) -> None:
        super().__init__("\n".join(str(i) for i in issues))
        self.issues = issues


def format_path(path: FieldPath) -> str:
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out


def _issue(file: str, loaded: LoadedYaml | None, path: FieldPath, message: str) -> Issue:
    mark = loaded.line_of(path) if loaded is not None else None
    return Issue(file, mark[0] if mark else None, mark[1] if mark else None, format_path(path), message)


def _clean_loc(loc: tuple[Any, ...]) -> FieldPath:
    """Drop pydantic's union-branch labels (e.g. ``float``, ``WaitRange``) from error locations."""
    return tuple(part for part in loc if isinstance(part, int) or not _is_type_label(str(part)))


def _is_type_label(part: str) -> bool:
    return part[:1].isupper() or part in {"float", "int", "str", "bool", "list", "dict"} or "[" in part


def parse_scenario_text(text: str, file: str = "<string>") -> Scenario:
    try:
        loaded = load_yaml_text(text)
    except YamlError as exc:
        raise ScenarioError([Issue(file, exc.line, exc.column, "", exc.message)]) from exc
    if not isinstance(loaded.data, dict):
        raise ScenarioError([Issue(file, 1, 1, "", "a scenario must be a YAML mapping")])
    try:
        scenario = Scenario.model_validate(loaded.data)
    except ValidationError as exc:
        issues = []
        for err in exc.errors():
            path = _clean_loc(tuple(err["loc"]))
            message = str(err["msg"]).removeprefix("Value error, ")
            if err["type"] == "extra_forbidden":
                message = "unknown key"
            issues.append(_issue(file, loaded, path, message))
        raise ScenarioError(issues) from exc
    problems = semantic_errors(scenario)
    if problems:
        raise ScenarioError([_issue(file, loaded, path, msg) for path, msg in problems])
    return scenario


def load_scenario(path: Path) -> Scenario:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ScenarioError([Issue(str(path), None, None, "", f"cannot read: {exc}")]) from exc
    return parse_scenario_text(text, str(path))


# ---------------------------------------------------------------- resolution


@dataclass(frozen=True)
class ResolvedStage:
    start_s: float
    end_s: float
    rate_from: float
    rate_to: float

    @property
    def mean_rate(self) -> float:
        return (self.rate_from + self.rate_to) / 2.0


@dataclass
class ResolvedScenario:
    """A scenario with time scale / duration override applied, ready to run."""

    scenario: Scenario
    source: str | None
    time_scale: float
    duration_s: float
    stages: list[ResolvedStage]
    setup: list[SetupStepDef] = field(default_factory=list)

    @property
    def is_open(self) -> bool:
        return self.scenario.load.model == "open"

    def summary_stages(self) -> list[tuple[float, float, float | None]]:
        """(start_s, end_s, mean target rate) per stage, as harness.derive.summary expects."""
        if not self.is_open:
            return [(0.0, self.duration_s, None)]
        return [(s.start_s, s.end_s, s.mean_rate) for s in self.stages]

    def targets_ms(self) -> dict[str, float | None]:
        out: dict[str, float | None] = {}
        for item in self.scenario.mix:
            if item.target_ms is not None:
                out[item.label] = item.target_ms * 1000.0
            elif item.operation is not None:
                out[item.label] = NAMED_OPERATIONS[item.operation].target_ms
            else:
                out[item.label] = None
        return out

    def dump(self) -> dict[str, Any]:
        data = self.scenario.model_dump(mode="json", by_alias=True)
        data["resolved"] = {
            "time_scale": self.time_scale,
            "duration_s": self.duration_s,
            "stages": [vars(s) for s in self.stages],
            "setup": [vars(s) for s in self.setup],
        }
        return data


def _stages_of(scenario: Scenario) -> list[Stage]:
    load = scenario.load
    if load.stages is not None:
        return list(load.stages)
    assert load.rate is not None and load.duration is not None
    return [Stage(duration=load.duration, rate=load.rate)]


def resolve(
    scenario: Scenario,
    *,
    time_scale: float = 1.0,
    duration_s: float | None = None,
    source: str | None = None,
) -> ResolvedScenario:
    """Apply ``--time-scale`` (every duration and stage length) and ``--duration`` (the total)."""
    if time_scale <= 0:
        raise ValueError("time scale must be > 0")
    load = scenario.load
    if load.model == "closed":
        assert load.duration is not None
        total = duration_s if duration_s is not None else load.duration * time_scale
        new_load = load.model_copy(update={"duration": total})
        stages: list[ResolvedStage] = []
    else:
        raw = _stages_of(scenario)
        natural = sum(s.duration for s in raw) * time_scale
        factor = time_scale * (duration_s / natural if duration_s is not None and natural > 0 else 1.0)
        stages, start, previous = [], 0.0, 0.0
        for stage in raw:
            length = stage.duration * factor
            rate_from = previous if stage.ramp else stage.rate
            stages.append(ResolvedStage(start, start + length, rate_from, stage.rate))
            start, previous = start + length, stage.rate
        total = start
        scaled = [s.model_copy(update={"duration": s.duration * factor}) for s in raw]
        if load.stages is not None:
            new_load = load.model_copy(update={"stages": scaled})
        else:
            new_load = load.model_copy(update={"duration": total})
    resolved_scn = scenario.model_copy(update={"load": new_load})
    return ResolvedScenario(
        scenario=resolved_scn,
        source=source,
        time_scale=time_scale,
        duration_s=total,
        stages=stages,
        setup=setup_steps(scenario),
    )


def setup_steps(scenario: Scenario) -> list[SetupStepDef]:
    if scenario.setup is not None:
        return [
            SetupStepDef(
                name=s.name,
                method=s.method,
                path=s.path,
                json=s.json_body,
                expect_status=_statuses(s.expect_status, (200, 201)),
                save=dict(s.save),
            )
            for s in scenario.setup
        ]
    needed: set[str] = set()
    for item in scenario.mix:
        if item.operation is not None:
            needed.update(NAMED_OPERATIONS[item.operation].needs)
        needed.update(placeholders(item.path) | placeholders(item.json_body))
    return default_setup(needed - DYNAMIC)


def _statuses(value: list[int] | int | None, default: tuple[int, ...]) -> tuple[int, ...]:
    if value is None:
        return default
    return (value,) if isinstance(value, int) else tuple(value)


# ---------------------------------------------------------------- the whole check


def missing_placeholders(resolved: ResolvedScenario) -> dict[int, set[str]]:
    """Per mix item (by index), placeholders neither saved by a setup step nor filled per request."""
    have = {var for step in resolved.setup for var in step.save} | DYNAMIC
    out: dict[int, set[str]] = {}
    for index, item in enumerate(resolved.scenario.mix):
        path, body = request_template(item)
        missing = (placeholders(path) | placeholders(body)) - have
        if missing:
            out[index] = missing
    return out


def check_scenario(
    path: Path, *, time_scale: float = 1.0, duration_s: float | None = None
) -> ResolvedScenario:
    """What ``harness validate`` checks and ``harness run`` needs before it starts anything: the
    schema, the semantics, the time scaling, and that every placeholder of the mix is set up.

    Raises :class:`ScenarioError` listing every problem with file, line and field.
    """
    scenario = load_scenario(path)
    try:
        resolved = resolve(scenario, time_scale=time_scale, duration_s=duration_s, source=str(path))
    except ValueError as exc:
        raise ScenarioError([Issue(str(path), None, None, "", str(exc))]) from None
    missing = missing_placeholders(resolved)
    if missing:
        loaded = load_yaml_text(path.read_text(encoding="utf-8"))
        raise ScenarioError(
            [
                _issue(
                    str(path), loaded, ("mix", index), f"placeholders not provided by setup: {sorted(names)}"
                )
                for index, names in missing.items()
            ]
        )
    return resolved
