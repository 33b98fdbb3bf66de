"""The guide's claims (claims.yaml): the one source ROI, the switch sweep and the docs read.

:func:`load_claims` checks the file against :class:`GuideClaims` and raises :class:`ClaimsError`
naming the file and the field; the shipped file is loaded once per process.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from harness.roi.model import Figure

CLAIMS_FILE = Path(__file__).with_name("claims.yaml")


class ClaimsError(ValueError):
    """The claims file is missing, not YAML, or does not match :class:`GuideClaims`."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class BenefitClaim(_Strict):
    """One of the guide's overall benefits: the label and text shown, the number it is held to."""

    label: str
    claimed_text: str
    target: float
    guide: str


class Benefits(_Strict):
    """The guide's quantifiable benefits; each is measured its own way (see roi.overall_benefits)."""

    response_time: BenefitClaim
    resource_usage: BenefitClaim
    throughput: BenefitClaim
    error_rate: BenefitClaim
    availability: BenefitClaim


class SwitchClaim(_Strict):
    """What the guide claims for one optimization switch and which measurement holds the claim."""

    claim: str
    guide: str
    metric: str = "p50"
    operation: str = "overall"
    claimed_change: float | None = None  # relative change of ``metric`` when the switch is turned on
    claimed_text: str | None = None  # shown instead of the percentage, e.g. "3-4x faster"
    hit_rate_targets: dict[str, float] = Field(default_factory=dict)

    @property
    def shown(self) -> str:
        if self.claimed_text:
            return self.claimed_text
        return "–" if self.claimed_change is None else f"{self.claimed_change * 100:+.0f}%"


class GuideClaims(_Strict):
    schema_version: Literal[1]
    benefits: Benefits
    payback: dict[str, Figure]
    switches: dict[str, SwitchClaim]


@functools.cache
def _shipped() -> GuideClaims:
    return _load(CLAIMS_FILE)


def load_claims(path: Path | None = None) -> GuideClaims:
    """The claims in ``path`` (default: the shipped claims.yaml, parsed once)."""
    return _shipped() if path is None else _load(path)


def _load(path: Path) -> GuideClaims:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ClaimsError(f"{path}: {exc.strerror or exc}") from None
    except yaml.YAMLError as exc:
        raise ClaimsError(f"{path}: not valid YAML: {exc}") from None
    try:
        return GuideClaims.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        raise ClaimsError(f"{path}: {'.'.join(map(str, first['loc']))}: {first['msg']}") from None
