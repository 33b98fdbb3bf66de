"""The guide's claims: one file, checked on load, and the docs' tables kept equal to it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from harness.roi import switches
from harness.roi.claims import CLAIMS_FILE, ClaimsError, GuideClaims, load_claims
from harness.verdict.checklist import load_checklist

DOCS = Path(__file__).resolve().parents[3] / "docs" / "roi.md"


def doc_table(name: str) -> list[list[str]]:
    """The rows (cells stripped) of the table between ``<!-- claims:NAME -->`` markers."""
    text = DOCS.read_text(encoding="utf-8")
    block = re.search(rf"<!-- claims:{name} .*?-->\n(.*?)<!-- /claims:{name} -->", text, re.S)
    assert block, f"docs/roi.md has no claims:{name} table"
    rows = [[c.strip() for c in line.strip().strip("|").split("|")] for line in block.group(1).splitlines()]
    return rows[2:]  # without the header and the --- line


def test_claims_cover_every_switch() -> None:
    claims = load_claims()
    assert set(claims.switches) == set(switches.SWITCHES)
    assert claims.switches["precomputed_decisions"].claimed_change == -0.99
    assert claims.switches["parallel_creation"].shown == "3-4x faster"
    assert claims.switches["pooling"].shown == "-70%"
    assert claims.payback["payback_months"].lo == 3 and claims.payback["payback_months"].hi == 6


def test_docs_benefit_table_matches_the_claims_file() -> None:
    benefits = load_claims().benefits
    expected = [
        [claim.label, claim.claimed_text, claim.guide]
        for claim in (getattr(benefits, name) for name in type(benefits).model_fields)
    ]
    assert doc_table("benefits") == expected


def test_docs_switch_table_matches_the_claims_file() -> None:
    expected = []
    for name, claim in load_claims().switches.items():
        measured_as = f"{claim.metric}({claim.operation})"
        if claim.hit_rate_targets:
            measured_as += " + hit rates (all on)"
        expected.append([name, claim.claim, claim.shown, measured_as])
    assert doc_table("switches") == expected


def test_a_bad_claims_file_names_the_file_and_the_field(tmp_path: Path) -> None:
    data = yaml.safe_load(CLAIMS_FILE.read_text(encoding="utf-8"))
    del data["benefits"]["throughput"]["target"]
    path = tmp_path / "claims.yaml"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(ClaimsError, match=r"claims\.yaml: benefits\.throughput\.target"):
        load_claims(path)
    path.write_text("schema_version: 2\n")
    with pytest.raises(ClaimsError, match="schema_version"):
        load_claims(path)
    with pytest.raises(ClaimsError, match=r"nope\.yaml"):
        load_claims(tmp_path / "nope.yaml")


def test_the_shipped_file_is_the_default() -> None:
    assert load_claims() == GuideClaims.model_validate(
        yaml.safe_load(CLAIMS_FILE.read_text(encoding="utf-8"))
    )


def test_guide_checklist_holds_the_cache_layers_to_the_claimed_hit_rates() -> None:
    """The checklist's cache rules are gates on the same figures: they must say what claims.yaml says."""
    targets = load_claims().switches["caching"].hit_rate_targets
    rules = {c.id: c.rule for c in load_checklist().rules}
    for layer in ("l1", "l2", "l3"):
        rule = rules[f"cache_{layer}"]
        assert (rule.metric, rule.layer, rule.comparator) == ("cache_hit_rate", layer, ">=")
        assert rule.threshold == pytest.approx(targets[f"cache_hit_rate_{layer}"])
