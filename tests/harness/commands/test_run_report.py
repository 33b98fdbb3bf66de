"""`harness run --gate` ends with the report, the index and the verdict (what `make demo` shows)."""

import subprocess
import sys

import pytest

from harness.verdict.model import load_verdict
from tests.harness.conftest import ROOT, harness, write

pytestmark = pytest.mark.slow

SCENARIO = """\
name: gated
load:
  rate: 20
  duration: 3s
  drain: 2s
mix:
  - {name: get_x, path: /x}
gates:
  - "p95(get_x) < 1ms"
"""


def test_run_with_gate_writes_report_index_and_prints_the_verdict(tmp_path, fast_server):
    reports = tmp_path / "reports"
    scenario = write(tmp_path, "gated.yaml", SCENARIO)
    # Not through conftest.harness(), which adds --no-report to keep the other e2e runs short.
    argv = ["run", str(scenario), "--target", fast_server, "--reports-dir", str(reports), "--gate"]
    out = subprocess.run(
        [sys.executable, "-m", "harness", *argv],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert out.returncode == 1, out.stdout + out.stderr  # the server's 2 ms delay breaks the 1 ms gate
    run_dir = (reports / "latest").resolve()
    verdict = load_verdict(run_dir)
    assert verdict is not None and verdict.status == "fail"
    assert (run_dir / "report.html").is_file()
    assert run_dir.name in (reports / "index.html").read_text()
    assert "report.html" in out.stdout
    assert "verdict: FAIL" in out.stdout


def test_no_report_skips_the_html(tmp_path, fast_server):
    reports = tmp_path / "reports"
    scenario = write(tmp_path, "gated.yaml", SCENARIO.replace('  - "p95(get_x) < 1ms"\n', "  []\n"))
    out = harness("run", str(scenario), "--target", fast_server, "--reports-dir", str(reports), "--no-report")
    assert out.returncode == 0, out.stdout + out.stderr
    assert not ((reports / "latest").resolve() / "report.html").exists()
