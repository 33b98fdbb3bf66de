"""Agent team creation (``POST /v1/projects``): a research phase, then a creation phase per agent.

Research: domain research, role analysis, tool investigation, regulation review.
Creation (per agent): persona, commands, integration specs. Every step is a model call.
:func:`run_steps` runs a phase's steps one after another or concurrently (``parallel_creation``).
With ``templates`` on, roles found in the pattern library reuse a stored persona, command set
and integration pattern (~80%) and only one small customization call is made (~20%).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from .agents.registry import AgentState
from .agents.team import TeamDefinition
from .cache import LayeredCache
from .config import Switches
from .model_client import ModelClient
from .store import Repo

T = TypeVar("T")
RESEARCH_STEPS = ("domain_research", "role_analysis", "tool_investigation", "regulation_review")
CREATION_STEPS = ("persona", "commands", "integration_specs")
MAX_TEAM_SIZE = 20
DEFAULT_TEAM_SIZE = 3
FULL_TOKENS = 256
CUSTOMIZE_TOKENS = 64


async def run_steps(factories: list[Callable[[], Awaitable[T]]], parallel: bool) -> list[T]:
    """The one switch point between sequential and concurrent execution of a phase."""
    if parallel:
        return list(await asyncio.gather(*(f() for f in factories)))
    return [await f() for f in factories]


@dataclass(frozen=True)
class Pattern:
    """A reusable role template: persona, command set, integration pattern."""

    role: str
    persona: dict[str, Any]
    commands: list[str]
    integrations: list[str]


class PatternLibrary:
    def __init__(self, team: TeamDefinition) -> None:
        self.patterns: dict[str, Pattern] = {}
        for r in team.roles:
            self.patterns[r.key] = Pattern(
                role=r.role,
                persona={k: v for k, v in r.persona.items() if isinstance(v, str)},
                commands=sorted(r.commands),
                integrations=[f"handoff:{r.key}", "status-updates:P3", "metrics:batched"],
            )

    def match(self, role: str) -> Pattern | None:
        key = role.strip().lower().replace(" ", "-").replace("_", "-")
        if key in self.patterns:
            return self.patterns[key]
        return next((p for k, p in self.patterns.items() if k in key or p.role.lower() == role.lower()), None)


@dataclass
class CreationReport:
    project_id: str
    agents: list[str] = field(default_factory=list)
    model_calls: int = 0
    tokens_requested: int = 0
    seconds: float = 0.0
    research_seconds: float = 0.0
    design_seconds: float = 0.0


def requested_roles(metadata: dict[str, Any], library: PatternLibrary) -> list[str]:
    """``metadata.roles`` (list of names) or ``metadata.teamSize`` (n roles from the library)."""
    roles = metadata.get("roles")
    if isinstance(roles, list) and all(isinstance(r, str) and r.strip() for r in roles):
        return [r.strip() for r in roles][:MAX_TEAM_SIZE]
    size = metadata.get("teamSize", DEFAULT_TEAM_SIZE)
    if not isinstance(size, int) or isinstance(size, bool):
        size = DEFAULT_TEAM_SIZE
    keys = list(library.patterns)
    return [keys[i % len(keys)] for i in range(max(0, min(size, MAX_TEAM_SIZE)))]


@dataclass(frozen=True)
class CreationDeps:
    switches: Switches
    team: TeamDefinition
    repo: Repo
    cache: LayeredCache
    model: ModelClient
    add_agent: Callable[[str, dict[str, Any]], Awaitable[AgentState]]


class TeamCreator:
    def __init__(self, deps: CreationDeps) -> None:
        self.deps = deps
        self.library = PatternLibrary(deps.team)

    async def _call(self, report: CreationReport, prompt: str, tokens: int, kind: str) -> str:
        report.model_calls += 1
        report.tokens_requested += tokens
        reply = await self.deps.model.complete_patiently(prompt, tokens, kind)
        return reply.text

    async def create(self, project: dict[str, Any], roles: list[str]) -> CreationReport:
        sw = self.deps.switches
        repo = self.deps.repo
        report = CreationReport(project["id"])
        t0 = time.perf_counter()
        await repo.update_project(project["id"], {"status": "discovery", "phase": "research"})
        research = await run_steps(
            [self._research_step(report, project, step) for step in RESEARCH_STEPS], sw.parallel_creation
        )
        report.research_seconds = time.perf_counter() - t0
        await repo.update_project(project["id"], {"status": "building", "phase": "creation"})
        t1 = time.perf_counter()
        summary = " ".join(r[:80] for r in research)
        await run_steps(
            [self._agent_factory(report, project, role, summary) for role in roles], sw.parallel_creation
        )
        report.design_seconds = time.perf_counter() - t1
        await repo.update_project(project["id"], {"status": "validating", "phase": "validation"})
        await repo.update_project(project["id"], {"status": "completed", "phase": "ready"})
        report.seconds = time.perf_counter() - t0
        return report

    def _research_step(
        self, report: CreationReport, project: dict[str, Any], step: str
    ) -> Callable[[], Awaitable[str]]:
        """Research is domain knowledge: cached (L2 shared, L3 on disk) per domain and step."""
        domain = str(project["domain"])
        prompt = f"{step.replace('_', ' ')} for a team in domain {domain!r}"

        async def run() -> str:
            key = f"research:{domain.lower()}:{step}"
            text = await self.deps.cache.get_or_load(
                key, lambda: self._call(report, prompt, FULL_TOKENS, step)
            )
            return str(text)

        return run

    def _agent_factory(
        self, report: CreationReport, project: dict[str, Any], role: str, research: str
    ) -> Callable[[], Awaitable[AgentState]]:
        return lambda: self.create_agent(report, project, role, research)

    async def create_agent(
        self, report: CreationReport, project: dict[str, Any], role: str, research: str
    ) -> AgentState:
        pattern = self.library.match(role) if self.deps.switches.templates else None
        if pattern is not None:
            custom = await self._call(
                report,
                f"Customize the {role} template for {project['domain']}: {research[:200]}",
                CUSTOMIZE_TOKENS,
                "customize",
            )
            persona = {**pattern.persona, "customization": custom[:120]}
            commands, integrations = pattern.commands, pattern.integrations
        else:
            outs = await run_steps(
                [self._creation_step(report, project, role, step, research) for step in CREATION_STEPS],
                self.deps.switches.parallel_creation,
            )
            persona = {"role": role, "identity": outs[0][:160], "style": "derived"}
            commands = ["help", "status", *sorted({w for w in outs[1].split()[:6] if w.isalpha()})]
            integrations = [outs[2][:80]]
        agent = await self.deps.add_agent(
            project["id"],
            {
                "name": f"{role.title()} Agent",
                "role": role,
                "personality": {k: str(v) for k, v in persona.items()},
                "capabilities": integrations,
                "commands": commands,
            },
        )
        report.agents.append(agent.id)
        return agent

    def _creation_step(
        self, report: CreationReport, project: dict[str, Any], role: str, step: str, research: str
    ) -> Callable[[], Awaitable[str]]:
        what = step.replace("_", " ")
        prompt = f"Write the {what} for a {role} in {project['domain']}. Research: {research[:300]}"
        return lambda: self._call(report, prompt, FULL_TOKENS, step)
