"""Team definitions in the package format: ours (10 roles) and a real Mother Box folder."""

from __future__ import annotations

from pathlib import Path

import pytest

from reference_runtime.agents.team import (
    SHIPPED_TEAM_DIR,
    TeamFormatError,
    extract_yaml_block,
    load_team,
    parse_commands,
)

from .helpers import REPO, SHARED_MB

FORBIDDEN = ("ACTIVATION-NOTICE", "IDE-FILE-RESOLUTION", "support@motherbox.io")


def test_shipped_team_has_ten_roles_each_with_one_yaml_block() -> None:
    team = load_team()
    assert len(team.roles) == 10
    assert len({r.key for r in team.roles}) == 10
    for role in team.roles:
        text = Path(role.source).read_text()
        assert text.count("```yaml") == 1
        assert role.commands and "help" in role.commands
        assert role.persona.get("role")
    assert {r.group for r in team.roles} == {
        "leadership",
        "understanding",
        "synthesis",
        "building",
        "specialist",
    }


def test_no_upstream_text_in_the_project() -> None:
    """Our own definitions: none of the upstream package's boilerplate strings outside tests/."""
    roots = [REPO / "reference_runtime", REPO / "docs", REPO / "bench", REPO / "harness"]
    for root in roots:
        for path in root.rglob("*"):
            if path.is_file() and path.suffix in {".md", ".yaml", ".py", ".txt", ".html"}:
                text = path.read_text(errors="ignore")
                for needle in FORBIDDEN:
                    assert needle not in text, f"{needle!r} found in {path}"


@pytest.mark.skipif(not SHARED_MB.exists(), reason=f"Mother Box package not found at {SHARED_MB}")
def test_loads_the_real_mother_box_package() -> None:
    team = load_team(SHARED_MB)
    assert team.name == "Mother Box"
    assert len(team.roles) == 10
    orchestrator = team.role("orchestrator")
    assert orchestrator is not None and orchestrator.id == "mb-orchestrator"
    assert all(len(r.commands) >= 10 for r in team.roles)


def test_command_parsing_strips_args_and_star() -> None:
    assert parse_commands([{"brainstorm {topic}": "x"}, {"*help": None}, "status"]) == {
        "brainstorm": "x",
        "help": "",
        "status": "",
    }


def test_format_errors() -> None:
    with pytest.raises(TeamFormatError):
        extract_yaml_block("no block here")
    with pytest.raises(TeamFormatError):
        extract_yaml_block("```yaml\na: 1\n```\n```yaml\nb: 2\n```\n")
    # A broken section is skipped when the rest parses.
    data = extract_yaml_block("```yaml\nagent:\n  name: x\nbroken: [a, \n```\n")
    assert data["agent"] == {"name": "x"}


def test_missing_team_file(tmp_path: Path) -> None:
    with pytest.raises(TeamFormatError):
        load_team(tmp_path)
    assert (SHIPPED_TEAM_DIR / "agent-teams").is_dir()
