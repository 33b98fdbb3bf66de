"""Every command docs/*.md tells a user to type (a `harness`, `make` or `reference-runtime` line of a
shell block) is classified here, parses, and -- where it is short enough -- runs as written.

- ``RUN``: run in doc order against one `make serve` (on a free port; both sides of an `ab` line
  are that one runtime), with ``$HARNESS_API_KEY`` set from its ``.state/api_key`` as `make serve`
  tells the user; each entry says what is changed (shorter ``--duration``), nothing else is;
- ``SKIPPED``: why a line is not run (a usage synopsis, other hosts, minutes of load, ...).
Every line, run or skipped, must parse: a concrete line with the command's own argument parser,
a synopsis (``[--opt X]``) option by option; `make` targets must exist in the Makefile.
A docs line in neither dict fails the test until it is classified; an entry whose line is gone
from the docs fails too.
"""

from __future__ import annotations

import argparse
import json
import re
import shlex
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.cli import build_parser
from reference_runtime.cli import build_parser as runtime_parser
from tests.commandlines import ROOT, DocLine, block_commands, clean_env, make_checkout, make_serve, run_line

LANGUAGES = ("", "sh", "bash", "shell", "console")
PROGRAMS = r"(?:\.venv/bin/)?(?:harness|make|reference-runtime|python -m (?:harness|reference_runtime))"
STARTS = re.compile(rf"(?:[A-Z_]+=\S+ )*{PROGRAMS}(?: |$)")
SYNOPSIS = "a usage synopsis (placeholders and [options]): its options are checked, not run"

#: first line of a docs command -> (text to replace, replacement) that makes it short, or None
RUN: dict[str, tuple[str, str] | None] = {
    "make serve": None,  # the fixture: every line below runs against it
    "harness ab scenarios/smoke.yaml --a http://127.0.0.1:8080 --b http://127.0.0.1:8081 --duration 60s": (
        "--duration 60s",
        "--duration 2s",
    ),
    "reference-runtime archive --now": None,
}
#: first line of a docs command -> why it is not run here
SKIPPED: dict[str, str] = {
    "make chaos": "reliability probes, ~10 min (bench/chaos)",
    "HARNESS_API_KEY=... .venv/bin/harness run scenarios/smoke.yaml \\": (
        "other hosts' addresses; tests/harness/run/test_multihost.py runs this recipe in network namespaces"
    ),
    ".venv/bin/harness run --worker --master-host 10.0.0.20 --master-port 5557": (
        "a worker of another host's master; tests/harness/run/test_multihost.py runs it"
    ),
    "harness run SCENARIO.yaml --gate [--json]": SYNOPSIS,
    'harness gate RUN [--checklist FILE] [--rule "p95(command_ack) < 100ms"]... [--baseline RUN]': SYNOPSIS,
    "harness compare BASE RUN [--threshold 5%] [--min-effect 1ms] [--alpha 0.01] [--error-threshold 0.1%]": (
        SYNOPSIS
    ),
    "harness ab scenarios/smoke.yaml --a-config baseline --b-config optimized --assign mirror --gate": (
        "two managed runtimes; tests/test_readme.py runs the same --a-config/--b-config line"
    ),
    "harness ab scenarios/smoke.yaml --a-ref origin/main --b-ref HEAD --gate": (
        "needs a remote's origin/main; tests/harness/run/test_ab.py runs --a-ref/--b-ref on a "
        "temporary repository"
    ),
    'harness ab scenarios/smoke.yaml --a-cmd "my-server --port {port}" '
    '--b-cmd "my-server-v2 --port {port}"': (
        "my-server is a stand-in name; tests/harness/run/test_ab.py runs --a-cmd/--b-cmd services"
    ),
    "harness ab scenarios/smoke.yaml --a-ref origin/main --b-ref HEAD --repeat 3 --profile cpu": (
        "three profiled windows of two git refs: minutes"
    ),
    "harness calibrate [--target URL | --config NAME|FILE] [--duration 20s] [--pairs 3] "
    "[--scenario scenarios/smoke.yaml]": SYNOPSIS,
    "harness history [--scenario NAME] [--metric p95] [--min-change 2%] [--alpha 0.001] "
    "[--otava DIR]": SYNOPSIS,
    "harness nightly [--time-scale 0.05] [--steps steady,spike,stress,endurance,profile] [--plan]": SYNOPSIS,
    "harness nightly --baseline-ref origin/main": "a duet per nightly step against a ref: minutes",
    "harness nightly --baseline-ref v1.4 --repo ../other-clone --steps steady,profile": (
        "names a tag and a clone the reader has; minutes"
    ),
    "harness roi --switches [SCENARIO] [--repeats 3] [--duration 20s] [--time-scale 1] [--only a,b] "
    "[--cooldown 3]": SYNOPSIS,
    "reference-runtime serve [--host 127.0.0.1] [--port 8080] [--config baseline|optimized|FILE]": SYNOPSIS,
    "python -m reference_runtime serve ...": "the same as reference-runtime serve (`...`: its options)",
    "reference-runtime model-backend --port 8090 [--latency-median-ms 40 --latency-p99-ms 250": SYNOPSIS,
    "harness run SCENARIO.yaml [--target URL] [--time-scale F] [--duration D] [--workers N]": SYNOPSIS,
    "harness run --worker --master-host HOST [--master-port P]": SYNOPSIS,
    "harness checklist coverage [--scenarios DIR] [--nightly DIR] [--time-scale X] [--json FILE]": SYNOPSIS,
    **{
        f"harness run scenarios/team_creation.yaml --config docs/examples/team-creation-{variant}.yaml": (
            "a 20 min scenario, a managed runtime per config; bench/team_creation_bench.py runs them"
        )
        for variant in ("sequential", "parallel", "templates")
    },
}


def docs_commands() -> list[DocLine]:
    found: list[DocLine] = []
    for path in sorted((ROOT / "docs").glob("*.md")):
        found += block_commands(path, LANGUAGES, STARTS)
    return found


def test_every_docs_command_is_classified_and_every_entry_is_still_in_the_docs() -> None:
    lines = docs_commands()
    assert len(lines) > 20
    unclassified = [f"{d.file}:{d.line}: {d.first}" for d in lines if d.first not in {**RUN, **SKIPPED}]
    where = "classify in RUN or SKIPPED of tests/test_docs_commands.py:\n"
    assert not unclassified, where + "\n".join(unclassified)
    firsts = {d.first for d in lines}
    stale = [k for k in [*RUN, *SKIPPED] if k not in firsts]
    assert not stale, "no longer in docs/*.md, remove:\n" + "\n".join(stale)


def _words(text: str) -> list[str]:
    """The command's words after any ``VAR=value`` and the program (``harness``, ``.venv/bin/...``)."""
    words = shlex.split(text)
    while words and re.fullmatch(r"[A-Z_]+=\S*", words[0]):
        words.pop(0)
    if words[:2] == ["python", "-m"]:
        words = words[2:]
    return words[1:]


def _command_parser(parser: argparse.ArgumentParser, words: list[str]) -> argparse.ArgumentParser:
    """The (sub-)sub-command parser ``words`` lead to: ``checklist coverage`` -> coverage's."""
    for word in words:
        subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
        if not subs:
            break
        assert word in subs[0].choices, f"{parser.prog} has no command {word!r}"
        parser = subs[0].choices[word]
    return parser


def _parser_of(program: str, command: str) -> argparse.ArgumentParser:
    if program.endswith("harness"):
        parser, _ = build_parser(command)
    else:
        parser = runtime_parser()
    return parser


@pytest.mark.parametrize("doc", docs_commands(), ids=lambda d: f"{d.file}:{d.line}")
def test_every_docs_command_parses(doc: DocLine) -> None:
    """A concrete line parses with its command's parser; a synopsis's every --option exists."""
    program = shlex.split(doc.text.replace("...", ""))
    program = [w for w in program if not re.fullmatch(r"[A-Z_]+=\S*", w)]
    if program[0] == "make":
        targets = re.findall(r"^([a-z][\w.-]*):", (ROOT / "Makefile").read_text(), re.MULTILINE)
        assert program[1] in targets, f"{doc.file}:{doc.line}: no make target {program[1]!r}"
        return
    name = "harness" if "harness" in program[0] or program[:3] == ["python", "-m", "harness"] else "runtime"
    words = _words(doc.text.replace("...", ""))
    parser = _parser_of(name, words[0])
    if SKIPPED.get(doc.first) == SYNOPSIS or "..." in doc.text:
        command = _command_parser(parser, words)
        known = set(command._option_string_actions)
        options = set(re.findall(r"(?<![\w-])--[a-z][a-z0-9-]*", doc.text))
        assert options <= known, (
            f"{doc.file}:{doc.line}: not options of {command.prog}: {sorted(options - known)}"
        )
    else:
        parser.parse_args(words)  # SystemExit (exit 2) with argparse's message when it does not parse


@pytest.fixture()
def checkout(tmp_path: Path) -> Iterator[Path]:
    yield make_checkout(tmp_path)


@pytest.mark.slow
def test_the_runnable_docs_commands_work_as_written(checkout: Path) -> None:
    timings: list[str] = []
    runnable = [d for d in docs_commands() if d.first in RUN and d.first != "make serve"]
    assert runnable
    with make_serve(checkout) as (port, _):
        key = (checkout / ".state" / "api_key").read_text().strip()
        env = {**clean_env(checkout), "HARNESS_API_KEY": key}
        for doc in runnable:
            line = doc.text
            change = RUN[doc.first]
            if change is not None:
                assert change[0] in line, f"{doc.file}:{doc.line}: {change[0]!r} is gone: update RUN"
                line = line.replace(*change)
            line = re.sub(r"127\.0\.0\.1:808[01]\b", f"127.0.0.1:{port}", line)
            run_line(line, checkout, env, timings)
    (ab_dir,) = [p.parent for p in (checkout / "reports" / "ab").glob("*/ab.json")]
    ab = json.loads((ab_dir / "ab.json").read_text())
    assert ab["kind"].endswith("ab") and (ab_dir / "a" / "manifest.json").is_file()
    assert ab["a"]["run_dir"] != ab["b"]["run_dir"]
    print("\n".join(timings))
