"""Lazy access to the files of a run folder that rules need (each file read at most once)."""

from __future__ import annotations

from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from harness.contract import rundir

#: The sample columns any rule needs; read together once (parquet reads only these columns).
SAMPLE_COLUMNS = ["ts", "operation", "start", "intended_start", "latency_ms", "error"]


class RunData:
    def __init__(self, run_dir: Path) -> None:
        self.run_dir = run_dir
        self.manifest = rundir.load_manifest(run_dir)

    @cached_property
    def summary(self) -> rundir.Summary | None:
        if not (self.run_dir / rundir.SUMMARY_FILE).is_file():
            return None
        return rundir.load_summary(self.run_dir)

    @cached_property
    def timeseries(self) -> pd.DataFrame | None:
        if not (self.run_dir / rundir.TIMESERIES_FILE).is_file():
            return None
        frame: pd.DataFrame = rundir.load_timeseries(self.run_dir)
        return frame

    @cached_property
    def samples(self) -> pd.DataFrame | None:
        """Samples sorted by completion time, with ``sec`` = second of the measured window."""
        if not (self.run_dir / rundir.SAMPLES_FILE).is_file() or self.window_start is None:
            return None
        # Strings as dictionaries (pandas categoricals): few distinct values, read far faster.
        table = pq.read_table(
            self.run_dir / rundir.SAMPLES_FILE, columns=SAMPLE_COLUMNS, read_dictionary=["operation", "error"]
        )
        frame: pd.DataFrame = table.to_pandas()
        frame = frame.sort_values("ts", kind="stable").reset_index(drop=True)
        frame["sec"] = np.floor(frame["ts"].to_numpy(dtype=float) - self.window_start).astype(np.int64)
        return frame

    def sample_columns(self, columns: list[str]) -> pd.DataFrame | None:
        """Just these sample columns (unsorted); the full cached frame when it is already loaded."""
        if "samples" in self.__dict__:
            frame: pd.DataFrame | None = self.__dict__["samples"]
            return frame
        path = self.run_dir / rundir.SAMPLES_FILE
        if not path.is_file():
            return None
        table = pq.read_table(path, columns=columns, read_dictionary=[c for c in columns if c == "operation"])
        result: pd.DataFrame = table.to_pandas()
        return result

    @cached_property
    def window_start(self) -> float | None:
        """Epoch second where the measured window starts (second 0 of timeseries.csv)."""
        return measured_window_start(self.run_dir, self.timeseries)

    @property
    def seconds(self) -> int:
        return 0 if self.timeseries is None else len(self.timeseries)

    def operation_summary(self, operation: str | None) -> rundir.OperationSummary | None:
        summary = self.summary
        if summary is None:
            return None
        return summary.overall if operation is None else summary.operations.get(operation)

    def not_measured_reason(self, *names: str) -> str | None:
        """The reason the run recorded for not measuring one of ``names``."""
        for item in self.manifest.not_measured:
            if item.metric in names:
                return item.reason
        return None

    def scenario_value(self, *keys: str) -> Any:
        node: Any = self.manifest.scenario
        for key in keys:
            if not isinstance(node, dict):
                return None
            node = node.get(key)
        return node


def measured_window_start(run_dir: Path, timeseries: pd.DataFrame | None) -> float | None:
    """timeseries ``ts`` when it is precise; else the first intended send of the samples.

    timeseries.csv may store ``ts`` with 6 significant digits (epoch seconds then lose their
    last four digits), so it is used only when consecutive rows are exactly one second apart.
    """
    if timeseries is not None and len(timeseries) >= 2 and "ts" in timeseries:
        ts = timeseries["ts"].to_numpy(dtype=float)
        if np.allclose(np.diff(ts[:3]), 1.0):
            return float(ts[0])
    if not (run_dir / rundir.SAMPLES_FILE).is_file():
        return None
    first = rundir.load_samples(run_dir, columns=["intended_start"])["intended_start"].min()
    return float(first) if np.isfinite(first) else None
