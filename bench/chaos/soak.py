"""A short soak: ``harness run`` drives the smoke mix at a moderate steady rate against the real
runtime (SQLite) for ``seconds``, while the runtime's RSS and its database size are sampled every
2 s. The database size is its live bytes (SQLite pages in use, ``page_count - freelist_count``,
read through a read-only connection): what the archive policy bounds (freed pages are reused, so
the file follows). Reported: both least-squares slopes per hour over the second half of the
samples, the largest live size in that half, and the files' size at the end. The soak's runtime
runs with a small archival size trigger (``archive.max_db_bytes`` 1 MB, checked every 5 s),
reached within the first minute, so the second half shows whether the policy holds the database
at its limit (without it, this load grows it ~95 MB/h) and whether memory settles. Open file
descriptors at start and end are listed beside.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
import time
from pathlib import Path

import psutil

from bench.chaos.common import Row, harness, last_line, output, runtime, slope_per_hour, write
from harness.contract import rundir

PROBE = "soak"
RATE = 30
MAX_DB_BYTES = 1_000_000
#: 1 KB kept per request at 30 req/s is 108 MB/h: below this, no per-request leak
RSS_SLOPE_MB_H = 100.0
#: the database without archival grows ~95 MB/h at this rate (measured); bounded means ~flat
DB_SLOPE_MB_H = 10.0
#: live bytes may pass the limit by what 5 s of load adds before the next check
DB_MARGIN = 1.5
SCENARIO = """\
name: chaos-soak
target:
  api_key: {{env: CHAOS_SOAK_KEY}}
load: {{rate: {rate}, duration: {seconds}s, drain: 2s}}
mix:
  - {{operation: command_ack, weight: 5}}
  - {{operation: simple_query, weight: 5}}
  - {{operation: handoff, weight: 2}}
  - {{operation: workflow, weight: 1}}
"""


class Sampler:
    """RSS of ``pid`` and the size of the database files, every ``every_s`` seconds."""

    def __init__(self, pid: int, state: Path, every_s: float = 2.0) -> None:
        self.proc, self.state, self.every_s = psutil.Process(pid), state, every_s
        self.rss: list[tuple[float, float]] = []
        self.fds: list[int] = []
        self.db: list[tuple[float, float]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def db_bytes(self) -> int:
        """The database's files (main file, WAL) as they are on disk."""
        return sum(p.stat().st_size for p in self.state.glob("motherbox.db*") if p.is_file())

    def live_bytes(self) -> int | None:
        """Bytes in the database's pages in use (None when it cannot be read just now)."""
        uri = f"file:{self.state / 'motherbox.db'}?mode=ro"
        with (
            contextlib.suppress(sqlite3.Error),
            contextlib.closing(sqlite3.connect(uri, uri=True, timeout=2)) as db,
        ):
            pages, free, size = (
                db.execute(f"PRAGMA {p}").fetchone()[0] for p in ("page_count", "freelist_count", "page_size")
            )
            return int((pages - free) * size)
        return None

    def _loop(self) -> None:
        t0 = time.monotonic()
        while not self._stop.wait(self.every_s):
            t = time.monotonic() - t0
            self.rss.append((t, self.proc.memory_info().rss / 1e6))
            live = self.live_bytes()
            if live is not None:
                self.db.append((t, live / 1e6))
            self.fds.append(self.proc.num_fds())

    def __enter__(self) -> Sampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)


def second_half(points: list[tuple[float, float]]) -> list[tuple[float, float]]:
    return points[len(points) // 2 :]


def probe(tmp: Path, seconds: int) -> Row:
    started = time.monotonic()
    what = f"{seconds} s at {RATE} req/s (smoke mix): runtime RSS and SQLite live-size slopes"
    expect = (
        f"RSS < {RSS_SLOPE_MB_H:.0f} MB/h, DB < {DB_SLOPE_MB_H:.0f} MB/h and <= {DB_MARGIN}x limit (2nd half)"
    )
    scenario = write(tmp, "soak.yaml", SCENARIO.format(rate=RATE, seconds=seconds))
    limits = ("--set", f"archive.max_db_bytes={MAX_DB_BYTES}", "--set", "archive.check_interval_s=5")
    with runtime(tmp / "soak", *limits, backend_args=("--latency-median-ms", "20")) as srv:
        env = {**os.environ, "CHAOS_SOAK_KEY": srv.key}
        with Sampler(srv.proc.pid, srv.state_dir) as sampler:
            out = harness(
                "run", str(scenario), "--target", srv.base_url, "--pid", str(srv.proc.pid),
                "--reports-dir", str(tmp / "reports"), "--quiet", "--no-report", env=env,
                timeout=seconds + 300,
            )  # fmt: skip
        files = sampler.db_bytes()
    rss_slope = slope_per_hour(second_half(sampler.rss))
    db_slope = slope_per_hour(second_half(sampler.db))
    db_max = max((v for _, v in second_half(sampler.db)), default=float("inf"))
    rss = [v for _, v in sampler.rss]
    count = f"RSS {rss_slope:+.0f} MB/h, DB {db_slope:+.0f} MB/h (live <= {db_max:.2f} MB)"
    detail = f"RSS {min(rss, default=0):.0f}-{max(rss, default=0):.0f} MB over {len(rss)} samples; "
    detail += f"fds {sampler.fds[0] if sampler.fds else '?'} -> {sampler.fds[-1] if sampler.fds else '?'}; "
    detail += f"archive limit {MAX_DB_BYTES / 1e6:.0f} MB, database files at the end {files / 1e6:.1f} MB; "
    detail += _run_detail(tmp, out.returncode, last_line(output(out)))
    bounded = db_slope < DB_SLOPE_MB_H and db_max <= DB_MARGIN * MAX_DB_BYTES / 1e6
    ok = out.returncode == 0 and rss_slope < RSS_SLOPE_MB_H and bounded
    return Row(PROBE, what, count, expect, ok, detail, time.monotonic() - started)


def _run_detail(tmp: Path, code: int, last: str) -> str:
    try:
        overall = rundir.load_summary((tmp / "reports" / "latest").resolve()).overall
    except rundir.RunDirError:
        return f"harness run exit {code}: {last}"
    return f"harness run exit {code}: {overall.count} requests, {overall.errors} errors"
