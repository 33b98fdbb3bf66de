"""Tiny HTTP/1.1 test targets with known latency laws, each in its own process.

``python -m tests.harness.servers --law mixed`` prints ``PORT <n>`` and serves on 127.0.0.1:
- ``fixed``:  every response after ``--delay-ms`` (0 = immediately; the capacity benchmark target);
- ``mixed``:  deterministic 90% / 10%: every 10th request takes ``--slow-ms`` (200), others
  ``--fast-ms`` (20) -> true p50 = 20 ms, p95 = p99 = 200 ms;
- ``stall``:  every ``--period`` seconds the server stops answering for ``--stall`` seconds; a
  request arriving during a stall is answered when it ends (what coordinated omission hides).
``/status/NNN`` answers with that status. Minimal keep-alive parsing, a thread per connection.
``keyed_server(key)`` (in this process): 200 with the right ``X-API-Key`` or on the health path,
401 otherwise — a service that wants its key.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import socket
import socketserver
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BODY = b'{"ok":true}'


class Law:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.count = 0
        self.lock = threading.Lock()
        self.t0 = time.monotonic()

    def delay(self) -> float:
        a = self.args
        with self.lock:
            self.count += 1
            count = self.count
        if a.law == "fixed":
            return a.delay_ms / 1000.0
        if a.law == "mixed":
            return (a.slow_ms if count % 10 == 0 else a.fast_ms) / 1000.0
        phase = (time.monotonic() - self.t0) % a.period
        return max(0.0, a.stall - phase) + a.delay_ms / 1000.0 if phase < a.stall else a.delay_ms / 1000.0


def _precise_sleep(seconds: float) -> None:
    # time.sleep is accurate to ~0.1 ms (unlike event-loop timers): the law's delay is the truth.
    if seconds > 0:
        time.sleep(seconds)


class Handler(socketserver.BaseRequestHandler):
    law: Law

    def handle(self) -> None:
        sock = self.request
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        buffer = b""
        while True:
            end = buffer.find(b"\r\n\r\n")
            if end < 0:
                try:
                    data = sock.recv(65536)
                except OSError:
                    return
                if not data:
                    return
                buffer += data
                continue
            head = buffer[:end].decode("latin-1")
            length = 0
            for line in head.split("\r\n")[1:]:
                if line.lower().startswith("content-length:"):
                    length = int(line.split(":", 1)[1])
            while len(buffer) < end + 4 + length:
                data = sock.recv(65536)
                if not data:
                    return
                buffer += data
            buffer = buffer[end + 4 + length :]
            path = head.split(" ", 2)[1] if " " in head else "/"
            status = int(path.rsplit("/", 1)[1]) if path.startswith("/status/") else 200
            _precise_sleep(self.law.delay())
            try:
                sock.sendall(
                    b"HTTP/1.1 %d X\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s"
                    % (status, len(BODY), BODY)
                )
            except OSError:
                return


class Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 1024


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--law", choices=("fixed", "mixed", "stall"), default="fixed")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--delay-ms", type=float, default=0.0)
    parser.add_argument("--fast-ms", type=float, default=20.0)
    parser.add_argument("--slow-ms", type=float, default=200.0)
    parser.add_argument("--period", type=float, default=10.0)
    parser.add_argument("--stall", type=float, default=1.0)
    parser.add_argument("--max-lifetime", type=float, default=1800.0)  # never outlive a forgotten test
    args = parser.parse_args(argv)
    Handler.law = Law(args)
    server = Server(("127.0.0.1", args.port), Handler)
    print(f"PORT {server.server_address[1]}", flush=True)
    threading.Timer(args.max_lifetime, server.shutdown).start()
    server.serve_forever(poll_interval=0.5)


@contextlib.contextmanager
def serve(law: str = "fixed", *, cpu: int | None = None, **params: float) -> Iterator[str]:
    """Start a test server process on a free loopback port; yield its base URL; stop it."""
    cmd = [sys.executable, "-m", "tests.harness.servers", "--law", law]
    for key, value in params.items():
        cmd += [f"--{key.replace('_', '-')}", str(value)]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        if cpu is not None and hasattr(os, "sched_setaffinity"):
            os.sched_setaffinity(proc.pid, {cpu})
        assert proc.stdout is not None
        line = proc.stdout.readline()
        if not line.startswith("PORT "):
            raise RuntimeError(f"test server did not start: {line!r}")
        yield f"http://127.0.0.1:{int(line.split()[1])}"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


if __name__ == "__main__":
    main()


class _KeyedHandler(BaseHTTPRequestHandler):
    key = ""

    def do_GET(self) -> None:
        ok = self.path == "/v1/health" or self.headers.get("X-API-Key") == self.key
        self.send_response(200 if ok else 401)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        return


@contextlib.contextmanager
def keyed_server(key: str) -> Iterator[str]:
    """A loopback service in a thread of this process that answers only requests carrying ``key``."""
    handler = type("Keyed", (_KeyedHandler,), {"key": key})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
