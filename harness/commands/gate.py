"""``harness gate RUN_DIR``: evaluate a run against checklist rules and gates (exit codes: docs/gates.md).

The run's own verdict (``verdict.json``, ``junit.xml``, ``summary.md``, written once by ``harness run
--gate``) is never rewritten: this command writes its evaluation to ``RUN_DIR/evaluations/NAME/``
(NAME from ``--name``, else from the rules) or to ``--out DIR``.
"""

from __future__ import annotations

import argparse
import hashlib
import re
import sys
from pathlib import Path

from harness.contract import rundir
from harness.contract.exits import EXIT_USAGE
from harness.verdict.gate import gate_run

#: the folder of a run that holds ``harness gate``'s evaluations, one subfolder per name
EVALUATIONS_DIR = "evaluations"
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.\-]{0,79}")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run_dir", help="run folder, run id under reports/runs, or 'latest'")
    parser.add_argument(
        "--checklist", type=Path, default=None, help="checklist YAML (default: the shipped guide.yaml)"
    )
    parser.add_argument(
        "--rule",
        action="append",
        default=[],
        metavar="RULE",
        help='extra gate, e.g. "p95(command_ack) < 100ms" (repeatable; grammar: docs/checklists.md)',
    )
    parser.add_argument(
        "--baseline", default=None, metavar="RUN", help="run folder or id for 2x-baseline rules"
    )
    parser.add_argument(
        "--reports-dir", type=Path, default=Path("reports"), help="where run ids are looked up"
    )
    parser.add_argument(
        "--name",
        help="name of this evaluation: written to RUN/evaluations/NAME/ (default: from the rules)",
    )
    parser.add_argument(
        "--out", type=Path, metavar="DIR", help="write verdict.json, junit.xml, summary.md to DIR instead"
    )


def default_name(rules: list[str], checklist: Path | None) -> str:
    """A readable, stable name for an evaluation: the rules as a slug plus a short hash of them."""
    basis = [str(checklist) if checklist else "guide", *rules]
    digest = hashlib.sha256("\n".join(basis).encode()).hexdigest()[:8]
    words = re.sub(r"[^A-Za-z0-9]+", "-", " ".join(rules) or (checklist.stem if checklist else "checklist"))
    return f"{words.strip('-').lower()[:48].strip('-') or 'rules'}-{digest}"


def evaluation_dir(run_dir: Path, args: argparse.Namespace) -> Path:
    """Where this evaluation goes; ValueError for a bad ``--name``."""
    if args.out is not None:
        return Path(args.out)
    name = args.name if args.name is not None else default_name(list(args.rule), args.checklist)
    if not _NAME.fullmatch(name):
        raise ValueError(f"--name {name!r}: letters, digits, '_', '.', '-' (max 80), not starting with '.'")
    return run_dir / EVALUATIONS_DIR / name


def run(args: argparse.Namespace) -> int:
    reports_dir: Path = getattr(args, "reports_dir", Path("reports"))
    try:
        run_dir = rundir.resolve_run_dir(args.run_dir, reports_dir)
        baseline = rundir.resolve_run_dir(args.baseline, reports_dir) if args.baseline else None
        out_dir = evaluation_dir(run_dir, args)
    except (rundir.RunDirError, ValueError) as exc:
        print(f"harness gate: {exc}", file=sys.stderr)
        return EXIT_USAGE
    rules = list(args.rule)
    code = gate_run(run_dir, checklist=args.checklist, rules=rules, baseline=baseline, out_dir=out_dir)
    if code != EXIT_USAGE:
        print(f"evaluation: {out_dir} (the run's own verdict is unchanged)", file=sys.stderr)
    return code
