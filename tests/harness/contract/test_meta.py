"""Machine and git metadata: one collector each, typed, recorded in every manifest."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from harness.contract import meta


def test_machine_info_is_complete_and_its_fingerprint_stable() -> None:
    first, second = meta.machine_info(), meta.machine_info()
    assert first.fingerprint == second.fingerprint
    assert first.fingerprint is not None and re.fullmatch(r"[0-9a-f]{16}", first.fingerprint)
    assert first.cpu_count and first.cpu_count >= 1 and first.memory_bytes and first.memory_bytes > 0
    assert first.hostname and first.platform and first.python


def test_fingerprint_ignores_memory_below_a_whole_gib_and_tracks_cpu_count() -> None:
    base = meta.machine_fingerprint("host", "x86_64", 4, 16 * 2**30)
    assert meta.machine_fingerprint("host", "x86_64", 4, 16 * 2**30 + 2**20) == base
    assert meta.machine_fingerprint("host", "x86_64", 8, 16 * 2**30) != base
    assert meta.machine_fingerprint("other", "x86_64", 4, 16 * 2**30) != base


def test_git_info_reads_the_checkout(tmp_path: Path) -> None:
    if subprocess.run(["git", "--version"], capture_output=True).returncode != 0:
        pytest.skip("git is not installed")
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    (tmp_path / "a.txt").write_text("one")
    git = ["git", "-C", str(tmp_path), "-c", "user.name=t", "-c", "user.email=t@example.com"]
    subprocess.run([*git, "add", "a.txt"], check=True)
    subprocess.run([*git, "commit", "-q", "-m", "one"], check=True)
    clean = meta.git_info(tmp_path)
    assert clean.commit is not None and re.fullmatch(r"[0-9a-f]{40}", clean.commit)
    assert clean.branch and not clean.dirty
    (tmp_path / "a.txt").write_text("two")
    assert meta.git_info(tmp_path).dirty


def test_git_info_outside_a_checkout_records_nothing(tmp_path: Path) -> None:
    info = meta.git_info(tmp_path)
    assert info.commit is None and info.branch is None and info.dirty is False
