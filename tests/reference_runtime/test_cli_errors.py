"""The runtime's command line: a port already in use is one line and exit 2, not a traceback."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path


def test_serve_on_a_taken_port_is_one_line_exit_2_and_leaves_no_backend(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        out = subprocess.run(
            [
                sys.executable,
                "-m",
                "reference_runtime",
                "serve",
                "--port",
                str(port),
                "--state-dir",
                str(tmp_path),
            ],
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert out.returncode == 2, out.stderr
    assert "Traceback" not in out.stderr
    errors = [line for line in out.stderr.splitlines() if "error:" in line]
    assert errors == [f"reference-runtime: error: cannot listen on 127.0.0.1:{port}: Address already in use"]
    found = subprocess.run(["pgrep", "-f", f"model-backend.*{tmp_path}"], capture_output=True, text=True)
    assert found.stdout.strip() == ""  # the model backend it started first was stopped
