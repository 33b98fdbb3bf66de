"""Shared HTML plumbing for the regression and ROI pages: Jinja2 (autoescape) + inline charts.

Templates only render values prepared by the analysis modules; the filters here format numbers.
Charts are matplotlib figures embedded as ``data:`` PNG URIs, so a page is one file with no network.
"""

from __future__ import annotations

import base64
import io
import math
from typing import Any

import jinja2


def _env() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("harness.report", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["num"] = fmt_number
    env.filters["pct"] = fmt_percent
    return env


def fmt_number(value: Any, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "–"
    if isinstance(value, int):
        return f"{value:,}"
    return f"{float(value):,.{digits}g}" if abs(float(value)) < 1000 else f"{float(value):,.0f}"


def fmt_percent(value: Any, digits: int = 1, signed: bool = True) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "–"
    return f"{float(value) * 100:{'+' if signed else ''}.{digits}f}%"


def render(template: str, **context: Any) -> str:
    return _env().get_template(template).render(**context)


def figure_data_uri(fig: Any) -> str:
    """A matplotlib figure as a ``data:image/png;base64,...`` URI (the figure is closed)."""
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=90, bbox_inches="tight")
    plt.close(fig)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def pyplot() -> Any:
    """matplotlib.pyplot on the non-interactive Agg backend (safe in CI and threads)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt
