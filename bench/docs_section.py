"""docs/benchmarks.md is shared by several benchmarks: each one rewrites only its own section."""

from __future__ import annotations

from pathlib import Path

from harness.contract.atomic import write_text_atomic

DOCS = Path(__file__).resolve().parents[1] / "docs" / "benchmarks.md"


def replace_section(section: str, path: Path = DOCS) -> None:
    """Put ``section`` (its first line is its ``## `` heading) in place of the section with that
    heading, up to the next ``## ``; append it when absent. Every other section stays as it is."""
    heading = section.splitlines()[0]
    doc = path.read_text(encoding="utf-8") if path.exists() else "# Benchmarks\n"
    body = section.rstrip("\n") + "\n"
    start = doc.find(heading + "\n")
    if start < 0:
        new = doc.rstrip("\n") + "\n\n" + body
    else:
        end = doc.find("\n## ", start + len(heading))
        new = doc[:start] + body + ("" if end < 0 else doc[end:])
    write_text_atomic(path, new)
