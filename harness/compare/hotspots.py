"""Differential hotspot list from the profiles attached to two run sets.

The profiling stage writes a hotspot table per profile (``manifest.profiles[name].files["hotspots"]``,
JSON). Its exact shape belongs to that stage, so this reader is tolerant: a list of rows, or an
object with a ``hotspots``/``rows`` list, each row naming a frame (``function``/``frame``/``name``)
and a share of samples (``self_percent``/``percent``/``self_pct``/``own_percent``, 0-100).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from harness.compare.result import HotspotDelta
from harness.compare.runset import RunSet

_NAME_KEYS = ("function", "frame", "name", "location")
_SHARE_KEYS = ("self_percent", "percent", "self_pct", "own_percent", "total_percent")


def _resolve(run_dir: Path, file_ref: str) -> Path:
    path = Path(file_ref)
    if path.is_absolute():
        return path
    return run_dir / path if (run_dir / path).exists() else path


def _rows(data: Any) -> list[dict[str, Any]]:
    if isinstance(data, dict):
        for key in ("hotspots", "rows", "functions"):
            if isinstance(data.get(key), list):
                return [r for r in data[key] if isinstance(r, dict)]
        return []
    return [r for r in data if isinstance(r, dict)] if isinstance(data, list) else []


def _first(row: dict[str, Any], keys: tuple[str, ...]) -> Any:
    return next((row[k] for k in keys if k in row and row[k] is not None), None)


def _frame_name(row: dict[str, Any]) -> str | None:
    """``function (file)`` as the profiling stage names frames; the bare name when no file is given."""
    name = _first(row, _NAME_KEYS)
    if name is None:
        return None
    return f"{name} ({row['file']})" if row.get("file") else str(name)


def _tables(run_set: RunSet) -> Iterator[list[dict[str, Any]]]:
    """The rows of each readable CPU hotspot table of the run set's runs (ok records only)."""
    for data in _table_data(run_set):
        yield _rows(data)


def _table_data(run_set: RunSet) -> Iterator[Any]:
    for run in run_set.runs:
        for record in run.manifest.profiles.values():
            ref = record.files.get("hotspots")
            if record.status != "ok" or not ref:
                continue
            try:
                data = json.loads(_resolve(run.path, ref).read_text(encoding="utf-8"))
            except (OSError, ValueError):
                continue
            yield data


def hotspot_shares(run_set: RunSet) -> dict[str, float]:
    """Mean share (percent) of each frame across the run set's CPU hotspot tables."""
    totals: dict[str, float] = {}
    tables = 0
    for rows in _tables(run_set):
        tables += 1
        for row in rows:
            name, share = _frame_name(row), _first(row, _SHARE_KEYS)
            if name is not None and isinstance(share, int | float):
                totals[name] = totals.get(name, 0.0) + float(share)
    return {name: value / tables for name, value in totals.items()} if tables else {}


def hotspot_samples(run_set: RunSet) -> int:
    """Profiler samples behind the run set's hotspot tables (their ``total_samples``, py-spy's)."""
    return sum(int(data.get("total_samples") or 0) for data in _table_data(run_set) if isinstance(data, dict))


def hotspot_locations(run_set: RunSet) -> dict[str, tuple[str, str]]:
    """Each frame of :func:`hotspot_shares` -> (function, ``file:line``) as its first table names it
    (``location``; else ``file:line``, else the file)."""
    out: dict[str, tuple[str, str]] = {}
    for rows in _tables(run_set):
        for row in rows:
            name = _frame_name(row)
            if name is None or name in out:
                continue
            where = row.get("location") or (
                f"{row['file']}:{row['line']}" if row.get("file") and row.get("line") else row.get("file")
            )
            out[name] = (str(_first(row, _NAME_KEYS)), str(where or ""))
    return out


def differential_hotspots(base: RunSet, new: RunSet, top: int = 15) -> list[HotspotDelta]:
    """Frames whose share of CPU samples changed most, largest growth first."""
    b, n = hotspot_shares(base), hotspot_shares(new)
    if not b or not n:
        return []
    rows = [
        HotspotDelta(
            frame=name,
            base_percent=b.get(name, 0.0),
            new_percent=n.get(name, 0.0),
            delta_percent=n.get(name, 0.0) - b.get(name, 0.0),
        )
        for name in set(b) | set(n)
    ]
    rows.sort(key=lambda r: (-abs(r.delta_percent), r.frame))
    return sorted(rows[:top], key=lambda r: -r.delta_percent)
