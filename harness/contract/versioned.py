"""Reading a versioned JSON artifact: one rule for every file a stage writes and another reads.

Each artifact (manifest.json, summary.json, compare.json, history.json, nightly.json, roi.json)
carries ``schema_version`` and, when it stands alone, a ``kind``. Its loader accepts every version
in its ``supported`` tuple (old files keep loading, as pyperf does) and reports any problem as one
line naming the file and, for a field, its dotted path — raised as the stage's own error type.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

M = TypeVar("M", bound=BaseModel)


def read_versioned_json(
    path: Path, *, supported: tuple[int, ...], error: type[Exception], kind: str | None = None
) -> dict[str, Any]:
    """The JSON object at ``path`` after checking its ``kind`` (when given) and ``schema_version``."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise error(f"{path}: not found") from None
    except (OSError, ValueError) as exc:
        raise error(f"{path}: unreadable JSON: {exc}") from None
    if not isinstance(data, dict):
        raise error(f"{path}: expected a JSON object")
    if kind is not None and data.get("kind") != kind:
        raise error(f"{path}: not a {kind} file (kind {data.get('kind')!r})")
    version = data.get("schema_version")
    if version not in supported:
        listed = ", ".join(map(str, supported))
        raise error(f"{path}: unsupported schema_version {version!r} (supported: {listed})")
    return data


def validate_as(model: type[M], data: dict[str, Any], path: Path, error: type[Exception]) -> M:
    """``model`` from ``data``; a validation problem is one line: file, field path, message."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(map(str, first["loc"])) or "(top level)"
        raise error(f"{path}: {where}: {first['msg']}") from None
