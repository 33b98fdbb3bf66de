"""The throwaway PostgreSQL (``reference_runtime.store.pgserver``): its CLI runs a command with
the database URL set, and leaves neither a process nor a folder behind."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
from pathlib import Path

import psutil
import pytest

from reference_runtime.store.pgserver import create_database

from .helpers import REPO

pytestmark = pytest.mark.slow

CHILD = """
import asyncio, os, asyncpg
async def main():
    url = os.environ["MOTHERBOX_DATABASE_URL"].replace("postgresql+asyncpg://", "postgresql://")
    conn = await asyncpg.connect(url)
    row = await conn.fetchrow("SELECT current_database(), current_setting('fsync'), inet_server_addr()")
    print(*row)
    await conn.close()
asyncio.run(main())
raise SystemExit(7)
"""


def test_cli_runs_a_command_against_a_fresh_server_and_cleans_up(pg_server_url: str) -> None:
    env = {k: v for k, v in os.environ.items() if k != "MOTHERBOX_DATABASE_URL"}
    done = subprocess.run(
        [sys.executable, "-m", "reference_runtime.store.pgserver", "--", sys.executable, "-c", CHILD],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 7, done.stderr  # the command's own exit code
    assert done.stdout.split() == ["motherbox", "on", "127.0.0.1"]
    found = re.search(r"127\.0\.0\.1:(\d+) \(folder (\S+)\)", done.stderr)
    assert found, done.stderr
    port, folder = int(found.group(1)), found.group(2)
    assert not Path(folder).exists()
    running = [p for p in psutil.process_iter(["cmdline"]) if folder in " ".join(p.info["cmdline"] or [])]
    assert running == []
    with socket.socket() as sock:
        assert sock.connect_ex(("127.0.0.1", port)) != 0  # nothing listens there any more


def test_database_names_are_plain_identifiers(pg_server_url: str) -> None:
    with pytest.raises(ValueError, match="database name"):
        create_database(pg_server_url, 'x"; DROP DATABASE postgres; --')


def test_serve_with_an_unreachable_database_says_so_in_one_line(tmp_path: Path) -> None:
    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"postgresql+asyncpg://postgres:hunter2secret@127.0.0.1:{port}/nowhere"
    argv = ["serve", "--port", "0", "--state-dir", str(tmp_path), "--database-url", url]
    done = subprocess.run(
        [sys.executable, "-m", "reference_runtime", *argv],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "not usable" in lines[0] and "Traceback" not in done.stderr
    assert "hunter2secret" not in done.stderr + done.stdout  # the password is never printed
