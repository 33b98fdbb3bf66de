"""The one Jinja2 environment every HTML page renders through.

Templates live in ``report/templates``; autoescape is on for every template (run folders carry
untrusted strings: scenario names, error messages, operation names), and an undefined name is an
error rather than an empty string. Filters only format values the page builders prepared:
``num`` and ``pct`` for numbers, ``where`` for a rule's location. The global ``css`` is the one
stylesheet, inlined so a page is a single file with no network.
"""

from __future__ import annotations

import functools
import math
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from markupsafe import Markup

from harness.verdict.model import RuleResult
from harness.verdict.outputs import where_text

TEMPLATES = Path(__file__).with_name("templates")
CSS_FILE = TEMPLATES / "report.css"
MISSING = "–"


def fmt_number(value: Any, digits: int = 3) -> str:
    """``digits`` significant digits below 1000, whole numbers with separators above."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return MISSING
    if isinstance(value, int):
        return f"{value:,}"
    return f"{float(value):,.{digits}g}" if abs(float(value)) < 1000 else f"{float(value):,.0f}"


def fmt_percent(value: Any, digits: int = 1, signed: bool = True) -> str:
    """A fraction as a percentage (0.05 -> ``+5.0%``)."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return MISSING
    return f"{float(value) * 100:{'+' if signed else ''}.{digits}f}%"


def fmt_where(result: Any) -> str:
    return where_text(result) if isinstance(result, RuleResult) else ""


@functools.cache
def environment() -> Environment:
    """Built once per process: loading templates and the stylesheet is not free."""
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(default=True, default_for_string=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["num"] = fmt_number
    env.filters["pct"] = fmt_percent
    env.filters["where"] = fmt_where
    env.globals["css"] = Markup(CSS_FILE.read_text(encoding="utf-8"))
    return env


def render(template: str, **context: Any) -> str:
    """Render ``template`` (a file name under ``report/templates``) with ``context``."""
    return environment().get_template(template).render(**context)
