"""Collapsed stacks (py-spy ``--format raw``): hotspot tables, speedscope JSON, flamegraph SVG, diffs.

A collapsed line is ``frame;frame;...;leaf COUNT`` with frames like ``handle (app/routes.py:42)``;
py-spy may prefix process/thread frames, which are kept in the flamegraph but are not functions.
"""

from __future__ import annotations

import functools
import html
import importlib.util
import json
import re
import sys
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

SCHEMA_VERSION = 1
_FRAME = re.compile(r"^(?P<func>.*?) \((?P<file>[^()]*?)(?::(?P<line>\d+))?\)$")

Stack = tuple[tuple[str, ...], int]


def parse_collapsed(text: str) -> list[Stack]:
    stacks: list[Stack] = []
    for line in text.splitlines():
        frames, _, count = line.rstrip().rpartition(" ")
        if not frames or not count.isdigit():
            continue
        stacks.append((tuple(frames.split(";")), int(count)))
    return stacks


@dataclass(frozen=True)
class Frame:
    function: str
    file: str
    line: int | None

    @property
    def key(self) -> str:
        """Function identity across lines: ``function (file)``."""
        return f"{self.function} ({self.file})"


def parse_frame(text: str) -> Frame | None:
    match = _FRAME.match(text.strip())
    if match is None or match.group("func").startswith(("process ", "thread ")):
        return None
    line = match.group("line")
    return Frame(match.group("func"), match.group("file"), int(line) if line else None)


# ---------------------------------------------------------------- whose code a frame is


@functools.cache
def _third_party_or_stdlib(top: str) -> bool:
    """A top-level module of the standard library or installed in site-packages (not editable)."""
    if top in sys.stdlib_module_names or not top.isidentifier():
        return True
    try:
        spec = importlib.util.find_spec(top)
    except (ImportError, ValueError):
        return False
    origin = (spec.origin or "") if spec is not None else ""
    locations = list(spec.submodule_search_locations or []) if spec is not None else []
    return any(part in p for p in [origin, *locations] for part in ("site-packages", "dist-packages"))


def own_code(prefixes: tuple[str, ...] | None) -> Callable[[str], bool]:
    """Is a frame's file the target's own code?

    With ``prefixes`` (``reference_runtime/`` for the managed runtime, a service's working folder):
    files under one of them. Without: files that are neither the standard library nor installed in
    site-packages (py-spy names files relative to ``sys.path``, so ``asyncio/runners.py`` or
    ``uvicorn/server.py``; an editable install counts as own code).
    """
    if prefixes:
        return lambda file: file.startswith(prefixes)

    def guess(file: str) -> bool:
        if file.startswith("<") or not file:
            return False
        if file.startswith("/"):
            return not any(p in file for p in ("site-packages", "dist-packages", "/lib/python"))
        top = file.split("/", 1)[0].removesuffix(".py")
        return not _third_party_or_stdlib(top)

    return guess


#: Event loops and worker pools: own code above them only started them (``_serve_sockets`` runs
#: the loop); a sample in them with no own frame below is the loop waiting, not the target working.
_DISPATCH = ("asyncio/", "uvloop/", "threading.py", "concurrent/futures/", "selectors.py", "gevent/")


def _after_dispatch(parsed: list[Frame]) -> int:
    """Index just after the last event-loop or worker-pool frame of a stack (0 when none)."""
    for i in range(len(parsed) - 1, -1, -1):
        file = parsed[i].file
        if any(file.startswith(d) or f"/{d}" in file for d in _DISPATCH):
            return i + 1
    return 0


class _Counts:
    """Per-function sample counts of one profile: self, total, own (deepest own-code frame)."""

    def __init__(self) -> None:
        self.self_c: Counter[str] = Counter()
        self.total_c: Counter[str] = Counter()
        self.own_c: Counter[str] = Counter()
        self.lines: dict[str, Counter[int]] = {}
        self.own_lines: dict[str, Counter[int]] = {}
        self.info: dict[str, Frame] = {}
        self.total = 0
        self.in_own = 0

    def add(self, parsed: list[Frame], count: int, is_own: Callable[[str], bool]) -> None:
        self.self_c[parsed[-1].key] += count
        for frame in parsed:
            self.info.setdefault(frame.key, frame)
            if frame.line is not None:
                self.lines.setdefault(frame.key, Counter())[frame.line] += count
        for key in {f.key for f in parsed}:
            self.total_c[key] += count
        start = _after_dispatch(parsed)
        deepest = next((f for f in reversed(parsed[start:]) if is_own(f.file)), None)
        if deepest is not None:
            self.in_own += count
            self.own_c[deepest.key] += count
            if deepest.line is not None:
                self.own_lines.setdefault(deepest.key, Counter())[deepest.line] += count

    def row(self, key: str, *, own: bool = False) -> dict[str, Any]:
        frame, total = self.info[key], self.total
        common = (self.own_lines if own else self.lines).get(key, Counter()).most_common(1)
        line = common[0][0] if common else frame.line
        out = {
            "function": frame.function,
            "file": frame.file,
            "line": line,
            "location": f"{frame.file}:{line}" if line is not None else frame.file,
            "self_samples": self.self_c[key],
            "total_samples": self.total_c[key],
            "self_percent": round(100.0 * self.self_c[key] / total, 3) if total else 0.0,
            "total_percent": round(100.0 * self.total_c[key] / total, 3) if total else 0.0,
        }
        if own:
            out["own_samples"] = self.own_c[key]
            out["own_percent"] = round(100.0 * self.own_c[key] / total, 3) if total else 0.0
        return out


def hotspot_table(
    stacks: list[Stack],
    *,
    top: int = 40,
    source: str = "py-spy",
    own_prefixes: tuple[str, ...] | None = None,
) -> dict[str, Any]:
    """Top functions by self and by total share of samples (percent of all samples).

    ``own_code`` leads with the target's own code: each sample is charged to the deepest frame of
    the target's own code on its stack (the application line that led to the time spent, whatever
    library frame it was in), with that frame's file:line. Only frames the event loop or a worker
    thread dispatched count: the code that started the loop is not charged for the loop's waits.
    """
    is_own = own_code(own_prefixes)
    counts = _Counts()
    for frames, count in stacks:
        parsed = [f for f in (parse_frame(x) for x in frames) if f is not None]
        counts.total += count
        if parsed:
            counts.add(parsed, count, is_own)
    total = counts.total
    return {
        "schema_version": SCHEMA_VERSION,
        "kind": "motherbox-perf/hotspots",
        "source": source,
        "total_samples": total,
        "hotspots": [counts.row(k) for k, c in counts.self_c.most_common(top) if c > 0],
        "by_total": [counts.row(k) for k, _ in counts.total_c.most_common(top)],
        "own_code": {
            "rule": f"files under {', '.join(own_prefixes)}" if own_prefixes else _GUESS_RULE,
            "samples": counts.in_own,
            "percent": round(100.0 * counts.in_own / total, 3) if total else 0.0,
            "hotspots": [counts.row(k, own=True) for k, c in counts.own_c.most_common(top) if c > 0],
        },
    }


_GUESS_RULE = "files outside the standard library and site-packages"


def to_speedscope(stacks: list[Stack], name: str) -> dict[str, Any]:
    frames: list[dict[str, Any]] = []
    index: dict[str, int] = {}
    samples, weights = [], []
    for stack, count in stacks:
        ids = []
        for text in stack:
            if text not in index:
                index[text] = len(frames)
                parsed = parse_frame(text)
                entry: dict[str, Any] = {"name": parsed.function if parsed else text}
                if parsed is not None:
                    entry["file"] = parsed.file
                    if parsed.line is not None:
                        entry["line"] = parsed.line
                frames.append(entry)
            ids.append(index[text])
        samples.append(ids)
        weights.append(count)
    total = sum(weights)
    return {
        "$schema": "https://www.speedscope.app/file-format-schema.json",
        "shared": {"frames": frames},
        "profiles": [
            {
                "type": "sampled",
                "name": name,
                "unit": "none",
                "startValue": 0,
                "endValue": total,
                "samples": samples,
                "weights": weights,
            }
        ],
        "name": name,
        "activeProfileIndex": 0,
        "exporter": "motherbox-perf",
    }


# ---------------------------------------------------------------- flamegraph SVG


class _Node:
    __slots__ = ("children", "count", "name")

    def __init__(self, name: str) -> None:
        self.name = name
        self.count = 0
        self.children: dict[str, _Node] = {}


def _tree(stacks: list[Stack]) -> _Node:
    root = _Node("all")
    for frames, count in stacks:
        node = root
        node.count += count
        for text in frames:
            node = node.children.setdefault(text, _Node(text))
            node.count += count
    return root


def _color(name: str) -> str:
    h = sum(ord(c) for c in name) % 60
    return f"hsl({10 + h}, 80%, {55 + h % 15}%)"


def _depth(node: _Node, total: int, width: int, min_px: float) -> int:
    visible = [c for c in node.children.values() if width * c.count / total >= min_px]
    return 1 + max((_depth(c, total, width, min_px) for c in visible), default=0)


def _short(name: str) -> str:
    """The box label: the function with its file:line, without py-spy's process/thread prefix."""
    frame = parse_frame(name)
    if frame is None:
        return name
    where = f"{frame.file}:{frame.line}" if frame.line is not None else frame.file
    return f"{frame.function} ({where})"


#: Click a box to zoom into it, "Reset zoom" (or Escape) to go back, "Search" (or Ctrl+F) to
#: highlight every frame matching a regular expression with the share of samples they cover.
_SCRIPT = """
var W=@WIDTH@,boxes=[].slice.call(document.querySelectorAll('g.f'));
function A(b,k){return +b.getAttribute('data-'+k);}
function fit(g,x,w){var r=g.querySelector('rect'),t=g.querySelector('text'),n=g.getAttribute('data-n');
 r.setAttribute('x',x.toFixed(1));r.setAttribute('width',Math.max(0,w).toFixed(1));
 g.style.display=w<0.5?'none':'';t.setAttribute('x',(x+3).toFixed(1));var c=Math.floor((w-6)/6.6);
 t.textContent=c<3?'':(n.length<=c?n:n.slice(0,Math.max(1,c-1))+'\u2026');}
function zoom(g){var x0=A(g,'x'),w0=A(g,'w'),d0=A(g,'d'),k=W/w0;
 boxes.forEach(function(b){var x=A(b,'x'),w=A(b,'w'),d=A(b,'d');
  if(d<d0){var inside=x<=x0+1e-6&&x+w>=x0+w0-1e-6;fit(b,0,inside?W:0);b.style.opacity=inside?'0.6':'';}
  else if(x>=x0-1e-6&&x+w<=x0+w0+1e-6){fit(b,(x-x0)*k,w*k);b.style.opacity='';}else{fit(b,0,0);}});
 document.getElementById('unzoom').style.display='';}
function reset(){boxes.forEach(function(b){fit(b,A(b,'x'),A(b,'w'));b.style.opacity='';});
 document.getElementById('unzoom').style.display='none';}
function search(){var term=prompt('Search frames (regular expression)','');if(term===null)return;var re;
 try{re=new RegExp(term);}catch(e){alert(e);return;}var spans=[];
 boxes.forEach(function(b){var r=b.querySelector('rect'),n=b.querySelector('title').textContent,
  hit=term!==''&&re.test(n);
  r.setAttribute('fill',hit?'rgb(230,0,230)':b.getAttribute('data-c'));
  if(hit)spans.push([A(b,'x'),A(b,'x')+A(b,'w')]);});
 spans.sort(function(a,b){return a[0]-b[0];});var cov=0,end=-1;
 spans.forEach(function(s){if(s[1]>end){cov+=s[1]-Math.max(s[0],end);end=s[1];}});
 var m=document.getElementById('matched');
 m.textContent=term===''?'':'Matched "'+term+'": '+(100*cov/W).toFixed(1)+'% of samples';}
boxes.forEach(function(b){b.addEventListener('click',function(){zoom(b);});});
document.getElementById('unzoom').addEventListener('click',reset);
document.getElementById('search').addEventListener('click',search);
document.addEventListener('keydown',function(e){if((e.ctrlKey||e.metaKey)&&e.key==='f'){e.preventDefault();search();}
 if(e.key==='Escape')reset();});
"""

_STYLE = (
    "g.f{cursor:pointer}g.f:hover rect{stroke:#222;stroke-width:0.6}"
    "text{pointer-events:none}.btn{cursor:pointer;fill:#1f5fa8}"
)


def to_svg(stacks: list[Stack], title: str, width: int = 1200, row: int = 17, min_px: float = 0.5) -> str:
    """A self-contained interactive flamegraph (root at the bottom), opened straight in a browser.

    Click a box to zoom into it, "Reset zoom" or Escape to come back, "Search" or Ctrl+F to
    highlight frames matching a regular expression; hover a box for its full name and share. The
    script is inline (no network); labels are the function with its file:line, shortened to the
    box width and re-fitted on zoom.
    """
    root = _tree(stacks)
    total = max(1, root.count)
    top = 40
    height = _depth(root, total, width, min_px) * row + top
    parts: list[str] = []

    def walk(node: _Node, x: float, depth: int) -> None:
        w = width * node.count / total
        if w < min_px:
            return
        y = height - (depth + 1) * row
        name = "all" if depth == 0 else _short(node.name)
        color = "rgb(200,200,200)" if depth == 0 else _color(node.name)
        chars = int((w - 6) / 6.6)
        label = name if len(name) <= chars else (name[: chars - 1] + "\u2026" if chars >= 3 else "")
        parts.append(
            f'<g class="f" data-x="{x:.3f}" data-w="{w:.3f}" data-d="{depth}" data-c="{color}" '
            f'data-n="{html.escape(name)}">'
            f"<title>{html.escape(node.name)} - {node.count} samples "
            f"({100.0 * node.count / total:.2f}%)</title>"
            f'<rect x="{x:.1f}" y="{y}" width="{w:.1f}" height="{row - 1}" fill="{color}" rx="1"/>'
            f'<text x="{x + 3:.1f}" y="{y + 12}">{html.escape(label)}</text></g>'
        )
        child_x = x
        for child in sorted(node.children.values(), key=lambda c: c.name):
            walk(child, child_x, depth + 1)
            child_x += width * child.count / total

    walk(root, 0.0, 0)
    header = (
        f'<text x="4" y="16" font-size="14">{html.escape(title)} ({root.count} samples)</text>\n'
        f'<text id="unzoom" class="btn" x="4" y="33" style="display:none">Reset zoom</text>\n'
        f'<text id="search" class="btn" x="{width - 60}" y="16">Search</text>\n'
        f'<text id="matched" x="{width - 360}" y="33"></text>\n'
    )
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" font-family="monospace" font-size="11">\n'
        f"<style>{_STYLE}</style>\n"
        + header
        + "\n".join(parts)
        + f"\n<script><![CDATA[{_SCRIPT.replace('@WIDTH@', str(width))}]]></script>\n</svg>\n"
    )


# ---------------------------------------------------------------- differential profile


def diff_hotspots(
    a: dict[str, Any], b: dict[str, Any], *, top: int = 20, key: str = "self_percent"
) -> list[dict[str, Any]]:
    """Functions whose share grew or shrank most from table ``a`` to table ``b`` (percent points)."""

    def shares(table: dict[str, Any]) -> dict[str, tuple[float, str]]:
        rows = table.get("hotspots", []) + table.get("by_total", [])
        out: dict[str, tuple[float, str]] = {}
        for r in rows:
            name = f"{r['function']} ({r['file']})"
            if name not in out or key in r:
                out[name] = (float(r.get(key, 0.0)), str(r.get("location", r["file"])))
        return out

    sa, sb = shares(a), shares(b)
    rows: list[dict[str, Any]] = []
    for name in set(sa) | set(sb):
        before, loc_a = sa.get(name, (0.0, ""))
        after, loc_b = sb.get(name, (0.0, ""))
        rows.append(
            {
                "function": name,
                "location": loc_b or loc_a,
                "before_percent": round(before, 3),
                "after_percent": round(after, 3),
                "delta_percent": round(after - before, 3),
            }
        )
    rows.sort(key=lambda r: (-abs(float(r["delta_percent"])), str(r["function"])))
    return rows[:top]


def dumps(data: Any) -> str:
    return json.dumps(data, indent=2) + "\n"
