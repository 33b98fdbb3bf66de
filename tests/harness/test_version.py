"""`harness --version` and `reference-runtime --version`: the installed package's version."""

from __future__ import annotations

import importlib.metadata
import subprocess
import sys

import pytest

from tests.harness.conftest import ROOT


@pytest.mark.parametrize(
    ("module", "prog"), [("harness", "harness"), ("reference_runtime.cli", "reference-runtime")]
)
def test_version(module: str, prog: str) -> None:
    out = subprocess.run(
        [sys.executable, "-m", module, "--version"], cwd=ROOT, capture_output=True, text=True, timeout=30
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == f"{prog} {importlib.metadata.version('motherbox-perf')}"
