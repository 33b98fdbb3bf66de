"""Team definitions in the Mother Box package format.

A package folder holds ``agent-teams/<team>.yaml`` (agents grouped by sub-team, each with a
``file``) and one Markdown file per agent with exactly one embedded ```` ```yaml ```` block
(``agent``, ``persona``, ``commands``...). The runtime ships its own package under
``reference_runtime/team/``; the loader reads a real Mother Box folder the same way.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

SHIPPED_TEAM_DIR = Path(__file__).resolve().parent.parent / "team"
_YAML_BLOCK = re.compile(r"^```ya?ml[ \t]*\n(.*?)^```", re.MULTILINE | re.DOTALL)


class TeamFormatError(ValueError):
    pass


@dataclass(frozen=True)
class RoleDefinition:
    key: str
    id: str
    name: str
    title: str
    role: str
    group: str
    phase: str
    critical: bool
    when_to_use: str
    persona: dict[str, Any]
    commands: dict[str, str]  # command name (no "*", no args) -> description
    source: str

    def summary(self) -> dict[str, Any]:
        return {"key": self.key, "id": self.id, "name": self.name, "role": self.role, "group": self.group}


@dataclass
class TeamDefinition:
    name: str
    version: str
    description: str
    roles: list[RoleDefinition] = field(default_factory=list)
    workflows: dict[str, Any] = field(default_factory=dict)

    def role(self, key: str) -> RoleDefinition | None:
        return next((r for r in self.roles if key in (r.key, r.id)), None)


def extract_yaml_block(markdown: str, source: str = "<text>") -> dict[str, Any]:
    blocks = _YAML_BLOCK.findall(markdown)
    if len(blocks) != 1:
        raise TeamFormatError(f"{source}: expected exactly one ```yaml block, found {len(blocks)}")
    try:
        data = yaml.safe_load(blocks[0])
    except yaml.YAMLError:
        # Real packages sometimes hold one malformed section; keep every section that parses.
        data = _parse_sections(blocks[0])
        if "agent" not in data:
            raise TeamFormatError(f"{source}: YAML block does not parse and has no 'agent' section") from None
    if not isinstance(data, dict):
        raise TeamFormatError(f"{source}: YAML block must be a mapping")
    return data


def _parse_sections(text: str) -> dict[str, Any]:
    """Parse each top-level key of a YAML mapping on its own, skipping broken ones."""
    chunks: list[list[str]] = []
    for line in text.splitlines():
        if (line and not line[0].isspace() and not line.startswith(("#", "-"))) or not chunks:
            chunks.append([line])
        else:
            chunks[-1].append(line)
    out: dict[str, Any] = {}
    for chunk in chunks:
        try:
            part = yaml.safe_load("\n".join(chunk))
        except yaml.YAMLError:
            continue
        if isinstance(part, dict):
            out.update(part)
    return out


def parse_commands(raw: Any) -> dict[str, str]:
    """``[- "brainstorm {topic}": "desc"]`` becomes ``{"brainstorm": "desc"}``."""
    out: dict[str, str] = {}
    items = raw if isinstance(raw, list) else [raw] if isinstance(raw, dict) else []
    for item in items:
        if isinstance(item, dict):
            for key, desc in item.items():
                name = str(key).strip().lstrip("*").split()[0] if str(key).strip() else ""
                if name:
                    out[name] = "" if desc is None else str(desc)
        elif isinstance(item, str) and item.strip():
            out[item.strip().lstrip("*").split()[0]] = ""
    return out


def _team_file(root: Path) -> Path:
    candidates = sorted((root / "agent-teams").glob("*.yaml"))
    if not candidates:
        raise TeamFormatError(f"{root}: no agent-teams/*.yaml")
    return candidates[0]


def load_role(path: Path, key: str, group: str, entry: dict[str, Any]) -> RoleDefinition:
    block = extract_yaml_block(path.read_text(encoding="utf-8"), str(path))
    agent = block.get("agent") or {}
    persona = block.get("persona") or {}
    if not isinstance(agent, dict) or not isinstance(persona, dict):
        raise TeamFormatError(f"{path}: 'agent' and 'persona' must be mappings")
    return RoleDefinition(
        key=key.replace("_", "-"),
        id=str(agent.get("id") or key),
        name=str(agent.get("name") or key),
        title=str(agent.get("title") or ""),
        role=str(entry.get("role") or persona.get("role") or key),
        group=group,
        phase=str(entry.get("phase") or "both"),
        critical=bool(entry.get("critical", False)),
        when_to_use=str(agent.get("whenToUse") or ""),
        persona=persona,
        commands=parse_commands(block.get("commands")),
        source=str(path),
    )


def load_team(root: Path | None = None) -> TeamDefinition:
    """Load a package folder (default: the team shipped with the runtime)."""
    root = root or SHIPPED_TEAM_DIR
    team_path = _team_file(root)
    data = yaml.safe_load(team_path.read_text(encoding="utf-8")) or {}
    meta = data.get("team") or {}
    team = TeamDefinition(
        name=str(meta.get("name") or team_path.stem),
        version=str(meta.get("version") or "0"),
        description=str(meta.get("description") or ""),
        workflows=data.get("workflows") or {},
    )
    for group, members in (data.get("agents") or {}).items():
        for key, entry in (members or {}).items():
            if not isinstance(entry, dict) or "file" not in entry:
                raise TeamFormatError(f"{team_path}: agent {key!r} has no 'file'")
            team.roles.append(load_role(root / str(entry["file"]), str(key), str(group), entry))
    if not team.roles:
        raise TeamFormatError(f"{team_path}: no agents")
    return team
