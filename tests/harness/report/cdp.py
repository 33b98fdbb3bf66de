"""A minimal headless-Chromium driver over the DevTools protocol (no new dependencies).

Starts ``chromium --headless --remote-debugging-port=0``, reads the port Chromium picked from
``DevToolsActivePort``, and talks JSON over the page's websocket (``websockets`` sync client).
Every request the page makes is seen through the Network domain (``requests``), so a test can
assert that a page opened from disk fetches nothing but ``file://`` URLs.
"""

from __future__ import annotations

import base64
import itertools
import json
import shutil
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path
from types import TracebackType
from typing import Any

from websockets.sync.client import ClientConnection, connect

CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
    "--no-first-run",
    "--no-default-browser-check",
    "--hide-scrollbars",
    "--remote-debugging-port=0",
    "--window-size=1280,900",
)


def chromium_path() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


class Browser:
    def __init__(self, executable: str, timeout_s: float = 30.0) -> None:
        self.timeout_s = timeout_s
        self.profile = Path(tempfile.mkdtemp(prefix="cdp-profile-"))
        self.process = subprocess.Popen(
            [executable, *CHROMIUM_FLAGS, f"--user-data-dir={self.profile}", "about:blank"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self.events: list[dict[str, Any]] = []
        self._results: dict[int, dict[str, Any]] = {}
        self._ids = itertools.count(1)
        try:
            self.ws = self._connect()
        except BaseException:  # no Chromium left running (nor its profile) when start-up fails
            self._stop_process()
            raise

    def _connect(self) -> ClientConnection:
        port_file = self.profile / "DevToolsActivePort"
        deadline = time.monotonic() + self.timeout_s
        while not port_file.is_file() or not port_file.read_text().strip():
            if time.monotonic() > deadline or self.process.poll() is not None:
                raise RuntimeError("chromium did not open its DevTools port")
            time.sleep(0.05)
        port = int(port_file.read_text().split()[0])
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=10) as response:
            targets = json.loads(response.read())
        page = next(t for t in targets if t.get("type") == "page")
        self._connection = connect(page["webSocketDebuggerUrl"], max_size=None, open_timeout=10)
        return self._connection.__enter__()

    def send(self, method: str, **params: Any) -> dict[str, Any]:
        return self.result(self.send_nowait(method, **params))

    def send_nowait(self, method: str, **params: Any) -> int:
        """Send a command and return its id; :meth:`result` waits for the answer."""
        message_id = next(self._ids)
        self.ws.send(json.dumps({"id": message_id, "method": method, "params": params}))
        return message_id

    def result(self, message_id: int) -> dict[str, Any]:
        while message_id not in self._results:
            self._receive()
        message = self._results.pop(message_id)
        if "error" in message:
            raise RuntimeError(f"command {message_id}: {message['error']}")
        result: dict[str, Any] = message.get("result", {})
        return result

    def _receive(self) -> dict[str, Any]:
        message: dict[str, Any] = json.loads(self.ws.recv(timeout=self.timeout_s))
        if "id" in message:
            self._results[message["id"]] = message
        else:
            self.events.append(message)
        return message

    def wait_for(self, method: str) -> dict[str, Any]:
        for event in self.events:
            if event.get("method") == method:
                return event
        deadline = time.monotonic() + self.timeout_s
        while time.monotonic() < deadline:
            message = self._receive()
            if message.get("method") == method:
                return message
        raise TimeoutError(method)

    def open(self, url: str) -> None:
        """Navigate and wait for the load event; events (errors, requests) start afresh."""
        self.events.clear()
        for domain in ("Page", "Runtime", "Log", "Network"):
            self.send(f"{domain}.enable")
        self.send("Page.navigate", url=url)
        self.wait_for("Page.loadEventFired")

    def wait_until(self, expression: str, timeout_s: float | None = None) -> Any:
        """Poll a JS expression until it is truthy (pages that draw after load); its value."""
        deadline = time.monotonic() + (timeout_s or self.timeout_s)
        while True:
            value = self.evaluate(expression)
            if value or time.monotonic() > deadline:
                return value
            time.sleep(0.1)

    def requests(self) -> list[str]:
        """Every URL the page asked for since :meth:`open` (Network.requestWillBeSent)."""
        return [
            str(event["params"]["request"]["url"])
            for event in self.events
            if event.get("method") == "Network.requestWillBeSent"
        ]

    def click(self, x: float, y: float) -> None:
        """A real mouse click at page coordinates (press and release of the left button)."""
        for kind in ("mousePressed", "mouseReleased"):
            self.send("Input.dispatchMouseEvent", type=kind, x=x, y=y, button="left", clickCount=1)

    def answer_prompt(self, expression: str, text: str) -> None:
        """Evaluate ``expression``, which opens ``prompt()``, and type ``text`` into it."""
        pending = self.send_nowait("Runtime.evaluate", expression=expression)
        self.wait_for("Page.javascriptDialogOpening")
        self.send("Page.handleJavaScriptDialog", accept=True, promptText=text)
        self.result(pending)

    def evaluate(self, expression: str) -> Any:
        result = self.send("Runtime.evaluate", expression=expression, returnByValue=True)
        if "exceptionDetails" in result:
            raise RuntimeError(f"JS error: {result['exceptionDetails']}")
        return result["result"].get("value")

    def console_errors(self) -> list[str]:
        """Console errors, uncaught exceptions and browser log errors (e.g. CSP violations)."""
        errors = []
        for event in self.events:
            method, params = event.get("method"), event.get("params", {})
            if method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
                errors.append(json.dumps(params.get("args")))
            elif method == "Runtime.exceptionThrown":
                errors.append(json.dumps(params.get("exceptionDetails")))
            elif method == "Log.entryAdded" and params.get("entry", {}).get("level") == "error":
                errors.append(params["entry"].get("text", ""))
        return errors

    def screenshot(self, path: Path, settle_s: float = 0.3) -> None:
        """The whole page: the viewport is first grown to the page's size, then, after
        ``settle_s`` (pages that redraw on resize, like memray's flamegraph, animate), captured."""
        width, height = self.evaluate(
            "[Math.max(innerWidth, document.documentElement.scrollWidth),"
            " document.documentElement.scrollHeight]"
        )
        self.send(
            "Emulation.setDeviceMetricsOverride",
            width=width,
            height=min(height, 16_384),
            deviceScaleFactor=1,
            mobile=False,
        )
        try:
            time.sleep(settle_s)
            shot = self.send("Page.captureScreenshot", format="png")
        finally:
            self.send("Emulation.clearDeviceMetricsOverride")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(base64.b64decode(shot["data"]))

    def close(self) -> None:
        try:
            self._connection.__exit__(None, None, None)
        finally:
            self._stop_process()

    def _stop_process(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        shutil.rmtree(self.profile, ignore_errors=True)

    def __enter__(self) -> Browser:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
