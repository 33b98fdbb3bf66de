"""Collects sample chunks (from this process or from workers) into Parquet part files + live progress.

Runs in the Locust master (or the single local process) about once per second per source, never
per request. Part files are rolled regularly so a killed run loses at most the open part; the
harness CLI merges them into ``samples.parquet`` when the run ends.

Live progress (:meth:`Collector.progress`, once a second): overall and per operation, the rate and
p50/p95/p99 of the last interval and of the run so far, read from HdrHistograms with the one
percentile definition (:mod:`harness.derive.percentiles`) over the coordinated-omission corrected
latency (from the intended send time), the same samples ``summary.json`` later reads. So the live
view's cumulative figures are the ones the run reports. ``HARNESS_LIVE_PER_OP=0`` turns the
per-operation figures off (to measure what they cost; see docs/scenarios.md).
"""

from __future__ import annotations

import io
import math
import os
import time
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from harness.contract.columns import DROPPED
from harness.derive.percentiles import hdr_values_at, new_histogram, record, values_at

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
#: The percentiles of the live figures, interval and cumulative.
LIVE_QS = (50.0, 95.0, 99.0)
#: ``0`` turns the per-operation live figures off (the overall ones stay).
PER_OP_ENV = "HARNESS_LIVE_PER_OP"


def _warm_up() -> None:
    """The first Parquet write initialises codecs (~0.5 s): do it before the load starts."""
    table = pa.Table.from_pydict({name: [None] for name in SCHEMA.names}, schema=SCHEMA)
    pq.write_table(table, io.BytesIO(), compression="zstd")
    record(new_histogram(), np.array([1.0]))


def _named(values_ms: np.ndarray) -> dict[str, float | None]:
    """``{"p50": .., "p95": .., "p99": ..}`` in ms; None for a missing one (JSON has no NaN)."""
    pairs = zip(LIVE_QS, values_ms.tolist(), strict=True)
    return {f"p{q:g}": (float(v) if np.isfinite(v) else None) for q, v in pairs}


class LiveFigures:
    """The live counts and percentiles of one operation (or of all of them): the current interval
    (its latencies kept raw until :meth:`figures`: a partition is cheaper than a histogram for one
    second) and the run so far (an HdrHistogram). Both by the one percentile definition."""

    __slots__ = ("_total_ms", "completed", "dropped", "errors", "interval", "interval_done", "total")

    def __init__(self) -> None:
        self.completed = self.errors = self.dropped = self.interval_done = 0
        self.interval: list[np.ndarray] = []
        self.total = new_histogram()
        self._total_ms = _named(np.full(len(LIVE_QS), np.nan))

    def add(self, latency_ms: np.ndarray, done: int, errors: int, dropped: int) -> None:
        self.completed += done
        self.interval_done += done
        self.errors += errors
        self.dropped += dropped
        if latency_ms.size:
            self.interval.append(latency_ms)
            record(self.total, latency_ms)

    def figures(self, span_s: float) -> dict[str, Any]:
        """Rate and percentiles of the interval, of the run so far, counts; starts a new interval."""
        interval = np.concatenate(self.interval) if self.interval else np.empty(0)
        if interval.size:  # the run-so-far percentiles change only with new latencies
            self._total_ms = _named(hdr_values_at(self.total, LIVE_QS) / 1000.0)
        out = {
            "rate": self.interval_done / span_s,
            "completed": self.completed,
            "errors": self.errors,
            "dropped": self.dropped,
            "interval_ms": _named(values_at(interval, LIVE_QS)),
            "total_ms": dict(self._total_ms),
        }
        self.interval = []
        self.interval_done = 0
        return out


class Collector:
    def __init__(self, parts_dir: Path, sided: bool = False, per_op: bool | None = None) -> None:
        self.parts_dir = parts_dir
        self.schema = SIDED_SCHEMA if sided else SCHEMA
        parts_dir.mkdir(parents=True, exist_ok=True)
        self.parts: list[str] = []
        self._writer: pq.ParquetWriter | None = None
        self._part_rows = 0
        self._part_opened = 0.0
        self._last_progress = time.time()
        self.per_op = os.environ.get(PER_OP_ENV, "1") != "0" if per_op is None else per_op
        self.overall = LiveFigures()
        self.operations: dict[str, LiveFigures] = {}
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
        self.overall.add(latency[done], int(done.sum()), int(failed.sum()), int(dropped.sum()))
        if self.per_op:
            self._update_operations(table.column("operation"), latency, done, failed, dropped)

    def _update_operations(
        self,
        operation: pa.ChunkedArray,
        latency: np.ndarray,
        done: np.ndarray,
        failed: np.ndarray,
        dropped: np.ndarray,
    ) -> None:
        """Each operation's share of the chunk (one dictionary encoding, no per-sample Python)."""
        encoded = pc.dictionary_encode(operation).combine_chunks()
        codes = encoded.indices.to_numpy(zero_copy_only=False)
        for code, name in enumerate(encoded.dictionary.to_pylist()):
            mine = codes == code
            live = self.operations.get(name)
            if live is None:
                live = self.operations[name] = LiveFigures()
            ok = mine & done
            live.add(latency[ok], int(ok.sum()), int((mine & failed).sum()), int((mine & dropped).sum()))

    # ------------------------------------------------------------ output

    def progress(self, now: float | None = None) -> dict[str, Any]:
        """Rate and p95 since the previous call, totals of completed, errors and dropped; resets the window.

        The p95 is read with the one percentile definition (NaN when nothing completed). ``overall``
        and ``operations`` (by name) hold the live figures of :class:`LiveFigures`.
        """
        now = time.time() if now is None else now
        span = max(1e-3, now - self._last_progress)
        overall = self.overall.figures(span)
        p95 = overall["interval_ms"]["p95"]
        self._last_progress = now
        return {
            "rate": overall["rate"],
            "p95_ms": math.nan if p95 is None else p95,
            "completed": overall["completed"],
            "errors": overall["errors"],
            "dropped": overall["dropped"],
            "overall": overall,
            "operations": {name: live.figures(span) for name, live in sorted(self.operations.items())},
        }

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
