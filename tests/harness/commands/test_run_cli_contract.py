"""`harness run` against a reference runtime started elsewhere (as `make serve` does): the key
passed by `--api-key` or `$HARNESS_API_KEY` (never written to disk), and `--json` for CI scripts."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.harness.conftest import ROOT, harness

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    """(url, key) of `reference-runtime serve --port 0` with a key it generated itself."""
    state = tmp_path_factory.mktemp("state")
    proc = subprocess.Popen(
        [sys.executable, "-m", "reference_runtime.cli", "serve", "--port", "0", "--state-dir", str(state)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        while not (state / "port").is_file() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert (state / "port").is_file(), "the runtime did not start"
        key = (state / "api_key").read_text().strip()
        yield f"http://127.0.0.1:{(state / 'port').read_text().strip()}", key
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=20)
        assert "HARNESS_API_KEY" in out  # serve tells how to pass its key to the harness


def _run(
    url: str, reports: Path, *extra: str, env_key: str | None = None
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "HARNESS_API_KEY"}
    if env_key is not None:
        env["HARNESS_API_KEY"] = env_key
    return harness(
        "run", "scenarios/smoke.yaml", "--target", url, "--duration", "2s", "--reports-dir", str(reports),
        *extra, env=env,
    )  # fmt: skip


def files_holding(root: Path, secret: str) -> list[str]:
    return [str(p) for p in root.rglob("*") if p.is_file() and secret.encode() in p.read_bytes()]


def test_without_a_key_the_setup_is_refused(served: tuple[str, str], tmp_path: Path) -> None:
    url, _ = served
    out = _run(url, tmp_path / "reports", "--json")
    assert out.returncode == 3 and "401" in out.stderr
    assert "--api-key KEY, $HARNESS_API_KEY, or target.api_key" in out.stderr  # says how to give it
    assert json.loads(out.stdout) == {
        "run_dir": None, "run_dirs": [], "status": None, "verdict": "not evaluated", "exit_code": 3,
    }  # fmt: skip


def test_the_environment_key_works_and_json_names_the_run(served: tuple[str, str], tmp_path: Path) -> None:
    url, key = served
    reports = tmp_path / "reports"
    out = _run(url, reports, "--json", "--gate", env_key=key)
    result = json.loads(out.stdout)  # stdout is the JSON object alone
    assert out.returncode == result["exit_code"] in (0, 1), out.stderr
    assert result["status"] == "complete" and result["verdict"] in ("pass", "warn", "fail")
    run_dir = Path(result["run_dir"])
    assert run_dir.parent == reports / "runs" and (run_dir / "verdict.json").is_file()
    assert result["run_dirs"] == [str(run_dir)]
    assert files_holding(reports, key) == []


def test_the_option_beats_the_environment_and_is_redacted(served: tuple[str, str], tmp_path: Path) -> None:
    url, key = served
    reports = tmp_path / "reports"
    out = _run(url, reports, "--api-key", key, "--quiet", env_key="wrong-key")
    assert out.returncode == 0, out.stdout + out.stderr
    manifest = json.loads((reports / "latest" / "manifest.json").read_text())
    assert manifest["cli"][manifest["cli"].index("--api-key") + 1] == "(redacted)"
    assert files_holding(reports, key) == []
    out = _run(url, reports, "--quiet", env_key="wrong-key")
    assert out.returncode == 3 and "401" in out.stdout + out.stderr  # the wrong key was really sent
