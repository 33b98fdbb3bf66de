"""Every command line of README.md's shell blocks, run as written against real processes, so the
README cannot rot: `make serve` (in the background, on a free port), then each `harness` line in
order, in a scratch folder that looks like a checkout (its own reports/, profiles/ and .state/).

What is changed, and why — nothing else is:
- ``SHORTER``: long load runs get ``--duration``/``--pairs`` overrides (same command, less load);
- ``SKIPPED``: lines that are the suite itself, run by CI separately, or take minutes;
- the port 8080 of `make serve` becomes a free port (``PORT=`` of the Makefile; the machine is
  shared), and `make` is told not to reinstall the shared venv (``-o .venv/.installed``);
- ``BASE_RUN`` / ``NEW_RUN`` are the first two run folders the earlier lines wrote.
A new README line that is neither run nor skipped here fails the test until it is classified.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.commandlines import ROOT, clean_env, make_checkout, make_serve, run_line, strip_comment

pytestmark = pytest.mark.slow

#: command (comment stripped) -> why it is not run here
SKIPPED: dict[str, str] = {
    "make demo": "CI runs it separately (.ci/run)",
    "make test": "the test suite this test is part of",
    "make demo-regression": "a make demo variant: CI runs the demos separately",
    "make demo-postgres": "a make demo variant (on PostgreSQL): CI runs the demos separately",
    "make lint": "CI runs it",
    "make profile": "py-spy + memray passes, minutes; tests/harness/profiling cover it",
    "make nightly SCALE=0.05": "minutes; tests/harness/nightly cover the suite",
    ".venv/bin/harness nightly --baseline-ref origin/main": "a duet per nightly step against a ref: minutes",
    ".venv/bin/harness ab scenarios/smoke.yaml --a-config baseline --b-config optimized --repeat 3 "
    "--profile cpu": "three profiled windows; the ab line above runs the command",
    "make chaos": "reliability probes, ~10 min",
}
#: command prefix -> (text to replace, replacement) or extra arguments: the same command, less load
SHORTER: list[tuple[str, str, str]] = [
    (".venv/bin/harness calibrate", "--pairs 2 --duration 10s", "--pairs 1 --duration 2s"),
    (".venv/bin/harness ab ", "--b-config optimized", "--b-config optimized --duration 2s"),
    (".venv/bin/harness run ", "--time-scale 0.01", "--time-scale 0.01 --duration 2s"),
    (".venv/bin/harness run ", "--gate", "--gate --duration 2s"),
    (".venv/bin/harness run ", "--json", "--json --duration 2s"),
]


def readme_commands() -> list[str]:
    """The command lines of README.md's ```sh blocks, trailing comments stripped."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    commands = []
    for block in re.findall(r"```sh\n(.*?)```", text, re.DOTALL):
        for line in block.splitlines():
            if line.strip() and not line[0].isspace():  # indented lines continue a comment
                commands.append(strip_comment(line))
    return commands


@pytest.fixture()
def checkout(tmp_path: Path) -> Iterator[Path]:
    yield make_checkout(tmp_path)


@pytest.fixture()
def served(checkout: Path) -> Iterator[int]:
    """`make serve` as the README says, on a free port; its port once /v1/health answers."""
    with make_serve(checkout) as (port, output):
        yield port
    assert "HARNESS_API_KEY=$(cat .state/api_key)" in "\n".join(output)  # make serve says how to pass its key


def as_run(command: str, port: int, runs: list[Path]) -> str:
    for prefix, old, new in SHORTER:
        if prefix in command and old in command:
            command = command.replace(old, new, 1)
            break
    command = command.replace("127.0.0.1:8080", f"127.0.0.1:{port}")
    if "BASE_RUN" in command or "NEW_RUN" in command:
        assert len(runs) >= 2, f"{command}: needs two runs written by the lines above"
        command = command.replace("BASE_RUN", str(runs[0])).replace("NEW_RUN", str(runs[1]))
    return command


def test_every_readme_command_works_as_written(checkout: Path, served: int) -> None:
    commands = readme_commands()
    assert "make serve" in commands and len(commands) > 10
    timings: list[str] = []
    for command in commands:
        if command in SKIPPED or command == "make serve":
            continue
        assert re.match(r"(HARNESS_API_KEY=\S+ \S+ )?\.venv/bin/harness ", command), (
            f"README line {command!r} is neither run nor in SKIPPED: classify it in tests/test_readme.py"
        )
        runs = sorted((checkout / "reports" / "runs").glob("*/manifest.json"))
        line = as_run(command, served, [p.parent for p in runs])
        out = run_line(line, checkout, clean_env(), timings)
        if "--json" in command:
            result = json.loads(out.stdout)
            assert Path(result["run_dir"]).is_dir() and result["exit_code"] == out.returncode
    print("\n".join(timings))
