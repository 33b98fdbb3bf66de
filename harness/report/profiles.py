"""The run page's profiles section: each profiler's files, hotspot tables and memory figures.

Profile files are found where the manifest names them: relative to the run folder (runs made
since profiles live inside their run folder, ``<run>/profiles/<run-id>/``), or, for older runs,
relative to the working directory or the repository that held ``reports/runs/<run-id>`` (the old
``profiles/<run-id>/`` layout). Links are relative to the report, so a run folder uploaded alone
keeps working ones.

The CPU table leads with the target's own code (``hotspots.json``'s ``own_code``, written by
:func:`harness.profiling.collapsed.hotspot_table`); every frame, event loop and libraries
included, stays one click away. The memray pass's RSS growth is shown labelled as such: it is
not the run's.

A speedscope profile gets an offline viewer beside it (:func:`speedscope_viewer`: speedscope's
own page, vendored in ``vendor/speedscope``, and the profile as a script it loads), linked
before the JSON. A folder that cannot be written keeps the JSON link alone.
"""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path
from typing import Any

from harness.contract import rundir
from harness.contract.atomic import write_text_atomic
from harness.report.analysis import Fact, ProfileView

#: Link text per manifest file label, in the order links are shown; unknown labels come last.
LINK_LABELS = {
    "flamegraph": "flamegraph",
    "leaks_flamegraph": "leaks flamegraph (memray)",
    "temporal_flamegraph": "temporal flamegraph (memray)",
    "speedscope_viewer": "speedscope (offline viewer)",
    "speedscope": "speedscope JSON",
    "hotspots": "hotspots.json",
    "collapsed": "collapsed stacks",
    "memory": "memory.json",
    "stats": "memory.stats.json",
    "memray_stats": "memray stats JSON",
    "capture": "memray capture (memray.bin)",
    "scalene": "scalene JSON",
}
CPU_FLAMEGRAPH = "interactive flamegraph (SVG: click to zoom, Search or Ctrl+F)"
MEMORY_FLAMEGRAPH = "peak memory flamegraph (memray)"
UNDER_MEMRAY_NOTE = (
    "Measured during the memray pass, with every allocation traced: memray inflates memory, so this "
    "is not the run's RSS growth (that one is in the resources chart and the checklist)."
)
OWN_RULE_FALLBACK = "files under the target's package"
#: speedscope's page with everything inlined; it loads ``<its name>.js`` from beside it.
SPEEDSCOPE_PAGE = Path(__file__).parent / "vendor" / "speedscope" / "speedscope.html"


def speedscope_viewer(profile: Path) -> Path | None:
    """``<name>.html`` beside a speedscope JSON file, showing it offline (``file://``, no
    network): speedscope's page and ``<name>.js``, the profile in the call that page expects.
    None when the folder cannot be written (the JSON link stays)."""
    page, script = profile.with_suffix(".html"), profile.with_suffix(".js")
    try:
        if not script.is_file() or script.stat().st_mtime < profile.stat().st_mtime:
            data = base64.b64encode(profile.read_bytes()).decode("ascii")
            call = f"speedscope.loadFileFromBase64({json.dumps(profile.name)}, {json.dumps(data)});\n"
            write_text_atomic(script, call)
        if not page.is_file():
            write_text_atomic(page, SPEEDSCOPE_PAGE.read_text(encoding="utf-8"))
    except OSError:
        return None
    return page


def _link_label(profile: str, label: str) -> str:
    if label == "flamegraph":
        return CPU_FLAMEGRAPH if profile == "cpu" else MEMORY_FLAMEGRAPH
    return LINK_LABELS.get(label, label.replace("_", " "))


def _link_order(label: str) -> int:
    order = list(LINK_LABELS)
    return order.index(label) if label in order else len(order)


def _find_file(ref: str, run_dir: Path) -> Path | None:
    """Relative to the run folder first; then the working directory and, for runs made before
    profiles moved into the run folder, the folder holding ``reports/`` (``profiles/<run-id>/``)."""
    path = Path(ref)
    candidates = (
        [path]
        if path.is_absolute()
        else [run_dir / path, Path.cwd() / path, run_dir.parent.parent.parent / path]
    )
    return next((c for c in candidates if c.is_file()), None)


#: Hotspot share keys, in order of preference: (key, True when the value is already a percent).
_SELF_KEYS = (("self_percent", True), ("self_pct", True), ("own_percent", True), ("self_share", False))
_TOTAL_KEYS = (("total_percent", True), ("total_pct", True), ("total_share", False), ("cumulative", False))


def _share_text(row: dict[str, Any], keys: tuple[tuple[str, bool], ...]) -> str:
    """A hotspot share as a percent; ``*_percent`` keys hold percents, ``*_share`` fractions."""
    for key, is_percent in keys:
        value = row.get(key)
        if isinstance(value, int | float) and not isinstance(value, bool):
            return f"{float(value) if is_percent else float(value) * 100.0:.1f}%"
    return "—"


def _first(row: dict[str, Any], *keys: str) -> Any:
    return next((row[k] for k in keys if row.get(k) is not None), None)


def _hotspot_rows(data: Any, limit: int = 15) -> list[dict[str, str]]:
    rows = data
    if isinstance(data, dict):
        rows = next(
            (data[k] for k in ("hotspots", "rows", "functions", "top") if isinstance(data.get(k), list)), []
        )
    if not isinstance(rows, list):
        return []
    out = []
    for row in [r for r in rows if isinstance(r, dict)][:limit]:
        file = _first(row, "file", "filename", "path")
        line = _first(row, "line", "lineno")
        location = _first(row, "location") or (f"{file}:{line}" if file and line else file)
        out.append(
            {
                "function": str(_first(row, "function", "name", "frame") or "?"),
                "location": str(location or "—"),
                "self": _share_text(row, _SELF_KEYS),
                "total": _share_text(row, _TOTAL_KEYS),
            }
        )
    return out


def _label(key: str) -> str:
    """``peak_memory_mb`` -> ``peak memory (MB)``."""
    for suffix, unit in (("_mb_per_h", "MB/h"), ("_mb", "MB"), ("_bytes", "bytes"), ("_percent", "%")):
        if key.endswith(suffix):
            return f"{key.removesuffix(suffix).replace('_', ' ')} ({unit})"
    return key.replace("_", " ")


def _scalar_text(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:,.4g}" if abs(value) < 1000 else f"{value:,.0f}"
    return f"{value:,}" if isinstance(value, int) else str(value)


def _load_json(path: Path | None) -> Any:
    if path is None:
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _own_rows(data: Any, limit: int = 15) -> tuple[list[dict[str, str]], str | None]:
    """The own-code table of a ``hotspots.json`` and its caption (none in older files)."""
    own = data.get("own_code") if isinstance(data, dict) else None
    if not isinstance(own, dict) or not isinstance(own.get("hotspots"), list):
        return [], None
    rows = []
    for row in [r for r in own["hotspots"] if isinstance(r, dict)][:limit]:
        rows.append(
            {
                "function": str(_first(row, "function") or "?"),
                "location": str(_first(row, "location", "file") or "—"),
                "own": _share_text(row, (("own_percent", True),)),
                "total": _share_text(row, _TOTAL_KEYS),
            }
        )
    percent = own.get("percent")
    share = f"{float(percent):.1f}%" if isinstance(percent, int | float) else "—"
    caption = (
        f"The target's own code ({own.get('rule') or OWN_RULE_FALLBACK}) was at work in {share} of "
        "the samples (the rest: the event loop waiting, libraries and threads outside it). Own: "
        "samples charged to the deepest own-code frame on the stack (the application line that led "
        "there, whatever library code ran below it), at the line where most of them were; total: "
        "samples with the function anywhere on the stack."
    )
    return rows, caption


_NOT_FACTS = ("schema_version", "kind")


def _memory_view(data: Any) -> tuple[list[Fact], list[dict[str, str]], list[Fact]]:
    """Facts, top sites, and the memray pass's RSS figures (apart: they are not the run's)."""
    if not isinstance(data, dict):
        return [], [], []
    scalars = {
        str(k): v
        for k, v in data.items()
        if isinstance(v, int | float | str)
        and not isinstance(v, bool)
        and k not in ("schema_version", "kind")
    }
    facts = [Fact(_label(k), _scalar_text(v)) for k, v in scalars.items() if not k.startswith("rss_")]
    under = data.get("under_memray")
    # memory.json before ``under_memray`` had the memray pass's RSS figures at the top level
    rss = (
        dict(under) if isinstance(under, dict) else {k: v for k, v in scalars.items() if k.startswith("rss_")}
    )
    under_memray = [
        Fact(_memray_rss_label(k), _scalar_text(v))
        for k, v in rss.items()
        if k.startswith("rss_") and isinstance(v, int | float) and not isinstance(v, bool)
    ]
    sites_raw: list[Any] = next(
        (data[k] for k in ("top_sites", "sites", "growth_sites", "top") if isinstance(data.get(k), list)), []
    )
    rows = [site for site in sites_raw[:10] if isinstance(site, dict)]
    # A few readable columns when the profiler names them; otherwise every scalar field.
    preferred = [k for k in ("function", "location", "mb", "allocations") if any(k in r for r in rows)]
    sites = [
        {
            str(k): _scalar_text(v)
            for k, v in ({k: site.get(k, "") for k in preferred} if preferred else site).items()
            if isinstance(v, int | float | str)
        }
        for site in rows
    ]
    return facts, sites, under_memray


def _memray_rss_label(key: str) -> str:
    """``rss_growth_mb_per_h`` -> ``RSS growth under memray, not the run's (MB/h)``."""
    return {
        "rss_growth_mb_per_h": "RSS growth under memray, not the run's (MB/h)",
        "rss_growth_r2": "R² of that fit (memray pass)",
        "rss_start_mb": "RSS at the start of the memray pass (MB)",
        "rss_end_mb": "RSS at the end of the memray pass (MB)",
    }.get(key, f"{_label(key)} (memray pass)")


def _view(name: str, record: rundir.ProfileRecord, run_dir: Path, report_dir: Path) -> ProfileView:
    paths = {label: path for label, ref in record.files.items() if (path := _find_file(ref, run_dir))}
    if paths.get("speedscope") and (viewer := speedscope_viewer(paths["speedscope"])):
        paths["speedscope_viewer"] = viewer
    found_files = sorted(paths.items(), key=lambda item: (_link_order(item[0]), item[0]))
    links = [
        (_link_label(name, label), os.path.relpath(found.resolve(), report_dir.resolve()))
        for label, found in found_files
    ]
    hotspots: list[dict[str, str]] = []
    own: list[dict[str, str]] = []
    caption: str | None = None
    memory: list[Fact] = []
    sites: list[dict[str, str]] = []
    under: list[Fact] = []
    for label, found in found_files:
        if found.name == "hotspots.json" or label == "hotspots":
            data = _load_json(found)
            hotspots = _hotspot_rows(data)
            own, caption = _own_rows(data)
        if found.name == "memory.json" or label == "memory":
            memory, sites, under = _memory_view(_load_json(found))
    return ProfileView(
        name,
        record.status,
        record.reason,
        links,
        hotspots,
        memory,
        sites,
        own_hotspots=own,
        own_caption=caption,
        under_memray=under,
        under_memray_note=UNDER_MEMRAY_NOTE if under else None,
    )


def build_profiles(manifest: rundir.Manifest, run_dir: Path, report_dir: Path) -> list[ProfileView]:
    """One view per profiler of the run, in name order."""
    return [_view(name, record, run_dir, report_dir) for name, record in sorted(manifest.profiles.items())]
