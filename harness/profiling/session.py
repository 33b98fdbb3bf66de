"""The profilers of one run: which ones, where their files go, and what happened to each.

- ``cpu``: py-spy attached by PID to the target for the measured window (managed runtime, or
  ``--pid`` for any target).
- ``memory``: a separate pass after the measured one, with the managed runtime launched under
  ``memray run`` (its timings are never mixed with the measured pass).
- ``scalene``: the managed runtime launched under ``scalene run`` for the measured pass (its
  overhead is in that run's timings; the manifest says so).
Every profiler ends up in ``manifest.profiles`` as ok / failed / skipped with a reason.

Files live inside the run folder, ``<run folder>/profiles/<run-id>/`` (the layout ``harness ab``
uses per side), and the manifest names them relative to the run folder, so a run folder uploaded
or moved alone is complete. The profiles folder (``--profiles-dir``, ``$HARNESS_PROFILES_DIR``,
default ``profiles/``) keeps only an index: a link ``<run-id>`` to each run's profiles.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from rich.console import Console

from harness.contract.rundir import ProfileRecord
from harness.profiling.memory import MemrayPass
from harness.profiling.pyspy import PySpyOptions, PySpyRecorder
from harness.profiling.tools import LAUNCHER, display_path, executable, tail
from harness.scenario.schema import Profile

KINDS = ("cpu", "memory", "scalene")


def profiles_root() -> Path:
    return Path(os.environ.get("HARNESS_PROFILES_DIR", "profiles"))


#: The sub-folder of a run folder holding its profiles: ``<run folder>/profiles/<run-id>/``.
PROFILES_DIR = "profiles"


def managed_own_prefixes() -> tuple[str, ...]:
    """The managed runtime's own code: files under its top-level package (``reference_runtime/``)."""
    module = os.environ.get("HARNESS_RUNTIME_MODULE", "reference_runtime.cli")
    return (module.split(".", 1)[0] + "/",)


def wanted_kinds(cli: list[str], spec: Profile) -> list[str]:
    if cli:
        return list(dict.fromkeys(cli))
    return [k for k in KINDS if getattr(spec, k)]


class ProfilerSet:
    def __init__(
        self, kinds: list[str], run_id: str, spec: Profile, console: Console, root: Path | None = None
    ):
        self.kinds = kinds
        self.spec = spec
        self.console = console
        self.out_dir = (root or profiles_root()) / run_id
        self.records: dict[str, ProfileRecord] = {}
        self.cpu: PySpyRecorder | None = None
        #: the target's own code for the hotspot table (None: outside stdlib and site-packages)
        self.own_prefixes: tuple[str, ...] | None = None

    # ------------------------------------------------------------ measured pass

    def main_launcher(self, managed: bool) -> tuple[list[str] | None, dict[str, str]]:
        """scalene wraps the runtime of the measured pass; nothing else does."""
        if "scalene" not in self.kinds:
            return None, {}
        if not managed:
            self.records["scalene"] = ProfileRecord(
                status="skipped", reason="scalene must launch the target: only with the managed runtime"
            )
            return None, {}
        binary = executable("scalene")
        if binary is None:
            self.records["scalene"] = ProfileRecord(status="failed", reason="scalene is not installed")
            return None, {}
        self.out_dir.mkdir(parents=True, exist_ok=True)
        out = self.out_dir / "scalene.json"
        return [binary, "run", "-o", str(out), str(LAUNCHER), "---"], {}

    def attach(self, pid: int | None, title: str) -> None:
        if "cpu" not in self.kinds:
            return
        s = self.spec
        options = PySpyOptions(
            rate=s.rate, subprocesses=s.subprocesses, gil=s.gil, idle=s.idle, native=s.native
        )
        self.cpu = PySpyRecorder(self.out_dir, options, title, self.own_prefixes)
        if not self.cpu.start(pid):
            self.console.print(f"[yellow]warning:[/] CPU profiling off: {self.cpu.failure}", highlight=False)

    def stop_attached(self) -> None:
        if self.cpu is not None:
            started = self.cpu.failure is None
            record = self.cpu.stop()
            self.records["cpu"] = record
            self.cpu = None
            if record.status != "ok" and started:  # failures at attach time were already reported
                self.console.print(f"[yellow]warning:[/] CPU profiling off: {record.reason}", highlight=False)

    def after_target_stopped(self) -> None:
        """Profilers that write on target exit (scalene)."""
        if "scalene" in self.kinds and "scalene" not in self.records:
            self.records["scalene"] = scalene_record(self.out_dir)

    # ------------------------------------------------------------ memory pass

    def memory_pass(self) -> MemrayPass | None:
        if "memory" not in self.kinds:
            return None
        memray = MemrayPass(
            self.out_dir / "memory", native=self.spec.memory_native, temporal=self.spec.memory_temporal
        )
        problem = memray.available()
        if problem is not None:
            self.records["memory"] = ProfileRecord(status="failed", reason=problem)
            self.console.print(f"[yellow]warning:[/] memory profiling off: {problem}", highlight=False)
            return None
        memray.out_dir.mkdir(parents=True, exist_ok=True)
        return memray

    def skip(self, kind: str, reason: str) -> None:
        self.records[kind] = ProfileRecord(status="skipped", reason=reason)

    def record(self, kind: str, record: ProfileRecord) -> None:
        self.records[kind] = record

    # ------------------------------------------------------------ where the files are

    def relative_records(self, run_dir: Path) -> dict[str, ProfileRecord]:
        """``manifest.profiles``: every file inside ``run_dir`` named relative to it."""
        return {kind: relative_to_run(rec, run_dir) for kind, rec in self.records.items()}

    def link_index(self, index_root: Path) -> Path | None:
        """``<index_root>/<run-id>`` -> this run's profiles folder (a symlink; None if not made)."""
        if not self.out_dir.is_dir():
            return None
        link = index_root / self.out_dir.name
        try:
            index_root.mkdir(parents=True, exist_ok=True)
            if link.is_symlink() or link.exists():
                return None
            link.symlink_to(self.out_dir.resolve(), target_is_directory=True)
        except OSError:
            return None
        return link


def relative_to_run(record: ProfileRecord, run_dir: Path) -> ProfileRecord:
    """The record with every file inside ``run_dir`` named relative to it."""
    files = {}
    root = run_dir.resolve()
    for label, ref in record.files.items():
        path = Path(ref).resolve()
        files[label] = str(path.relative_to(root)) if path.is_relative_to(root) else ref
    return record.model_copy(update={"files": files})


def scalene_record(out_dir: Path) -> ProfileRecord:
    out = out_dir / "scalene.json"
    if not out.is_file():
        return ProfileRecord(
            status="failed", reason=f"scalene wrote no profile {tail(out_dir / 'scalene.log')}"
        )
    files = {"scalene": display_path(out)}
    try:
        table = scalene_hotspots(json.loads(out.read_text()))
    except (ValueError, KeyError, TypeError) as exc:
        return ProfileRecord(status="ok", reason=f"hotspot table not built: {exc}", files=files)
    hot = out_dir / "scalene.hotspots.json"
    hot.write_text(json.dumps(table, indent=2) + "\n")
    files["hotspots"] = display_path(hot)
    return ProfileRecord(
        status="ok", reason="scalene overhead is included in this run's timings", files=files
    )


def scalene_hotspots(data: dict[str, Any], top: int = 40) -> dict[str, Any]:
    """Line-level CPU (python + native + system) and memory from scalene's JSON, per function."""
    rows = []
    for filename, entry in (data.get("files") or {}).items():
        for fn in entry.get("functions", []):
            cpu = sum(
                float(fn.get(k, 0.0) or 0.0)
                for k in ("n_cpu_percent_python", "n_cpu_percent_c", "n_sys_percent")
            )
            rows.append(
                {
                    "function": str(fn.get("line", "?")).strip(),
                    "file": filename,
                    "line": fn.get("lineno"),
                    "location": f"{filename}:{fn.get('lineno')}",
                    "self_percent": round(cpu, 3),
                    "malloc_mb": fn.get("n_malloc_mb"),
                }
            )
    rows.sort(key=lambda r: -r["self_percent"])
    return {
        "schema_version": 1,
        "kind": "motherbox-perf/hotspots",
        "source": "scalene",
        "hotspots": rows[:top],
    }
