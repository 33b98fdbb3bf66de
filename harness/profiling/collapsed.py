"""Collapsed stacks (py-spy ``--format raw``): hotspot tables, speedscope JSON, flamegraph SVG, diffs.

A collapsed line is ``frame;frame;...;leaf COUNT`` with frames like ``handle (app/routes.py:42)``;
py-spy may prefix process/thread frames, which are kept in the flamegraph but are not functions.
"""

from __future__ import annotations

import html
import json
import re
from collections import Counter
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


def hotspot_table(stacks: list[Stack], *, top: int = 40, source: str = "py-spy") -> dict[str, Any]:
    """Top functions by self and by total share of samples (shares are fractions 0..1)."""
    total = sum(count for _, count in stacks)
    self_c: Counter[str] = Counter()
    total_c: Counter[str] = Counter()
    lines: dict[str, Counter[int]] = {}
    info: dict[str, Frame] = {}
    for frames, count in stacks:
        parsed = [f for f in (parse_frame(x) for x in frames) if f is not None]
        if not parsed:
            continue
        leaf = parsed[-1]
        self_c[leaf.key] += count
        for frame in parsed:
            info.setdefault(frame.key, frame)
            if frame.line is not None:
                lines.setdefault(frame.key, Counter())[frame.line] += count
        for key in {f.key for f in parsed}:
            total_c[key] += count

    def row(key: str) -> dict[str, Any]:
        frame = info[key]
        common = lines.get(key, Counter()).most_common(1)
        line = common[0][0] if common else frame.line
        return {
            "function": frame.function,
            "file": frame.file,
            "line": line,
            "location": f"{frame.file}:{line}" if line is not None else frame.file,
            "self_samples": self_c[key],
            "total_samples": total_c[key],
            "self_percent": round(100.0 * self_c[key] / total, 3) if total else 0.0,
            "total_percent": round(100.0 * total_c[key] / total, 3) if total else 0.0,
        }

    by_self = [row(k) for k, c in self_c.most_common(top) if c > 0]
    by_total = [row(k) for k, _ in total_c.most_common(top)]
    return {
        "schema_version": SCHEMA_VERSION,
        "kind": "motherbox-perf/hotspots",
        "source": source,
        "total_samples": total,
        "hotspots": by_self,
        "by_total": by_total,
    }


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


def to_svg(stacks: list[Stack], title: str, width: int = 1200, row: int = 16, min_px: float = 0.5) -> str:
    """A self-contained flamegraph (root at the bottom); hover a box for its name and share."""
    root = _tree(stacks)
    total = max(1, root.count)
    height = _depth(root, total, width, min_px) * row + 24
    parts: list[str] = []

    def walk(node: _Node, x: float, depth: int) -> None:
        w = width * node.count / total
        if w < min_px:
            return
        y = height - (depth + 1) * row
        label = html.escape(node.name)
        text = ""
        chars = int(w / 7)
        if chars >= 4:
            short = node.name if len(node.name) <= chars else node.name[: chars - 2] + ".."
            text = f'<text x="{x + 2:.1f}" y="{y + 12}">{html.escape(short)}</text>'
        parts.append(
            f"<g><title>{label} - {node.count} samples ({100.0 * node.count / total:.2f}%)</title>"
            f'<rect x="{x:.1f}" y="{y}" width="{w:.1f}" height="{row - 1}" fill="{_color(node.name)}"/>'
            f"{text}</g>"
        )
        child_x = x
        for child in sorted(node.children.values(), key=lambda c: c.name):
            walk(child, child_x, depth + 1)
            child_x += width * child.count / total

    walk(root, 0.0, 0)
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'font-family="monospace" font-size="11">\n'
        f'<text x="4" y="14" font-size="13">{html.escape(title)} ({root.count} samples)</text>\n'
        + "\n".join(parts)
        + "\n</svg>\n"
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
