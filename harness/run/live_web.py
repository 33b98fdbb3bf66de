"""``harness run --web [PORT]``: the live figures as a small page on 127.0.0.1 while the run goes.

One page (``/``), self-contained (inline CSS and JS, no external requests; the Content-Security-
Policy forbids any), polls ``/live.json`` once a second: the :class:`~harness.run.live.LiveState`
JSON, the same figures as the terminal table. Strings from the scenario (operation names) reach
the page only through JSON and ``textContent``, never as markup. The server binds 127.0.0.1 only,
answers only requests whose ``Host`` is that address (or ``localhost``: no DNS rebinding), and is
stopped when the run ends (:meth:`LiveServer.stop`); until then the final figures stay readable.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from harness.run.live import LiveState

HOST = "127.0.0.1"
CSP = (
    "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
    "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)

PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>harness run: live</title>
<style>
body{font:14px/1.4 system-ui,sans-serif;margin:1.5em;color:#222;background:#fafafa}
h1{font-size:1.2em;margin:0 0 .2em} .muted{color:#666} .bad{color:#b00020}
table{border-collapse:collapse;margin:.8em 0;background:#fff}
th,td{padding:.25em .7em;border-bottom:1px solid #ddd;text-align:right;white-space:nowrap}
th:first-child,td:first-child{text-align:left} tr.total td{font-weight:bold;border-top:2px solid #999}
.bar{height:.6em;background:#ddd;width:24em;max-width:90vw;border-radius:.3em;overflow:hidden}
.bar div{height:100%;background:#4c78a8;width:0}
.charts{display:flex;gap:1.5em;flex-wrap:wrap} figure{margin:0} figcaption{font-size:.9em;color:#555}
canvas{background:#fff;border:1px solid #ddd}
</style></head>
<body>
<h1>run <span id="run">-</span> <span id="scenario" class="muted"></span></h1>
<div id="status" class="muted">waiting for the first figures ...</div>
<div class="bar"><div id="bar"></div></div>
<div id="head"></div>
<table><thead><tr><th>operation</th><th>rate/s</th><th>completed</th><th>p50 ms</th><th>p95 ms</th>
<th>p99 ms</th><th>p95 1s</th><th>errors</th><th>dropped</th></tr></thead><tbody id="rows"></tbody></table>
<div class="muted">latency from the intended send time (coordinated-omission corrected), run so far;
p95 1s: the last second</div>
<div class="charts">
<figure><canvas id="rate" width="360" height="90"></canvas>
<figcaption>achieved rate (req/s)</figcaption></figure>
<figure><canvas id="p95" width="360" height="90"></canvas>
<figcaption>p95 of each second (ms)</figcaption></figure>
</div>
<script>
"use strict";
const $ = (id) => document.getElementById(id);
const num = (v, d) => (v === null || v === undefined) ? "-" :
  v.toLocaleString(undefined, {minimumFractionDigits: d, maximumFractionDigits: d});
function cell(tr, text) {
  const td = document.createElement("td"); td.textContent = text; tr.appendChild(td);
}
function row(r, total) {
  const tr = document.createElement("tr");
  if (total) tr.className = "total";
  cell(tr, r.name); cell(tr, num(r.rate, 1)); cell(tr, num(r.completed, 0));
  cell(tr, num(r.p50, 1)); cell(tr, num(r.p95, 1)); cell(tr, num(r.p99, 1)); cell(tr, num(r.p95_interval, 1));
  cell(tr, num(r.errors, 0) + " (" + num(r.error_pct, 2) + "%)"); cell(tr, num(r.dropped, 0));
  return tr;
}
function spark(canvas, values) {
  const g = canvas.getContext("2d"), w = canvas.width, h = canvas.height;
  g.clearRect(0, 0, w, h);
  const ys = values.filter((v) => v !== null);
  if (ys.length < 2) return;
  const top = Math.max(...ys) * 1.1 || 1;
  g.strokeStyle = "#4c78a8"; g.lineWidth = 1.5; g.beginPath();
  let started = false;
  values.forEach((v, i) => {
    if (v === null) { started = false; return; }
    const x = values.length > 1 ? i * (w - 4) / (values.length - 1) + 2 : 2, y = h - 2 - v / top * (h - 14);
    if (started) g.lineTo(x, y); else g.moveTo(x, y);
    started = true;
  });
  g.stroke(); g.fillStyle = "#555"; g.font = "10px sans-serif";
  g.fillText("max " + num(Math.max(...ys), 1), 4, 10);
}
function show(d) {
  $("run").textContent = d.run_id; $("scenario").textContent = d.scenario;
  $("bar").style.width = Math.min(100, 100 * d.elapsed_s / Math.max(d.planned_s, 1e-9)) + "%";
  if (d.waiting) return;
  const o = d.overall;
  const target = d.target_rate === null ? "closed model" : "target " + num(d.target_rate, 1) + "/s";
  $("status").textContent = (d.final ? "final figures (the run is ending)" : "running") +
    " \\u2014 " + num(d.elapsed_s, 0) + " / " + num(d.planned_s, 0) + " s";
  const parts = ["stage " + d.stage + "/" + d.stages, "rate " + num(o.rate, 1) + "/s (" + target + ")",
    "errors " + num(o.errors, 0), "dropped " + num(o.dropped, 0)];
  $("head").textContent = parts.join(" \\u00b7 ");
  const body = $("rows");
  body.replaceChildren(...d.operations.map((r) => row(r, false)), row(o, true));
  spark($("rate"), d.history.map((p) => p.rate)); spark($("p95"), d.history.map((p) => p.p95));
}
async function poll() {
  try {
    const r = await fetch("live.json", {cache: "no-store"});
    if (!r.ok) throw new Error("HTTP " + r.status);
    show(await r.json());
    setTimeout(poll, 1000);
  } catch (e) {
    $("status").textContent = "the run has ended (the live server stopped); figures above are the last seen";
    $("status").className = "bad";
  }
}
poll();
</script>
</body></html>
"""


def _handler(state: LiveState, port: int) -> type[BaseHTTPRequestHandler]:
    allowed_hosts = {f"{HOST}:{port}", f"localhost:{port}"}

    class Handler(BaseHTTPRequestHandler):
        server_version = "harness-live"
        sys_version = ""

        def do_GET(self) -> None:
            if self.headers.get("Host", "") not in allowed_hosts:
                self._send(403, "application/json", json.dumps({"error": "unexpected Host"}).encode())
                return
            path = self.path.split("?", 1)[0]
            if path in ("/", "/index.html"):
                self._send(200, "text/html; charset=utf-8", PAGE.encode("utf-8"))
            elif path == "/live.json":
                self._send(200, "application/json", state.json_bytes())
            else:
                self._send(404, "application/json", json.dumps({"error": "not found"}).encode())

        def _send(self, status: int, content_type: str, body: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            self.send_header("Content-Security-Policy", CSP)
            self.send_header("X-Content-Type-Options", "nosniff")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            return None  # the run's console is for the run

    return Handler


class LiveServer:
    """The ``--web`` server of one load pass: started on ``port`` (0: a free one), stopped at the end."""

    def __init__(self, state: LiveState, port: int = 0) -> None:
        self.server = ThreadingHTTPServer((HOST, port), BaseHTTPRequestHandler)  # OSError: port taken
        self.server.daemon_threads = True
        self.port = int(self.server.server_address[1])
        self.server.RequestHandlerClass = _handler(state, self.port)
        self._thread = threading.Thread(
            target=self.server.serve_forever, name="harness-live-web", daemon=True
        )
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}/"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(timeout=5)
