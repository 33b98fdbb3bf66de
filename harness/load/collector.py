"""Collects sample chunks (from this process or from workers) into Parquet part files + live progress.

Runs in the Locust master (or the single local process) about once per second per source, never
per request. Part files are rolled regularly so a killed run loses at most the open part; the
harness CLI merges them into ``samples.parquet`` when the run ends.
"""

from __future__ import annotations

import io
import time
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from harness.contract.columns import DROPPED
from harness.derive.percentiles import hdr_values_at, new_histogram, record

SCHEMA = pa.schema(
    [
        ("ts", pa.float64()),
        ("operation", pa.string()),
        ("intended_start", pa.float64()),
        ("start", pa.float64()),
        ("latency_ms", pa.float64()),
        ("service_ms", pa.float64()),
        ("status", pa.int16()),
        ("bytes", pa.int32()),
        ("error", pa.string()),
        ("worker", pa.int16()),
    ]
)
#: The part files of a duet pass (``harness ab``) also carry the side of each sample.
SIDED_SCHEMA = SCHEMA.append(pa.field("side", pa.string()))
PART_MAX_ROWS = 250_000
PART_MAX_AGE_S = 60.0


def _warm_up() -> None:
    """The first Parquet write initialises codecs (~0.5 s): do it before the load starts."""
    table = pa.Table.from_pydict({name: [None] for name in SCHEMA.names}, schema=SCHEMA)
    pq.write_table(table, io.BytesIO(), compression="zstd")
    record(new_histogram(), np.array([1.0]))


class Collector:
    def __init__(self, parts_dir: Path, sided: bool = False) -> None:
        self.parts_dir = parts_dir
        self.schema = SIDED_SCHEMA if sided else SCHEMA
        parts_dir.mkdir(parents=True, exist_ok=True)
        self.parts: list[str] = []
        self._writer: pq.ParquetWriter | None = None
        self._part_rows = 0
        self._part_opened = 0.0
        self.completed = 0
        self.errors = 0
        self.dropped = 0
        self.window = new_histogram()
        self._window_done = 0
        self._last_progress = time.time()
        _warm_up()

    # ------------------------------------------------------------ input

    def add(self, chunk: dict[str, list[Any]] | None, worker: int = 0) -> int:
        if not chunk or not chunk.get("ts"):
            return 0
        n = len(chunk["ts"])
        columns = dict(chunk)
        columns["worker"] = [worker] * n
        table = pa.Table.from_pydict(columns, schema=self.schema)
        self._write(table)
        self._update_stats(table)
        return n

    def _write(self, table: pa.Table) -> None:
        now = time.time()
        if self._writer is not None and (
            self._part_rows >= PART_MAX_ROWS or now - self._part_opened > PART_MAX_AGE_S
        ):
            self._close_part()
        if self._writer is None:
            path = self.parts_dir / f"part-{len(self.parts):05d}.parquet"
            self._writer = pq.ParquetWriter(path, self.schema, compression="zstd")
            self.parts.append(path.name)
            self._part_rows, self._part_opened = 0, now
        self._writer.write_table(table)
        self._part_rows += table.num_rows

    def _close_part(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None

    def _update_stats(self, table: pa.Table) -> None:
        error = table.column("error").to_pylist()
        latency = table.column("latency_ms").to_numpy(zero_copy_only=False)
        dropped = np.fromiter((e == DROPPED for e in error), dtype=bool, count=len(error))
        failed = np.fromiter((e is not None for e in error), dtype=bool, count=len(error)) & ~dropped
        done = ~dropped
        self.dropped += int(dropped.sum())
        self.completed += int(done.sum())
        self.errors += int(failed.sum())
        self._window_done += int(done.sum())
        record(self.window, latency[done])

    # ------------------------------------------------------------ output

    def progress(self, now: float | None = None) -> dict[str, Any]:
        """Rate and p95 since the previous call, totals of completed, errors and dropped; resets the window.

        The p95 is read with the one percentile definition (NaN when nothing completed).
        """
        now = time.time() if now is None else now
        span = max(1e-3, now - self._last_progress)
        out = {
            "rate": self._window_done / span,
            "p95_ms": float(hdr_values_at(self.window, [95])[0]) / 1000.0,
            "completed": self.completed,
            "errors": self.errors,
            "dropped": self.dropped,
        }
        self.window = new_histogram()
        self._window_done = 0
        self._last_progress = now
        return out

    def close(self) -> None:
        self._close_part()


def merge_parts(parts_dir: Path, names: list[str], target: Path, side: str | None = None) -> int:
    """Stream the part files into one Parquet file (row group by row group: bounded memory).

    With ``side`` (a duet pass): only that side's samples, without the ``side`` column.
    """
    rows = 0
    writer = pq.ParquetWriter(target, SCHEMA, compression="zstd")
    try:
        for name in names:
            path = parts_dir / name
            try:
                source = pq.ParquetFile(path)
            except (OSError, pa.ArrowInvalid):
                continue  # a part left open by a killed process: unreadable, skip it
            for index in range(source.num_row_groups):
                table = source.read_row_group(index)
                if side is not None:
                    table = table.filter(pc.equal(table.column("side"), side)).select(SCHEMA.names)
                table = table.cast(SCHEMA)
                writer.write_table(table)
                rows += table.num_rows
    finally:
        writer.close()
    return rows
