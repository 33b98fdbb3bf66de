"""``harness baseline set RUN`` / ``show`` / ``unset``: per-scenario, per-machine baselines."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from harness.contract import rundir
from harness.contract.exits import EXIT_OK, EXIT_USAGE
from harness.history import baseline


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--reports-dir", type=Path, default=Path("reports"), help="holds history.db and runs/"
    )
    sub = parser.add_subparsers(dest="action", required=True)
    set_p = sub.add_parser("set", help="make RUN the baseline of its scenario on its machine")
    set_p.add_argument("run", help="run folder, run id or 'latest'")
    set_p.add_argument("--note", default=None, help="why this run is the baseline")
    show_p = sub.add_parser("show", help="list stored baselines")
    show_p.add_argument("--scenario", default=None)
    show_p.add_argument("--fingerprint", default=None, help="machine fingerprint")
    show_p.add_argument("--json", action="store_true", help="print JSON")
    unset_p = sub.add_parser("unset", help="forget the baseline of a scenario on a machine")
    unset_p.add_argument("scenario")
    unset_p.add_argument("fingerprint")


def run(args: argparse.Namespace) -> int:
    if args.action == "set":
        try:
            record = baseline.set_baseline(args.run, args.reports_dir, args.note)
        except rundir.RunDirError as exc:
            print(f"harness baseline set: {exc}", file=sys.stderr)
            return EXIT_USAGE
        print(f"baseline of {record.scenario} on {record.machine_fingerprint}: {record.run_id}")
        return 0
    if args.action == "unset":
        removed = baseline.unset_baseline(args.scenario, args.fingerprint, args.reports_dir)
        print("removed" if removed else "no such baseline")
        return EXIT_OK if removed else EXIT_USAGE
    records = baseline.list_baselines(args.reports_dir, args.scenario, args.fingerprint)
    if args.json:
        print(json.dumps([r.to_json() for r in records], indent=2))
        return 0
    if not records:
        print("no baselines stored")
        return 0
    print(f"{'scenario':24}{'machine':20}{'run':40}{'commit':10}set at")
    for r in records:
        commit = (r.git_commit or "-")[:9]
        print(f"{r.scenario:24}{r.machine_fingerprint[:19]:20}{r.run_id:40}{commit:10}{r.set_at}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="harness baseline", description=__doc__)
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())
