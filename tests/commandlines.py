"""Running the command lines the documentation tells a user to type (README.md by tests/test_readme.py,
docs/*.md by tests/test_docs_commands.py): finding them in the Markdown, a scratch folder that looks
like a checkout (its own reports/, profiles/ and .state/), `make serve` on a free port, and one line
run through bash with its exit code checked."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from harness.run.target import free_port

ROOT = Path(__file__).resolve().parents[1]
LINKED = (".venv", "scenarios", "Makefile", "pyproject.toml")
#: commands whose exit 1 is a result (a gate failed, a regression found), not a broken command
VERDICT_COMMANDS = ("harness gate", "harness compare", "harness ab", "--gate")
_FENCE = re.compile(r"^( *)```(\w*)\n(.*?)^\1```", re.DOTALL | re.MULTILINE)


def strip_comment(line: str) -> str:
    """The command without its trailing ``# comment``."""
    return re.sub(r"\s+#\s.*$", "", line).strip()


@dataclass(frozen=True)
class DocLine:
    """A command in a shell block: ``first`` is its first line (what classifies it), ``text`` the
    whole command with ``\\``-continuations and indented synopsis lines joined."""

    file: str
    line: int
    first: str
    text: str


def shell_blocks(path: Path, languages: tuple[str, ...]) -> Iterator[tuple[int, list[str]]]:
    """(line number of the first body line, body lines with the fence's indent removed)."""
    text = path.read_text(encoding="utf-8")
    for match in _FENCE.finditer(text):
        if match.group(2) in languages:
            indent = len(match.group(1))
            start = text.count("\n", 0, match.start(3)) + 1
            yield start, [line[indent:] for line in match.group(3).splitlines()]


def block_commands(path: Path, languages: tuple[str, ...], starts: re.Pattern[str]) -> list[DocLine]:
    """Every command of ``path``'s blocks in ``languages`` whose first line matches ``starts``."""
    found: list[DocLine] = []
    for start, lines in shell_blocks(path, languages):
        current: list[str] = []
        for offset, line in enumerate(lines):
            continues = bool(current) and (current[-1].endswith("\\") or line[:1].isspace())
            if continues:
                current.append(line)
            elif starts.match(line):
                current = [line]
                found.append(DocLine(path.name, start + offset, strip_comment(line), ""))
            else:
                current = []
            if current:
                joined = " ".join(strip_comment(part).rstrip("\\").strip() for part in current)
                found[-1] = DocLine(found[-1].file, found[-1].line, found[-1].first, joined)
    return found


def make_checkout(root: Path) -> Path:
    """``root`` set up as a checkout: the venv, scenarios and Makefile linked, the rest its own."""
    for name in LINKED:
        (root / name).symlink_to(ROOT / name)
    return root


def clean_env(checkout: Path | None = None) -> dict[str, str]:
    """This environment without the harness's and the runtime's settings (a user's shell);
    with ``checkout``, its venv first on PATH (the docs write `harness ...`)."""
    drop = {"HARNESS_REPORTS_DIR", "HARNESS_PROFILES_DIR", "HARNESS_API_KEY", "MOTHERBOX_API_KEY"}
    env = {k: v for k, v in os.environ.items() if k not in drop and not k.startswith("MOTHERBOX_")}
    if checkout is not None:
        env["PATH"] = f"{checkout / '.venv' / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    return env


@contextmanager
def make_serve(checkout: Path, env: dict[str, str] | None = None) -> Iterator[tuple[int, list[str]]]:
    """`make serve` as the docs say, on a free port, until the block ends: (port, its output lines,
    filled in when it has stopped)."""
    port = free_port()
    proc = subprocess.Popen(
        ["make", "-s", "-o", ".venv/.installed", "serve", f"PORT={port}"],
        cwd=checkout,
        env=env if env is not None else clean_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    output: list[str] = []
    try:
        wait_healthy(port, proc)
        yield port, output
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        out, _ = proc.communicate(timeout=30)
        output.extend(out.splitlines())


def wait_healthy(port: int, proc: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert proc.poll() is None, "make serve exited"
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/v1/health", timeout=1) as reply:
                if reply.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise AssertionError("make serve: /v1/health never answered")


def run_line(
    line: str, checkout: Path, env: dict[str, str], timings: list[str]
) -> subprocess.CompletedProcess[str]:
    """Run one command line with bash in ``checkout``. Fails the test on an exit code other than 0
    (or 1 for a verdict command) or a traceback."""
    started = time.monotonic()
    out = subprocess.run(
        ["bash", "-c", line], cwd=checkout, env=env, capture_output=True, text=True, timeout=120
    )
    timings.append(f"{time.monotonic() - started:5.1f}s  {line}")
    allowed = (0, 1) if any(word in line for word in VERDICT_COMMANDS) else (0,)
    output = f"{out.stdout[-3000:]}{out.stderr[-3000:]}"
    assert out.returncode in allowed, f"{line}\nexit {out.returncode}\n{output}"
    assert "Traceback" not in out.stderr, f"{line}\n{out.stderr[-3000:]}"
    return out
