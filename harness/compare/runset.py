"""A set of run folders treated as one measurement (the repeats of ``harness run --repeat N``).

Repeats are tagged by the runner with :data:`REPEAT_GROUP_TAG` (shared id) and
:data:`REPEAT_INDEX_TAG`; :func:`expand_repeats` finds the siblings of a run so that
``harness compare A B`` uses every repeat of A and of B.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from harness.contract import rundir
from harness.contract.columns import REPEAT_GROUP_TAG, REPEAT_INDEX_TAG
from harness.contract.runfolder import RunFolder


class CompareRun:
    """What compare needs from one run folder, read through the contract's loader.

    Compare needs summary.json and samples.parquet, so both are read at once: a missing one is a
    :class:`~harness.contract.rundir.RunDirError` before any statistic is computed.
    """

    def __init__(self, folder: RunFolder) -> None:
        self.folder = folder
        self.summary: rundir.Summary = folder.require_summary()
        folder.require_samples()
        done = folder.done_samples
        assert done is not None  # present once samples are
        self.samples: pd.DataFrame = done  # sent requests only (dropped sends removed), by time
        self.window_start: float = folder.window_start or 0.0
        self.seconds: int = folder.seconds

    @property
    def path(self) -> Path:
        return self.folder.path

    @property
    def manifest(self) -> rundir.Manifest:
        return self.folder.manifest

    @property
    def run_id(self) -> str:
        return self.folder.run_id

    def per_second_counts(self, operation: str | None = None) -> np.ndarray:
        frame = self.samples if operation is None else self.samples[self.samples["operation"] == operation]
        # every sent request, as the summary counts them (count / duration): a completion after the
        # window's end (the drain) counts in its last second, so the mean per second is that rate
        sec = np.clip(frame["sec"].to_numpy(dtype=np.int64), 0, max(self.seconds - 1, 0))
        return np.bincount(sec, minlength=self.seconds).astype(float)[: self.seconds]

    def per_second_cpu(self) -> np.ndarray | None:
        """CPU percent of the target per second of the window, None when it was not measured."""
        ts = self.folder.timeseries
        if ts is None or "cpu_percent" not in ts:
            return None
        cpu = pd.to_numeric(ts["cpu_percent"], errors="coerce").to_numpy(dtype=float)
        cpu = cpu[: self.seconds]
        return cpu if np.isfinite(cpu).any() else None

    def peak_rss_mb(self) -> float | None:
        stats = self.summary.resources.get("rss_mb")
        return None if stats is None else stats.max


@dataclass
class RunSet:
    runs: list[CompareRun]
    label: str
    warnings: list[str] = field(default_factory=list)

    @property
    def scenario(self) -> str:
        return self.runs[0].manifest.scenario_name

    @functools.cached_property
    def _pooled(self) -> pd.DataFrame:
        return pd.concat([r.samples for r in self.runs], ignore_index=True)

    def pooled_samples(self) -> pd.DataFrame:
        return self._pooled

    def operations(self) -> list[str]:
        ops: set[str] = set()
        for run in self.runs:
            ops.update(str(op) for op in run.samples["operation"].dropna().unique())
        return sorted(ops)


def load_run(path: Path) -> CompareRun:
    return CompareRun(RunFolder(path))


def expand_repeats(run_dir: Path) -> list[Path]:
    """The run and its repeat siblings (same repeat group, same parent folder), ordered by index."""
    manifest = rundir.load_manifest(run_dir)
    group = manifest.tags.get(REPEAT_GROUP_TAG)
    if not group:
        return [run_dir]
    found: list[tuple[int, Path]] = []
    for candidate in sorted(run_dir.parent.iterdir()):
        if not (candidate / rundir.MANIFEST_FILE).is_file():
            continue
        try:
            other = rundir.load_manifest(candidate)
        except rundir.RunDirError:
            continue
        if other.tags.get(REPEAT_GROUP_TAG) == group:
            found.append((_int_tag(other.tags.get(REPEAT_INDEX_TAG)), candidate))
    return [path for _, path in sorted(found)] or [run_dir]


def _int_tag(value: str | None) -> int:
    try:
        return int(value) if value is not None else 0
    except ValueError:
        return 0


def load_run_set(refs: list[str | Path], label: str, *, reports_dir: Path, pool_repeats: bool) -> RunSet:
    """Resolve run references (paths, run ids, ``latest``) into a loaded :class:`RunSet`.

    Raises :class:`harness.contract.rundir.RunDirError` for anything that is not a readable run folder.
    """
    paths: list[Path] = []
    for ref in refs:
        resolved = rundir.resolve_run_dir(ref, reports_dir)
        for path in expand_repeats(resolved) if pool_repeats else [resolved]:
            if path.resolve() not in {p.resolve() for p in paths}:
                paths.append(path)
    runs = [load_run(p) for p in paths]
    warnings = [
        f"{r.run_id}: run status is {r.manifest.status}" for r in runs if r.manifest.status != "complete"
    ]
    scenarios = {r.manifest.scenario_name for r in runs}
    if len(scenarios) > 1:
        warnings.append(f"{label}: runs of different scenarios pooled: {sorted(scenarios)}")
    return RunSet(runs, label, warnings)
