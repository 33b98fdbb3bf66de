"""``python -m bench.chaos [--json FILE] [--only a,b] [--keep]``: run the reliability probes and
print one table (see :mod:`bench.chaos`). Exit 0 when every row passes (a skipped row, with its
reason, does not fail), 1 otherwise."""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from pathlib import Path

from bench.chaos import crash, disk, faults, fuzz, hostile, inputs, secrets, soak, stops
from bench.chaos.common import Row
from harness.contract.atomic import write_json_atomic

#: name -> (probe, rough seconds); in the order of the table.
PROBES: dict[str, Callable[[Path, argparse.Namespace], Row]] = {
    "fuzz": lambda tmp, a: fuzz.probe(tmp, a.fuzz_seconds),
    "kill9": lambda tmp, a: crash.probe(tmp),
    "faults": lambda tmp, a: faults.probe(tmp),
    "hostile": lambda tmp, a: hostile.probe(tmp),
    "stops": lambda tmp, a: stops.probe(tmp),
    "disk": lambda tmp, a: disk.probe(tmp),
    "inputs": lambda tmp, a: inputs.probe(tmp),
    "secrets": lambda tmp, a: secrets.probe(tmp),
    "soak": lambda tmp, a: soak.probe(tmp, a.soak_seconds),
}


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.chaos", description=__doc__)
    parser.add_argument("--json", type=Path, help="also write the table as JSON to FILE")
    parser.add_argument("--only", help=f"comma list of probes ({', '.join(PROBES)})")
    parser.add_argument("--fuzz-seconds", type=int, default=90, help="schemathesis time budget")
    parser.add_argument("--soak-seconds", type=int, default=120, help="soak length")
    parser.add_argument("--markdown", action="store_true", help="print the table as Markdown too")
    parser.add_argument("--keep", action="store_true", help="keep the scratch folder (printed)")
    parser.add_argument("--inside-netns", type=Path, help=argparse.SUPPRESS)  # hostile.inside
    parser.add_argument("--result", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    unknown = set((args.only or "").split(",")) - set(PROBES) - {""}
    if unknown:
        parser.error(f"--only: unknown probe(s) {', '.join(sorted(unknown))}")
    return args


def run_one(name: str, tmp: Path, args: argparse.Namespace) -> Row:
    folder = tmp / name
    folder.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    try:
        row = PROBES[name](folder, args)
    except Exception as exc:  # a probe that breaks is a failed row, the others still run
        traceback.print_exc()
        row = Row(name, "probe crashed", "-", "-", False, f"{type(exc).__name__}: {exc}"[:200])
    row.seconds = row.seconds or time.monotonic() - started
    return row


def render(rows: list[Row]) -> str:
    head = ("probe", "what", "count", "expected", "result")
    body = [(r.probe, r.what, r.count, r.expect, r.verdict) for r in rows]
    widths = [max(len(str(line[i])) for line in [head, *body]) for i in range(len(head))]
    fmt = " | ".join(f"{{:{w}}}" for w in widths)
    lines = [fmt.format(*head), "-+-".join("-" * w for w in widths)]
    lines += [fmt.format(*line) for line in body]
    lines += ["", *(f"{r.probe}: {r.detail} ({r.seconds:.0f} s)" for r in rows)]
    return "\n".join(lines)


def render_markdown(rows: list[Row]) -> str:
    """The table as docs/benchmarks.md shows it (details below the table)."""

    def cell(text: str) -> str:
        return text.replace("|", "\\|")

    lines = ["| probe | what | count | expected | result |", "| --- | --- | --- | --- | --- |"]
    for r in rows:
        lines.append(f"| {r.probe} | {cell(r.what)} | {cell(r.count)} | {cell(r.expect)} | {r.verdict} |")
    lines += ["", *(f"- {r.probe}: {cell(r.detail)} ({r.seconds:.0f} s)" for r in rows)]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    if args.inside_netns is not None:
        return hostile.inside(args.inside_netns, args.result)
    names = [n for n in PROBES if not args.only or n in args.only.split(",")]
    tmp = Path(tempfile.mkdtemp(prefix="motherbox-chaos-"))
    started = time.monotonic()
    rows = []
    try:
        for name in names:
            print(f"[chaos] {name} ...", file=sys.stderr, flush=True)
            rows.append(run_one(name, tmp, args))
            print(
                f"[chaos] {name}: {rows[-1].verdict} ({rows[-1].seconds:.0f} s)", file=sys.stderr, flush=True
            )
    finally:
        if args.keep:
            print(f"[chaos] scratch folder kept: {tmp}", file=sys.stderr)
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    print(render(rows))
    if args.markdown:
        print("\n" + render_markdown(rows))
    total = time.monotonic() - started
    print(f"\n{sum(r.ok is True for r in rows)}/{len(rows)} passed, {total:.0f} s")
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        doc = {
            "kind": "chaos",
            "schema_version": 1,
            "seconds": round(total, 1),
            "rows": [r.as_dict() for r in rows],
        }
        write_json_atomic(args.json, doc)
    return 0 if all(r.ok is not False for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
