"""A stand-in for ``reference-runtime serve`` with known hot spots, for the profiling proofs.

Same command line and contract as the runtime (``serve --host --port --state-dir``, API key in
``<state-dir>/api_key``, ``GET /v1/health``). With ``FAKE_FAULTS=1`` every request burns CPU in
:func:`cpu_hog_burn` and keeps memory in :func:`leak_retain`, like the runtime's fault injection.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

_LEAKED: list[bytearray] = []
FAULTS = os.environ.get("FAKE_FAULTS") == "1"


def cpu_hog_burn(ms: float) -> int:
    acc = 0
    deadline = time.thread_time() + ms / 1000.0
    while time.thread_time() < deadline:
        for i in range(200):
            acc = (acc * 31 + i) % 1_000_003
    return acc


def leak_retain(nbytes: int) -> None:
    _LEAKED.append(bytearray(nbytes))


def ordinary_work() -> int:
    return sum(len(str(i)) for i in range(200))


class Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        ordinary_work()
        if FAULTS and self.path != "/v1/health":
            cpu_hog_burn(4.0)
            leak_retain(30_000)
        body = json.dumps({"status": "healthy", "path": self.path}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        return


def main() -> int:
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="cmd", required=True)
    serve = sub.add_parser("serve")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=0)
    serve.add_argument("--state-dir", type=Path, required=True)
    serve.add_argument("--config")
    args = parser.parse_args()
    args.state_dir.mkdir(parents=True, exist_ok=True)
    (args.state_dir / "api_key").write_text("fake-key\n")
    server = ThreadingHTTPServer((args.host, args.port), Handler)
    server.daemon_threads = True

    def stop(*_: object) -> None:
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    watchdog = threading.Timer(900, stop)  # never outlive a forgotten test
    watchdog.daemon = True
    watchdog.start()
    server.serve_forever(poll_interval=0.2)
    server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
