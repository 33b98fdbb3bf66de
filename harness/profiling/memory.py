"""Memory profiling with memray: a separate pass with the runtime launched under ``memray run``.

memray slows the target, so its pass never shares timings with the measured (CPU) pass. Outputs:
peak and leaks flamegraphs, ``memory.stats.json`` (peak, allocation count, top allocators at the
high-water mark and top leaked sites) and ``memory.json`` (peak, and the allocation sites still
holding memory at exit, largest first: with a leak, the leaking site tops the list; import-time
allocations are left out, they are not growth). The RSS growth of the memray pass is kept apart,
under ``under_memray`` with a note: memray's tracking inflates memory, so it is not the run's.

The flamegraph pages are written with ``memray flamegraph --no-web``: memray inlines the
Bootstrap/jQuery/d3 copies it ships (``memray/reporters/templates/assets/vendor``), so the pages
render offline. A memray without ``--no-web`` loads them from a CDN: the page then says so at
the top. Those inlined libraries (plotly alone is 3.7 MB) are the same in every page, so after
rendering each block that two pages share moves to one ``memray-assets-<hash>.js`` (or ``.css``)
beside them, referenced relatively: a run's pages then hold only their data (about 0.2 MB each
instead of 4.8 MB) and still render offline from the folder, wherever it is copied.

By default the capture is ``--aggregate`` (PYTHONMALLOC=malloc, so every allocation and free is
seen): small and reported in seconds. ``temporal=True`` records every allocation instead, which
adds the temporal flamegraph and ``memray stats --json`` but makes reports take minutes.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import json
import os
import re
import subprocess
import sys
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from harness.contract.atomic import write_text_atomic
from harness.contract.rundir import ProfileRecord
from harness.profiling.tools import LAUNCHER, display_path, executable, tail

SCHEMA_VERSION = 1
#: Frames from these paths are plumbing, not the allocation site a developer would fix.
_PLUMBING = ("/memray/", "<frozen ", "/asyncio/", "/concurrent/", "/threading.py", "/selectors.py")
UNDER_MEMRAY_NOTE = (
    "RSS growth under memray, not the run's: the memray pass traces every allocation, which "
    "inflates memory; the measured run's RSS is in the report's resources chart"
)
OFFLINE_NOTE = (
    '<div style="background:#fff3cd;border:1px solid #c9a227;padding:8px;margin:8px;font:14px sans-serif">'
    "This memray page loads its styles and scripts from a CDN (this memray has no --no-web): "
    "offline it shows unstyled and without the graph. The same data is in memory.json and "
    "memory.stats.json next to it.</div>"
)


@functools.cache
def no_web_supported(binary: str) -> bool:
    """Does this memray inline its assets (``flamegraph --no-web``)?"""
    try:
        out = subprocess.run([binary, "flamegraph", "--help"], capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.SubprocessError):
        return False
    return "--no-web" in out.stdout


def mark_online_only(page: Path) -> None:
    """Put :data:`OFFLINE_NOTE` at the top of a memray page that needs the network."""
    text = page.read_text(errors="replace")
    if OFFLINE_NOTE not in text:
        page.write_text(text.replace("<body>", "<body>" + OFFLINE_NOTE, 1))


#: memray's inlined libraries: attribute-less ``<style>`` and ``text/javascript`` script blocks.
#: (The small theme script before them has no type attribute and stays inline: it must run first.)
#: The closing tag is the opening one's (plotly's code holds the text "</style>").
_ASSET_BLOCK = re.compile(
    r'<(?:(?P<css>style)|script type="text/javascript")>(?P<body>.*?)</(?(css)style|script)\s*>', re.S | re.I
)
#: Blocks below this size are left inline: a separate file would save nothing worth a request.
_MIN_SHARED_BYTES = 4096


def _tag(match: re.Match[str]) -> str:
    return "style" if match["css"] else "script"


def _asset_name(body: str, tag: str) -> str:
    suffix = "css" if tag == "style" else "js"
    return f"memray-assets-{hashlib.sha256(body.encode()).hexdigest()[:12]}.{suffix}"


def share_assets(pages: list[Path]) -> int:
    """Move the asset blocks that at least two ``pages`` inline byte for byte into one file each,
    beside the pages, and reference it relatively. Returns the bytes saved (0 when nothing is
    shared, e.g. a single page). Each page's own data differs from page to page, so it stays."""
    texts = {page: page.read_text(encoding="utf-8") for page in pages}
    seen: dict[tuple[str, str], set[Path]] = defaultdict(set)
    for page, text in texts.items():
        for match in _ASSET_BLOCK.finditer(text):
            if len(match["body"]) >= _MIN_SHARED_BYTES:
                seen[(_tag(match), match["body"])].add(page)
    shared = {key for key, where in seen.items() if len(where) > 1}
    for tag, body in shared:  # the asset files first: a page never points at a missing file
        write_text_atomic(pages[0].parent / _asset_name(body, tag), body)

    def reference(match: re.Match[str]) -> str:
        tag, body = _tag(match), match["body"]
        if (tag, body) not in shared:
            return match.group(0)
        if tag == "style":
            return f'<link rel="stylesheet" href="{_asset_name(body, tag)}">'
        return f'<script type="text/javascript" src="{_asset_name(body, tag)}"></script>'

    saved = 0
    for page, text in texts.items():
        slim = _ASSET_BLOCK.sub(reference, text)
        if slim != text:
            write_text_atomic(page, slim)
            saved += len(text.encode()) - len(slim.encode())
    return saved


class MemrayPass:
    def __init__(
        self, out_dir: Path, *, native: bool = False, follow_fork: bool = True, temporal: bool = False
    ) -> None:
        self.out_dir = out_dir
        self.native, self.follow_fork, self.temporal = native, follow_fork, temporal
        self.capture = out_dir / "memray.bin"
        self.log = out_dir / "memray.log"

    def available(self) -> str | None:
        """None when memray can run, else the reason it cannot."""
        if executable("memray") is None:
            return "memray is not installed"
        return None

    def launcher(self) -> list[str]:
        binary = executable("memray")
        assert binary is not None
        cmd = [binary, "run", "--output", str(self.capture), "--force", "--quiet"]
        if self.native:
            cmd.append("--native")
        if self.follow_fork:
            cmd.append("--follow-fork")
        if not self.temporal:
            cmd.append("--aggregate")
        return [*cmd, str(LAUNCHER)]

    @staticmethod
    def env() -> dict[str, str]:
        # pymalloc hides frees from memray; the leaks view needs the system allocator
        return {"PYTHONMALLOC": "malloc"}

    def report(self, rss: tuple[list[float], list[float]] | None) -> ProfileRecord:
        if not self.capture.is_file():
            return ProfileRecord(status="failed", reason=f"memray wrote no capture: {tail(self.log)}")
        files: dict[str, Path] = {"capture": self.capture}
        binary = executable("memray")
        assert binary is not None
        jobs = {
            "flamegraph": ["flamegraph", "--force", "-o", str(self.out_dir / "memory.flamegraph.html")],
            "leaks_flamegraph": [
                "flamegraph",
                "--leaks",
                "--force",
                "-o",
                str(self.out_dir / "memory.leaks.html"),
            ],
        }
        if self.temporal:
            jobs["temporal_flamegraph"] = [
                "flamegraph",
                "--temporal",
                "--force",
                "-o",
                str(self.out_dir / "memory.temporal.html"),
            ]
            stats_out = str(self.out_dir / "memray.stats.json")
            jobs["memray_stats"] = ["stats", "--json", "--force", "-o", stats_out]
        problems = self._render(binary, jobs, files)
        summary, stats = self.summarize(rss)
        memory_json = self.out_dir / "memory.json"
        memory_json.write_text(json.dumps(summary, indent=2) + "\n")
        files["memory"] = memory_json
        stats_json = self.out_dir / "memory.stats.json"
        stats_json.write_text(json.dumps(stats, indent=2) + "\n")
        files["stats"] = stats_json
        reason = "; ".join(problems) if problems else None
        return ProfileRecord(status="ok", reason=reason, files={k: display_path(v) for k, v in files.items()})

    def _render(self, binary: str, jobs: dict[str, list[str]], files: dict[str, Path]) -> list[str]:
        """Run memray's reporters; flamegraph pages with their assets inlined when memray can, then
        shared between the pages (:func:`share_assets`)."""
        offline = no_web_supported(binary)
        problems, pages = [], []
        with open(self.log, "ab") as log:
            for name, args in jobs.items():
                page = args[0] == "flamegraph"
                extra = ["--no-web"] if page and offline else []
                out = subprocess.run(
                    [binary, *args, *extra, str(self.capture)],
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    timeout=600,
                )
                target = Path(args[args.index("-o") + 1])
                if out.returncode == 0 and target.is_file():
                    files[name] = target
                    if page and not offline:
                        mark_online_only(target)
                    pages += [target] if page and offline else []
                else:
                    problems.append(f"memray {args[0]} {name} failed ({out.returncode})")
        share_assets(pages)
        return problems

    def summarize(self, rss: tuple[list[float], list[float]] | None) -> tuple[dict[str, Any], dict[str, Any]]:
        from memray import FileReader

        reader = FileReader(str(self.capture))
        try:
            meta = reader.metadata
            sites = leak_sites(reader.get_leaked_allocation_records(merge_threads=True))
            peak = reader.get_high_watermark_allocation_records(merge_threads=True)
            peak_sites = leak_sites(peak, imports=True)
            stats: dict[str, Any] = {
                "schema_version": SCHEMA_VERSION,
                "kind": "motherbox-perf/memray-stats",
                "peak_memory_bytes": int(meta.peak_memory),
                "total_allocations": int(meta.total_allocations),
                "python_allocator": str(meta.python_allocator),
                "top_allocators_at_peak": peak_sites[:20],
                "top_leaked_at_exit": sites[:20],
            }
            out: dict[str, Any] = {
                "schema_version": SCHEMA_VERSION,
                "kind": "motherbox-perf/memory",
                "peak_memory_mb": round(meta.peak_memory / 1e6, 3),
                "total_allocations": int(meta.total_allocations),
                "leaked_at_exit_mb": round(sum(s["bytes"] for s in sites) / 1e6, 3),
            }
        finally:
            reader.close()
        out["under_memray"] = {**growth(rss), "note": UNDER_MEMRAY_NOTE}
        out["top_sites"] = sites[:15]
        return out, stats


def _site(stack: list[tuple[str, str, int]]) -> tuple[str, str, int] | None:
    for function, file, line in stack:
        if not any(p in file for p in _PLUMBING):
            return function, file, line
    return stack[0] if stack else None


def _import_time(stack: list[tuple[str, str, int]]) -> bool:
    # every import runs through importlib's frames; a script's own ``<module>`` frame does not
    return any("importlib" in file for _, file, _ in stack)


@functools.cache
def _editable_roots() -> tuple[str, ...]:
    """The folder holding the managed runtime's package: an editable install is not on sys.path."""
    spec = importlib.util.find_spec("reference_runtime")  # located, not imported
    if spec is None or not spec.submodule_search_locations:
        return ()
    return tuple(os.path.dirname(location) for location in spec.submodule_search_locations)


def import_relative(file: str, roots: Sequence[str] | None = None) -> str:
    """``/venv/lib/python3.11/site-packages/uvicorn/server.py`` -> ``uvicorn/server.py``: the file as
    imported, relative to the longest ``sys.path`` entry (or the working folder) holding it, so
    memory sites read like py-spy's CPU frames. Paths under none of them stay as they are."""
    candidates = [*(sys.path if roots is None else roots), os.getcwd()]
    if roots is None:
        candidates.extend(_editable_roots())
    prefixes = sorted({os.path.abspath(r) for r in candidates if r}, key=len, reverse=True)
    for prefix in prefixes:
        if file.startswith(prefix + os.sep):
            return file[len(prefix) + 1 :]
    return file


def leak_sites(records: Any, *, imports: bool = False) -> list[dict[str, Any]]:
    """Aggregate allocations by their allocation site, largest first (import-time ones left out)."""
    by_site: dict[tuple[str, str, int], list[int]] = defaultdict(lambda: [0, 0])
    for record in records:
        try:
            stack = record.stack_trace(max_stacks=12)
        except Exception:  # a record without a Python stack (native-only)
            continue
        frames = list(stack)
        if not imports and _import_time(frames):
            continue
        site = _site(frames)
        if site is None:
            continue
        entry = by_site[site]
        entry[0] += int(record.size)
        entry[1] += int(record.n_allocations)
    rows: list[dict[str, Any]] = [
        {
            "function": function,
            "file": shown,
            "line": line,
            "location": f"{shown}:{line}",
            "bytes": size,
            "mb": round(size / 1e6, 3),
            "allocations": count,
        }
        for (function, file, line), (size, count) in by_site.items()
        for shown in (import_relative(file),)
    ]
    rows.sort(key=lambda r: -int(r["bytes"]))
    return rows


def growth(rss: tuple[list[float], list[float]] | None) -> dict[str, Any]:
    """Least-squares RSS slope (MB/h) and R² from the monitored series (ts, rss_mb)."""
    if rss is None:
        return {"rss_growth_mb_per_h": None, "rss_growth_r2": None}
    import numpy as np

    ts, mb = np.asarray(rss[0], dtype=float), np.asarray(rss[1], dtype=float)
    keep = np.isfinite(ts) & np.isfinite(mb)
    ts, mb = ts[keep], mb[keep]
    if len(ts) < 3 or float(np.ptp(ts)) <= 0:
        return {"rss_growth_mb_per_h": None, "rss_growth_r2": None}
    slope, intercept = np.polyfit(ts - ts[0], mb, 1)
    fitted = slope * (ts - ts[0]) + intercept
    ss_tot = float(((mb - mb.mean()) ** 2).sum())
    r2 = 1.0 - float(((mb - fitted) ** 2).sum()) / ss_tot if ss_tot > 0 else 0.0
    return {
        "rss_start_mb": round(float(mb[0]), 3),
        "rss_end_mb": round(float(mb[-1]), 3),
        "rss_growth_mb_per_h": round(float(slope) * 3600.0, 3),
        "rss_growth_r2": round(r2, 4),
    }
