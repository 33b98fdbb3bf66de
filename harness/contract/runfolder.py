"""One loader for a run folder: verdict, report, compare, history and nightly read through it.

:class:`RunFolder` opens the manifest at once (a folder without a valid one is not a run folder)
and reads every other file lazily, at most once. A file that is absent reads as None, so a stage
can report "not measured" instead of failing; a file that is present but invalid raises
:class:`~harness.contract.rundir.RunDirError`, the contract's one error type.
"""

from __future__ import annotations

import math
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from harness.contract import rundir
from harness.contract.samples import dropped_mask, window_seconds

#: The sample columns later stages read, in one parquet read (the rest stay on disk).
READ_COLUMNS: tuple[str, ...] = ("ts", "operation", "start", "intended_start", "latency_ms", "error")
#: String columns read as dictionaries (pandas categoricals): few distinct values, read far faster.
_DICTIONARY_COLUMNS = ("operation", "error")


class RunFolder:
    """The files of one run folder, typed and cached."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.manifest: rundir.Manifest = rundir.load_manifest(path)

    @classmethod
    def resolve(cls, ref: str | Path, reports_dir: Path = Path("reports")) -> RunFolder:
        """A run folder path, a run id under ``reports/runs`` or ``latest``."""
        return cls(rundir.resolve_run_dir(ref, reports_dir))

    @property
    def run_id(self) -> str:
        return self.manifest.run_id

    def _has(self, name: str) -> bool:
        return (self.path / name).is_file()

    @cached_property
    def summary(self) -> rundir.Summary | None:
        return rundir.load_summary(self.path) if self._has(rundir.SUMMARY_FILE) else None

    def require_summary(self) -> rundir.Summary:
        """summary.json, or RunDirError when it is missing."""
        if self.summary is None:
            raise rundir.RunDirError(f"{self.path / rundir.SUMMARY_FILE}: not found")
        return self.summary

    @cached_property
    def histograms(self) -> rundir.HistogramSet | None:
        return rundir.load_histograms(self.path) if self._has(rundir.HISTOGRAMS_FILE) else None

    @cached_property
    def timeseries(self) -> pd.DataFrame | None:
        if not self._has(rundir.TIMESERIES_FILE):
            return None
        frame: pd.DataFrame = rundir.load_timeseries(self.path)
        return frame

    @cached_property
    def samples(self) -> pd.DataFrame | None:
        """Every row of samples.parquet (dropped sends included), :data:`READ_COLUMNS`, sorted by
        completion time, with ``sec`` = second of the measured window; None when absent."""
        frame = self._read_samples(list(READ_COLUMNS))
        if frame is None or self.window_start is None:
            return None
        frame = frame.sort_values("ts", kind="stable").reset_index(drop=True)
        frame["sec"] = self.second_of(frame["ts"].to_numpy(dtype=float))
        return frame

    def require_samples(self) -> pd.DataFrame:
        """:attr:`samples`, or RunDirError saying why there are none."""
        if self.samples is not None:
            return self.samples
        if not self._has(rundir.SAMPLES_FILE):
            raise rundir.RunDirError(f"{self.path / rundir.SAMPLES_FILE}: not found")
        raise rundir.RunDirError(
            f"{self.path}: the measured window's start is unknown (no load.window_start in "
            f"{rundir.MANIFEST_FILE} and no send in {rundir.SAMPLES_FILE})"
        )

    @cached_property
    def done_samples(self) -> pd.DataFrame | None:
        """The requests that were sent: :attr:`samples` without the dropped sends."""
        frame = self.samples
        if frame is None:
            return None
        done: pd.DataFrame = frame[~dropped_mask(frame["error"])].reset_index(drop=True)
        return done

    def sample_columns(self, columns: list[str]) -> pd.DataFrame | None:
        """Just these sample columns (file order); the sorted frame when it is already loaded."""
        frame: pd.DataFrame | None = self.__dict__.get("samples")
        if frame is not None and set(columns) <= set(frame.columns):
            return frame
        return self._read_samples(columns)

    def _read_samples(self, columns: list[str]) -> pd.DataFrame | None:
        if not self._has(rundir.SAMPLES_FILE):
            return None
        try:
            table = pq.read_table(
                self.path / rundir.SAMPLES_FILE,
                columns=columns,
                read_dictionary=[c for c in columns if c in _DICTIONARY_COLUMNS],
            )
        except (OSError, ValueError) as exc:  # pyarrow's errors derive from these
            raise rundir.RunDirError(f"{self.path / rundir.SAMPLES_FILE}: {exc}") from exc
        frame: pd.DataFrame = table.to_pandas()
        return frame

    @cached_property
    def window_start(self) -> float | None:
        """Epoch second where the measured window starts (second 0 of timeseries.csv).

        The manifest records it (``load.window_start``); folders written before it did fall
        back to :func:`infer_window_start`.
        """
        recorded = self.manifest.load.window_start
        return recorded if recorded is not None else infer_window_start(self)

    @cached_property
    def seconds(self) -> int:
        """Length of the measured window in whole seconds (the rows of timeseries.csv)."""
        if self.timeseries is not None:
            return len(self.timeseries)
        return max(1, math.ceil(self.summary.duration_s)) if self.summary is not None else 0

    def second_of(self, ts: np.ndarray) -> np.ndarray:
        """Second of the measured window of each epoch time (needs :attr:`window_start`)."""
        return window_seconds(ts, self.window_start if self.window_start is not None else 0.0)

    def operation_summary(self, operation: str | None) -> rundir.OperationSummary | None:
        """summary.json's figures of one operation (None = all operations)."""
        summary = self.summary
        if summary is None:
            return None
        return summary.overall if operation is None else summary.operations.get(operation)

    def not_measured_reason(self, *names: str) -> str | None:
        """The reason the run recorded for not measuring one of ``names``."""
        return next((item.reason for item in self.manifest.not_measured if item.metric in names), None)

    def scenario_value(self, *keys: str) -> Any:
        """A value of the resolved scenario by path, None when any key is absent."""
        node: Any = self.manifest.scenario
        for key in keys:
            if not isinstance(node, dict):
                return None
            node = node.get(key)
        return node


def infer_window_start(folder: RunFolder) -> float | None:
    """For folders whose manifest lacks ``load.window_start``: timeseries ``ts`` when it is precise,
    else the first intended send of the samples.

    timeseries.csv may store ``ts`` with 6 significant digits (epoch seconds then lose their
    last four digits), so it is used only when consecutive rows are exactly one second apart.
    """
    timeseries = folder.timeseries
    if timeseries is not None and len(timeseries) >= 2 and "ts" in timeseries:
        ts = timeseries["ts"].to_numpy(dtype=float)
        if np.allclose(np.diff(ts[:3]), 1.0):
            return float(ts[0])
    intended = folder.sample_columns(["intended_start"])
    if intended is None:
        return None
    first = float(intended["intended_start"].min())  # NaN when there is no sample
    return first if math.isfinite(first) else None
