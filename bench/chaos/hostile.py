"""Hostile URLs and redirects, without ``--allow-remote``: nothing may leave loopback, and the key
may reach no origin but the target's.

Runs in a network namespace with only loopback (``unshare -n``, plus ``-r`` when not root), so
nothing can leave the machine whatever the harness does. Inside, ``lo`` is brought up and the
"remote" address 10.255.255.1 is added to it, with listeners on ports 80 and 9100: a connection
the harness should never make lands there and is counted instead of timing out. Connection
attempts are counted two ways: (1) those listeners' accepted connections, and (2) every
``connect()`` of every Python process the harness starts (harness, Locust driver), recorded by an
audit hook (``sys.addaudithook``, event ``socket.connect``, which gevent's sockets raise too)
installed through a ``sitecustomize`` on ``PYTHONPATH``; an attempt to any non-loopback address
counts, reachable or not. A second loopback origin (127.0.0.2) records whether any request
carrying the key reaches it. Without a usable network namespace the row is skipped.

Cases: a remote ``--target``; a remote ``monitor.metrics_url``; a target whose every answer is a
302 to the remote address (the mix, and a setup step); a 302 to the other loopback origin; a
metrics URL on the other loopback origin (scraped, but without the key); user info in the target.
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from bench.chaos.common import TRACEBACK, Row, harness, output, skipped, write
from tests.harness.egress_servers import redirecting

PROBE = "hostile URLs"
WHAT = "remote targets/metrics URLs, 302s off-origin: connects outside loopback, key elsewhere"
EXPECT = "0 attempts, 0 keyed requests elsewhere, expected exits, 0 tracebacks"
REMOTE = "10.255.255.1"
OTHER = "127.0.0.2"
KEY = "chaos-hostile-k3y-5e1f"
SITECUSTOMIZE = """\
import os, sys

_LOG = os.environ.get("CHAOS_CONNECT_LOG")


def _chaos_connect_hook(event, args):
    if event != "socket.connect" or not _LOG:
        return
    address = args[1]
    if isinstance(address, tuple) and address and isinstance(address[0], str):
        with open(_LOG, "a") as fh:
            fh.write(f"{os.getpid()} {address[0]} {address[1] if len(address) > 1 else ''}\\n")


if _LOG:
    sys.addaudithook(_chaos_connect_hook)
"""
SCENARIO = """\
name: hostile
target:
  api_key: {{value: {key}}}
load: {{rate: 5, duration: 2s, drain: 1s}}
mix:
  - {{name: get_x, path: /x}}
{extra}"""


def netns_problem() -> str | None:
    """Why a loopback-only network namespace cannot be made here, or None."""
    if not sys.platform.startswith("linux"):
        return "network namespaces are Linux's"
    if shutil.which("unshare") is None or shutil.which("ip") is None:
        return "needs unshare (util-linux) and ip (iproute2)"
    out = subprocess.run([*unshare(), "ip", "link", "set", "lo", "up"], capture_output=True, text=True)
    if out.returncode != 0:
        return f"unshare -n refused: {out.stderr.strip()[:120]}"
    return None


def unshare() -> list[str]:
    return ["unshare", "-n"] if os.geteuid() == 0 else ["unshare", "-r", "-n"]


def probe(tmp: Path) -> Row:
    problem = netns_problem()
    if problem is not None:
        return skipped(PROBE, WHAT, EXPECT, problem)
    started = time.monotonic()
    result = tmp / "hostile.json"
    cmd = [*unshare(), sys.executable, "-m", "bench.chaos", "--inside-netns", str(tmp / "hostile")]
    cmd += ["--result", str(result)]
    out = subprocess.run(
        cmd, cwd=Path(__file__).resolve().parents[2], capture_output=True, text=True, timeout=600
    )
    if out.returncode != 0 or not result.is_file():
        tail = (out.stderr or out.stdout).strip()[-300:]
        return Row(PROBE, WHAT, "-", EXPECT, False, f"probe failed ({out.returncode}): {tail}")
    row = Row(**json.loads(result.read_text()))
    row.seconds = time.monotonic() - started
    return row


@dataclass
class Listener:
    """Accepts connections on (host, port), counts them, and notes whether the key came in."""

    host: str
    port: int
    accepted: int = 0
    keyed: int = 0
    _sock: socket.socket = field(init=False)

    def start(self) -> None:
        self._sock = socket.create_server((self.host, self.port))
        threading.Thread(target=self._loop, daemon=True).start()

    def _loop(self) -> None:
        while True:
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return
            self.accepted += 1
            with conn, contextlib.suppress(OSError):
                conn.settimeout(1.0)
                self.keyed += KEY.encode() in conn.recv(65536)


@dataclass
class Recorder:
    """An HTTP origin on another loopback address: counts requests, and those carrying the key."""

    requests: int = 0
    keyed: int = 0
    url: str = ""


@contextlib.contextmanager
def other_origin() -> Iterator[Recorder]:
    record = Recorder()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            record.requests += 1
            record.keyed += any(KEY in value for value in self.headers.values())
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        do_POST = do_GET

        def log_message(self, *args: object) -> None:
            return

    server = ThreadingHTTPServer((OTHER, 0), Handler)
    server.daemon_threads = True
    record.url = f"http://{OTHER}:{server.server_address[1]}"
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True).start()
    try:
        yield record
    finally:
        server.shutdown()
        server.server_close()


def _audit_env(folder: Path) -> dict[str, str]:
    write(folder / "audit", "sitecustomize.py", SITECUSTOMIZE)
    log = folder / "connects.log"
    log.touch()
    path = os.pathsep.join(p for p in (str(folder / "audit"), os.environ.get("PYTHONPATH", "")) if p)
    return {**os.environ, "PYTHONPATH": path, "CHAOS_CONNECT_LOG": str(log)}


def _connects(folder: Path) -> tuple[int, int, int]:
    """(attempts to non-loopback addresses, all attempts, processes that recorded any)."""
    lines = (folder / "connects.log").read_text().split("\n")
    entries = [line.split(" ") for line in lines if line.strip()]
    outside = 0
    for _, host, _port in entries:
        with contextlib.suppress(ValueError):
            outside += not ipaddress.ip_address(host.split("%")[0]).is_loopback
    return outside, len(entries), len({e[0] for e in entries})


def _case(folder: Path, name: str, extra: str, target: str, env: dict[str, str]) -> tuple[int, bool]:
    scenario = write(folder, f"{name}.yaml", SCENARIO.format(key=KEY, extra=extra))
    out = harness(
        "run", str(scenario), "--target", target, "--reports-dir", str(folder / "reports"), "--quiet",
        "--no-report", env=env, timeout=120,
    )  # fmt: skip
    return out.returncode, TRACEBACK in output(out)


def _cases(folder: Path, env: dict[str, str], other: Recorder) -> list[tuple[str, int, int, bool]]:
    """(case, expected exit, exit, traceback) of each hostile case."""
    setup = "setup:\n  - {name: make, path: /v1/things, save: {thing: id}}\n"
    remote_metrics = f"monitor: {{metrics_url: 'http://{REMOTE}:9100/metrics'}}\n"
    other_metrics = f"monitor: {{metrics_url: '{other.url}/metrics'}}\n"
    results = []
    with (
        redirecting(f"http://{REMOTE}:80", ok_paths=("/v1/health",)) as to_remote,
        redirecting(other.url, ok_paths=("/v1/health",)) as to_other,
    ):
        cases = [
            ("remote --target", "", f"http://{REMOTE}:80", 2),
            ("user info in --target", "", f"http://127.0.0.1:1@{REMOTE}/", 2),
            ("remote metrics_url", remote_metrics, to_remote.url, 2),
            ("mix 302 -> remote", "", to_remote.url, 0),
            ("setup 302 -> remote", setup, to_remote.url, 3),
            ("mix 302 -> other loopback origin", "", to_other.url, 0),
            ("metrics_url on other loopback origin", other_metrics, to_other.url, 0),
        ]
        for i, (name, extra, target, expected) in enumerate(cases):
            code, trace = _case(folder, f"case{i}", extra, target, env)
            results.append((name, expected, code, trace))
    return results


def inside(folder: Path, result: Path) -> int:
    """The probe itself, run inside the namespace (``python -m bench.chaos --inside-netns``)."""
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    subprocess.run(["ip", "addr", "add", f"{REMOTE}/32", "dev", "lo"], check=True)
    routes = subprocess.run(["ip", "-o", "route", "show", "default"], capture_output=True, text=True).stdout
    listeners = [Listener(REMOTE, 80), Listener(REMOTE, 9100)]
    for listener in listeners:
        listener.start()
    env = _audit_env(folder)
    with other_origin() as other:
        cases = _cases(folder, env, other)
    outside, total, pids = _connects(folder)
    accepted = sum(lsn.accepted for lsn in listeners)
    keyed = other.keyed + sum(lsn.keyed for lsn in listeners)
    wrong = [f"{n}: exit {c} (expected {e})" for n, e, c, _ in cases if c != e]
    traces = sum(t for *_, t in cases)
    count = f"{max(outside, accepted)} attempts outside loopback, {keyed} keyed requests elsewhere"
    detail = f"{len(cases)} cases, netns routes: {routes.strip() or 'loopback only'}; connect() audit: "
    detail += f"{total} calls from {pids} processes, {outside} outside loopback; listeners: {accepted} "
    detail += f"accepted; other origin got {other.requests} requests; {traces} tracebacks"
    detail += ("; wrong exits: " + "; ".join(wrong)) if wrong else "; exits as expected"
    ok = outside == 0 and accepted == 0 and keyed == 0 and not wrong and traces == 0 and total > 0
    row = Row(PROBE, WHAT, count, EXPECT, ok, detail)
    result.write_text(json.dumps({k: v for k, v in row.as_dict().items() if k != "verdict"}))
    return 0
