"""Loopback HTTP servers for the egress tests, in threads of the test process.

- :func:`recording` answers every request with 200 and a small body, and records what it got
  (method, path, headers) in ``Recorded.requests``: the "other origin" a key must never reach.
- :func:`redirecting` answers every request with ``302 Location: <to><path>`` (except the paths
  in ``ok_paths``, answered 200), and records what it got too.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Recorded:
    url: str
    requests: list[tuple[str, str, dict[str, str]]] = field(default_factory=list)

    def header_values(self) -> list[str]:
        return [value for _, _, headers in self.requests for value in headers.values()]


def _handler(record: Recorded, redirect_to: str | None, ok_paths: frozenset[str]) -> type:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _answer(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            if length:
                self.rfile.read(length)
            record.requests.append((self.command, self.path, dict(self.headers.items())))
            if redirect_to is not None and self.path not in ok_paths:
                self.send_response(302)
                self.send_header("Location", redirect_to + self.path)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            body = b'{"id": "x1", "ok": true}\n'
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _answer

        def log_message(self, *args: object) -> None:
            return

    return Handler


@contextlib.contextmanager
def _serve(redirect_to: str | None, ok_paths: frozenset[str]) -> Iterator[Recorded]:
    record = Recorded(url="")
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(record, redirect_to, ok_paths))
    server.daemon_threads = True
    record.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
    thread.start()
    try:
        yield record
    finally:
        server.shutdown()
        server.server_close()


def recording() -> contextlib.AbstractContextManager[Recorded]:
    return _serve(None, frozenset())


def redirecting(to: str, ok_paths: tuple[str, ...] = ()) -> contextlib.AbstractContextManager[Recorded]:
    return _serve(to, frozenset(ok_paths))
