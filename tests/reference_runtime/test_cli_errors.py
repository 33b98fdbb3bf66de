"""The runtime's command line: a port already in use is one line and exit 2, not a traceback."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path


def serve(*args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "reference_runtime", "serve", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=60)


def test_serve_on_a_taken_port_is_one_line_exit_2_and_leaves_no_backend(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        out = serve("--port", str(port), "--state-dir", str(tmp_path))
    assert out.returncode == 2, out.stderr
    assert "Traceback" not in out.stderr
    errors = [line for line in out.stderr.splitlines() if "error:" in line]
    assert errors == [f"reference-runtime: error: cannot listen on 127.0.0.1:{port}: Address already in use"]
    found = subprocess.run(["pgrep", "-f", f"model-backend.*{tmp_path}"], capture_output=True, text=True)
    assert found.stdout.strip() == ""  # the model backend it started first was stopped


BAD_SETTINGS = [
    (["--set", "agents.mailbox_capacity=abc"], "agents.mailbox_capacity: Input should be a valid integer"),
    (["--set", "nokey"], "--set expects key=value, got 'nokey'"),
    (["--config", "{missing}"], "cannot read: No such file or directory"),
    (["--config", "{bad_yaml}"], "not valid YAML"),
    (["--config", "{bad_value}"], "switches.batching: Input should be a valid boolean"),
    (["--set", "api_key=hunter2-secret", "--set", "api_key.x=1"], "api_key"),
]


def test_bad_settings_are_one_line_exit_2_and_never_echo_the_value(tmp_path: Path) -> None:
    files = {
        "missing": tmp_path / "nope.yaml",
        "bad_yaml": tmp_path / "bad.yaml",
        "bad_value": tmp_path / "value.yaml",
    }
    files["bad_yaml"].write_text("switches: [batching\n")
    files["bad_value"].write_text("switches:\n  batching: maybe\n")
    for args, expected in BAD_SETTINGS:
        argv = [a.format(**{k: str(v) for k, v in files.items()}) for a in args]
        out = serve("--port", "0", "--state-dir", str(tmp_path), *argv)
        assert out.returncode == 2, (argv, out.stderr)
        assert "Traceback" not in out.stderr, argv
        lines = out.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("reference-runtime: error: "), lines
        assert expected in lines[0], lines[0]
        assert "hunter2" not in out.stderr
