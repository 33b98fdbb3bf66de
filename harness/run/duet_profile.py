"""``harness ab --profile cpu``: py-spy on each side's target over the same measured window.

One :class:`~harness.profiling.session.ProfilerSet` per side — the one ``harness run --profile cpu``
uses, so attach errors (ptrace denied, py-spy missing, not a Python process) are handled the same
way: the run goes on, a warning is printed and the manifest's ``profiles.cpu`` says ``failed`` and
why. Each side's files land in its own run folder, laid out as ``harness run`` lays them out under
its profiles folder: ``<side run folder>/profiles/<run-id>/{cpu.collapsed.txt, cpu.speedscope.json,
cpu.flamegraph.svg, hotspots.json}``; the manifest names them relative to the run folder, so the
duet folder can move and ``harness report``/``profile-diff`` still find them.

Both py-spy processes are attached at once (each waits a second to see attach errors), so the two
profiles cover the same seconds; a side without a process the harness can see (``--a URL`` without
``--a-pid``) is recorded ``skipped`` with the reason, not attached.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from rich.console import Console

from harness.contract.rundir import ProfileRecord
from harness.profiling.session import ProfilerSet
from harness.scenario.schema import Profile

#: The sub-folder of a side's run folder holding its profiles (``harness run``: ``profiles/``).
PROFILES_DIR = "profiles"
#: The kinds ``harness ab --profile`` takes (memray and scalene must launch the target themselves).
AB_PROFILE_KINDS = ("cpu",)


def no_pid_reason(name: str) -> str:
    return f"a running service (--{name} URL) without --{name}-pid PID: no process to attach py-spy to"


def relative_to_run(record: ProfileRecord, run_dir: Path) -> ProfileRecord:
    """The record with every file inside ``run_dir`` named relative to it."""
    files = {}
    root = run_dir.resolve()
    for label, ref in record.files.items():
        path = Path(ref).resolve()
        files[label] = str(path.relative_to(root)) if path.is_relative_to(root) else ref
    return record.model_copy(update={"files": files})


class SideProfilers:
    """py-spy on each side's target for one measured window of a duet run."""

    def __init__(
        self, spec: Profile, console: Console, run_dirs: dict[str, Path], run_ids: dict[str, str]
    ) -> None:
        self.run_dirs, self.run_ids = run_dirs, run_ids
        self.sets = {
            name: ProfilerSet(["cpu"], run_ids[name], spec, console, root=run_dirs[name] / PROFILES_DIR)
            for name in run_dirs
        }

    def skip(self, name: str, reason: str) -> None:
        self.sets[name].skip("cpu", reason)

    def _each(self, action: Callable[[str, ProfilerSet], None]) -> None:
        todo = dict(self.sets.items())
        with ThreadPoolExecutor(max_workers=max(1, len(todo))) as pool:
            for future in [pool.submit(action, name, pset) for name, pset in todo.items()]:
                future.result()

    def attach(self, pids: dict[str, int | None]) -> None:
        """py-spy on every side not skipped, all at once."""

        def attach_one(name: str, pset: ProfilerSet) -> None:
            if "cpu" not in pset.records:
                pset.attach(pids.get(name), self.run_ids[name])

        self._each(attach_one)

    def stop(self) -> None:
        """Stop every py-spy (SIGINT: it writes its samples) and derive each side's files."""
        self._each(lambda name, pset: pset.stop_attached())

    def records(self, name: str) -> dict[str, ProfileRecord]:
        """The side's ``manifest.profiles``."""
        run_dir = self.run_dirs[name]
        return {kind: relative_to_run(rec, run_dir) for kind, rec in self.sets[name].records.items()}
