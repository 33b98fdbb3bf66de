"""The cost model: a YAML file of documented assumptions (see default_cost_model.yaml)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError, model_validator

DEFAULT_COST_MODEL = Path(__file__).with_name("default_cost_model.yaml")


class CostModelError(ValueError):
    """The cost model file is missing, not YAML, or lacks a figure."""


class Figure(BaseModel):
    """One assumption: a single ``value`` or a ``low``/``high`` range, with its unit and source."""

    model_config = ConfigDict(extra="allow", frozen=True)
    value: float | None = None
    low: float | None = None
    high: float | None = None
    unit: str = ""
    source: str = ""

    @model_validator(mode="after")
    def _has_a_number(self) -> Figure:
        if self.value is None and (self.low is None or self.high is None):
            raise ValueError("needs 'value' or both 'low' and 'high'")
        return self

    @property
    def lo(self) -> float:
        return self.low if self.low is not None else float(self.value or 0.0)

    @property
    def hi(self) -> float:
        return self.high if self.high is not None else float(self.value or 0.0)

    @property
    def mid(self) -> float:
        return float(self.value) if self.value is not None else (self.lo + self.hi) / 2.0

    def source_row(self, name: str) -> dict[str, str]:
        """One row of the report's assumptions table."""
        shown = f"{self.value:g}" if self.value is not None else f"{self.lo:g}-{self.hi:g}"
        return {"name": name, "value": shown, "unit": self.unit, "source": self.source}


class CostModel(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True)
    schema_version: int = 1
    currency: str = "USD"
    infrastructure: dict[str, Figure]
    traffic: dict[str, Figure]
    people: dict[str, Figure]
    investment: dict[str, Figure]
    support: dict[str, Figure]
    revenue: dict[str, Any]

    def figure(self, section: str, name: str) -> Figure:
        group = getattr(self, section)
        item = group.get(name) if isinstance(group, dict) else None
        if isinstance(item, dict):
            item = Figure.model_validate(item)
        if not isinstance(item, Figure):
            raise CostModelError(f"cost model: missing figure {section}.{name}")
        return item

    @property
    def revenue_enabled(self) -> bool:
        return bool(self.revenue.get("enabled", False))

    def sources(self) -> list[dict[str, str]]:
        """Every figure with its value(s), unit and source, for the report's assumptions table."""
        rows = []
        for section in ("infrastructure", "traffic", "people", "investment", "support", "revenue"):
            group = getattr(self, section)
            for name, item in group.items():
                if isinstance(item, dict):
                    item = Figure.model_validate(item)
                if isinstance(item, Figure):
                    rows.append(item.source_row(f"{section}.{name}"))
        return rows


REQUIRED: tuple[tuple[str, str], ...] = (
    ("infrastructure", "vcpu_hour"),
    ("infrastructure", "gb_hour"),
    ("infrastructure", "headroom"),
    ("infrastructure", "replicas"),
    ("infrastructure", "hours_per_month"),
    ("traffic", "requests_per_month"),
    ("people", "engineer_hourly_rate"),
    ("people", "team_members_trained"),
    ("investment", "initial_hours"),
    ("investment", "monitoring_hours_per_week"),
    ("investment", "quarterly_review_hours"),
    ("investment", "tool_cost_per_month"),
    ("investment", "training_hours_per_member"),
    ("support", "cost_per_failed_request"),
)


def load_cost_model(path: Path | None = None) -> CostModel:
    """Load and check a cost model; every required figure must be present."""
    source = path or DEFAULT_COST_MODEL
    try:
        data = yaml.safe_load(source.read_text(encoding="utf-8"))
    except OSError as exc:
        raise CostModelError(f"{source}: {exc.strerror or exc}") from None
    except yaml.YAMLError as exc:
        raise CostModelError(f"{source}: not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise CostModelError(f"{source}: expected a mapping at the top level")
    try:
        model = CostModel.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        raise CostModelError(f"{source}: {'.'.join(map(str, first['loc']))}: {first['msg']}") from None
    for section, name in REQUIRED:
        model.figure(section, name)
    if model.revenue_enabled:
        model.figure("revenue", "monthly_revenue")
        model.figure("revenue", "loss_per_100ms")
    return model
