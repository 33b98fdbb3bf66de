"""Differences between two OpenAPI documents, and the documented ones in docs/runtime.md.

A difference is ``(kind, where)``: ``kind`` is ``added`` (only in the runtime's document),
``removed`` (only upstream) or ``changed`` (both, different values); ``where`` joins the keys
with dots, e.g. ``paths./projects.get.responses.400``. Mappings are compared key by key; lists
and scalars as a whole. docs/runtime.md's section "Differences from the upstream spec" holds a
table: where (one or more backticked patterns, ``*`` matching anything), kind, why.
"""

from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SECTION = "## Differences from the upstream spec"
KINDS = ("added", "removed", "changed")


def diff(ours: Any, upstream: Any, where: str = "") -> list[tuple[str, str]]:
    if isinstance(ours, dict) and isinstance(upstream, dict):
        found: list[tuple[str, str]] = []
        for key in sorted(set(ours) | set(upstream), key=str):
            at = f"{where}.{key}" if where else str(key)
            if key not in upstream:
                found.append(("added", at))
            elif key not in ours:
                found.append(("removed", at))
            else:
                found += diff(ours[key], upstream[key], at)
        return found
    return [] if ours == upstream else [("changed", where)]


@dataclass(frozen=True)
class Documented:
    patterns: tuple[str, ...]
    kind: str
    why: str

    def covers(self, kind: str, where: str) -> bool:
        return kind == self.kind and any(fnmatch.fnmatchcase(where, p) for p in self.patterns)


def documented(doc: Path) -> list[Documented]:
    """The rows of the differences table (a malformed row raises ``ValueError``)."""
    text = doc.read_text(encoding="utf-8")
    if SECTION not in text:
        raise ValueError(f"{doc}: no section {SECTION!r}")
    section = text.split(SECTION, 1)[1].split("\n## ", 1)[0]
    rows = []
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")] if line.startswith("|") else []
        if len(cells) < 3 or cells[1] not in KINDS:
            continue
        patterns = tuple(re.findall(r"`([^`]+)`", cells[0]))
        if not patterns or not cells[2]:
            raise ValueError(f"{doc}: difference row without a pattern or a reason: {line}")
        rows.append(Documented(patterns, cells[1], cells[2]))
    return rows
