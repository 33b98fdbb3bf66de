"""Limits of request fields, in one place: the route handlers enforce them and the OpenAPI
document (``reference_runtime.openapi``) publishes them, so the two cannot drift apart."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Length:
    """Inclusive bounds of a string's length (or of an integer's value)."""

    min: int
    max: int


PROJECT_NAME = Length(3, 100)
#: Names that address something (agents by name or role in workflow steps and handoffs) and
#: workflow names: non-empty.
NAME = Length(1, 200)
#: A handoff's ``backup`` agent ("" = none).
BACKUP = Length(0, NAME.max)
DOMAIN = Length(0, 1000)
COMMAND = Length(1, 10_000)
#: Free text without a tighter limit (descriptions, reasons, instructions).
TEXT = Length(0, 10_000)
TRIGGER = Length(0, 1000)
ITEM_ID = Length(1, 500)
URGENCY = Length(0, 100)
#: Arrays of strings (capabilities, commands, requiredFields).
LIST_MAX_ITEMS = 200
#: Seconds a command may take (``timeout`` of execute).
TIMEOUT_S = Length(1, 3600)
DEFAULT_TIMEOUT_S = 30
WORKFLOW_STEPS = Length(1, 100)
#: ``limit`` / ``offset`` of the project list.
PAGE_LIMIT = Length(1, 100)
DEFAULT_PAGE_LIMIT = 20
PAGE_OFFSET = Length(0, 10_000_000)
#: Path ids longer than this cannot exist (404).
MAX_ID_LEN = 128
