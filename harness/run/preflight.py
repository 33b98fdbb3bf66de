"""Checks of ``harness run``'s options that need no load: before anything is started or written.

Every problem is one line naming the option (or file), for exit code 2: the output folders
(``--out``, ``--reports-dir``, the profiles folder) exist as folders or can be created, and can
be written to (tried with a temporary file, so a read-only mount or a full quota shows, not only
permission bits); the managed runtime's config names a profile or a file; a gate's
``--baseline`` names a run folder. Nothing is left behind by the checks.
"""

from __future__ import annotations

import math
import os
import tempfile
from pathlib import Path

from harness.contract import rundir
from harness.contract.meta import REPO
from harness.run.options import RunOptions

#: The profiles the reference runtime ships (``--config baseline``); anything else is a file.
RUNTIME_CONFIG_DIR = REPO / "reference_runtime" / "config"


def folder_problem(path: Path, option: str) -> str | None:
    """Why ``path`` cannot be an output folder (one line naming ``option``), or None.

    The folder need not exist yet: then its nearest existing parent must be a writable folder.
    """
    existing = path
    while not existing.exists() and existing != existing.parent:
        if existing.is_symlink():  # a dangling link: creating the folder would fail
            return f"{option} {path}: {existing} is a broken symbolic link"
        existing = existing.parent
    if not existing.is_dir():
        return f"{option} {path}: {existing} is not a folder"
    try:
        fd, name = tempfile.mkstemp(prefix=".harness-write-check-", dir=existing)
    except OSError as exc:
        return f"{option} {path}: folder {existing} is not writable ({exc.strerror or exc})"
    os.close(fd)
    os.unlink(name)
    return None


def output_problem(options: RunOptions, profiles_dir: Path | None) -> str | None:
    """The first output folder of the run that cannot be written, or None."""
    checks: list[tuple[Path, str]] = [(options.reports_dir, "--reports-dir")]
    checks.append(
        (options.out, "--out") if options.out is not None else (options.reports_dir / "runs", "--reports-dir")
    )
    if profiles_dir is not None:
        checks.append((profiles_dir, "--profiles-dir"))
    for path, option in checks:
        problem = folder_problem(path, option)
        if problem is not None:
            return problem
    return None


def known_configs() -> list[str]:
    return sorted(p.stem for p in RUNTIME_CONFIG_DIR.glob("*.yaml"))


def config_problem(config: str | None) -> str | None:
    """A managed runtime's config that is neither a shipped profile nor a file, or None."""
    if config is None or config in known_configs() or Path(config).expanduser().is_file():
        return None
    return f"--config {config!r}: not a profile ({', '.join(known_configs())}) nor a file"


def baseline_problem(options: RunOptions) -> str | None:
    """A gate's ``--baseline`` that does not name a run folder (``auto`` is looked up later)."""
    if not options.gate or options.baseline is None or options.baseline == "auto":
        return None
    try:
        rundir.resolve_run_dir(options.baseline, options.reports_dir)
    except rundir.RunDirError as exc:
        return f"--baseline: {exc}"
    return None


def numbers_problem(options: RunOptions) -> str | None:
    """Durations and scales that are not finite and positive."""
    if not (math.isfinite(options.time_scale) and options.time_scale > 0):
        return f"--time-scale {options.time_scale:g}: must be a finite number > 0"
    if options.duration_s is not None and not (math.isfinite(options.duration_s) and options.duration_s > 0):
        return f"--duration {options.duration_s:g}s: must be > 0"
    return None
