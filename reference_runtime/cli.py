"""``reference-runtime serve | model-backend | archive``.

Each subcommand imports what it runs inside its own function: the model-backend child that
``serve`` starts must not pay for importing the app stack (~0.85 s against ~0.25 s).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ctypes
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from importlib.metadata import version
from pathlib import Path
from typing import Any

import uvicorn

from .config import (
    API_FIELDS,
    SETTINGS_ENV,
    SWITCH_NAMES,
    ConfigError,
    ModelBackendSettings,
    Settings,
    _deep_merge,
    dump_settings,
    load_settings,
    parse_assignment,
)

BACKEND_READY_TIMEOUT_S = 30.0
PR_SET_PDEATHSIG = 1


class StartupError(Exception):
    """The service cannot start (e.g. its port is taken): one line on stderr, exit 2."""


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        return _listen(socket.socket(family, socket.SOCK_STREAM), host, port)
    except OSError as exc:
        raise StartupError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None


def _listen(sock: socket.socket, host: str, port: int) -> socket.socket:
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    # Accepted sockets inherit this; without it small responses written in two parts hit
    # Nagle + delayed ACK (~40 ms per request) when uvloop serves a pre-bound socket.
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        sock.bind((host, port))
        sock.listen(2048)
    except OSError:
        sock.close()
        raise
    sock.set_inheritable(True)
    return sock


def _write_atomic(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name)
    with os.fdopen(fd, "w") as fh:
        fh.write(text)
    os.replace(tmp, path)


#: uvicorn settings shared by the runtime (one process or N workers) and the model backend.
UVICORN_OPTIONS: dict[str, Any] = {
    "loop": "uvloop",
    "access_log": False,
    "proxy_headers": False,  # loopback service; skip the per-request proxy-header middleware
    "log_level": "warning",
    "timeout_graceful_shutdown": 5,
    "backlog": 2048,
}


def _serve_sockets(app: Any, sock: socket.socket, config: uvicorn.Config | None = None) -> None:
    config = config or uvicorn.Config(app, http="httptools", lifespan="on", **UVICORN_OPTIONS)
    # Server.run builds the loop from the config (uvloop); asyncio.run would use the stdlib loop.
    uvicorn.Server(config).run(sockets=[sock])


def runtime_server_config(app: Any, settings: Settings, **extra: Any) -> uvicorn.Config:
    """The runtime's uvicorn config: connection hygiene from ``settings.server`` — uvicorn's own
    ``timeout_keep_alive`` for idle keep-alive connections, the guarded httptools protocol
    (``connections.py``) for the header-read timeout and the connection cap."""
    from .connections import ConnectionGuard, GuardedConfig

    server = settings.server
    guard = ConnectionGuard(server.header_timeout_s, server.max_connections, server.retry_after_s)
    options = {**UVICORN_OPTIONS, "lifespan": "on", **extra}
    return GuardedConfig(app, guard=guard, timeout_keep_alive=server.keep_alive_timeout_s, **options)


# -- model backend -----------------------------------------------------------------------------
def _die_with_parent() -> None:
    """preexec_fn: the child gets SIGTERM if ``serve`` dies, even by ``kill -9``."""
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def start_backend_child(settings: Settings) -> tuple[subprocess.Popen[bytes], str]:
    ready = settings.state_dir / "model_backend.port"
    ready.unlink(missing_ok=True)
    env = dict(os.environ)
    env["MOTHERBOX_BACKEND_SETTINGS"] = settings.model_backend.model_dump_json()
    cmd = [
        sys.executable,
        "-m",
        "reference_runtime",
        "model-backend",
        "--host",
        "127.0.0.1",
        "--port",
        "0",
        "--ready-file",
        str(ready),
    ]
    proc = subprocess.Popen(cmd, env=env, preexec_fn=_die_with_parent)
    deadline = time.monotonic() + BACKEND_READY_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"model backend exited early with code {proc.returncode}")
        if ready.exists() and ready.read_text().strip():
            return proc, f"http://127.0.0.1:{int(ready.read_text().strip())}"
        time.sleep(0.05)
    stop_child(proc)
    raise SystemExit("model backend did not start in time")


def stop_child(proc: subprocess.Popen[bytes] | None) -> None:
    if proc is None or proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=5)


def cmd_model_backend(args: argparse.Namespace) -> int:
    from .model_backend import create_backend_app

    raw = os.environ.get("MOTHERBOX_BACKEND_SETTINGS")
    base = ModelBackendSettings.model_validate_json(raw) if raw else load_settings(args.config).model_backend
    overrides = {
        "latency_median_ms": args.latency_median_ms,
        "latency_p99_ms": args.latency_p99_ms,
        "cpu_ms_per_call": args.cpu_ms,
        "error_rate": args.error_rate,
        "response_bytes": args.response_bytes,
        "seed": args.seed,
    }
    merged = {**base.model_dump(), **{k: v for k, v in overrides.items() if v is not None}}
    settings = ModelBackendSettings.model_validate(merged)
    sock = _bind(args.host, args.port)
    port = sock.getsockname()[1]
    if args.ready_file:
        _write_atomic(Path(args.ready_file), str(port))
    print(f"model backend on http://{args.host}:{port}", file=sys.stderr, flush=True)
    _serve_sockets(create_backend_app(settings), sock)
    return 0


# -- serve -------------------------------------------------------------------------------------
def _cli_overrides(args: argparse.Namespace) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name in API_FIELDS:
        value = getattr(args, name, None)
        if value is not None:
            out[name] = value
    switches = {n: getattr(args, n) for n in SWITCH_NAMES if getattr(args, n, None) is not None}
    if switches:
        out["switches"] = switches
    if getattr(args, "database_url", None):
        out["database"] = {"url": args.database_url}
    for assignment in args.set or []:
        out = _deep_merge(out, parse_assignment(assignment))
    return out


async def _init_schema(settings: Settings) -> None:
    from .store import Store

    store = Store(settings.db_url(), indexes=settings.switches.indexes)
    await store.open()
    await store.close()


def _check_database(settings: Settings) -> None:
    """A database server that cannot be reached (or refuses us) stops the command with one
    line (exit 2) rather than a traceback from the app's startup. Creates the schema."""
    from sqlalchemy.engine import make_url

    if settings.db_url().startswith("sqlite"):
        return  # a file in the state folder: nothing to reach
    try:
        asyncio.run(_init_schema(settings))
    except Exception as exc:
        where = make_url(settings.db_url()).render_as_string(hide_password=True)
        reason = str(exc).splitlines()[0][:200] if str(exc) else ""
        raise StartupError(f"database {where} not usable: {type(exc).__name__}: {reason}") from None


def _raise_interrupt(_signum: int, _frame: Any) -> None:
    raise KeyboardInterrupt


def cmd_serve(args: argparse.Namespace) -> int:
    from .app import API_KEY_ENV, MODEL_URL_ENV, create_app
    from .auth import key_path, resolve_key

    settings = load_settings(args.config, _cli_overrides(args))
    settings.state_dir.mkdir(parents=True, exist_ok=True)
    _check_database(settings)
    key, generated = resolve_key(settings.state_dir, settings.api_key)
    if generated:
        print(f"API key (in {key_path(settings.state_dir)}; harness: $HARNESS_API_KEY): {key}", flush=True)
    child: subprocess.Popen[bytes] | None = None
    # SIGTERM must run the finally-block below (stop the child) rather than kill us outright.
    signal.signal(signal.SIGTERM, _raise_interrupt)
    try:
        model_url = settings.model_url
        if not model_url:
            child, model_url = start_backend_child(settings)
        sock = _bind(settings.host, settings.port)
        port = sock.getsockname()[1]
        _write_atomic(settings.state_dir / "port", str(port))
        print(
            f"reference runtime on http://{settings.host}:{port} (profile {settings.profile}, "
            f"model {model_url})",
            file=sys.stderr,
            flush=True,
        )
        if settings.workers > 1:
            asyncio.run(_init_schema(settings))  # once, before N workers race to create tables
            os.environ[SETTINGS_ENV] = dump_settings(settings)
            os.environ[MODEL_URL_ENV] = model_url
            os.environ[API_KEY_ENV] = key
            from uvicorn.supervisors import Multiprocess

            config = runtime_server_config(
                "reference_runtime.app:app_from_env", settings, factory=True, workers=settings.workers
            )
            Multiprocess(config, sockets=[sock]).run()
        else:
            app = create_app(settings, model_url, key)
            _serve_sockets(app, sock, runtime_server_config(app, settings))
    except KeyboardInterrupt:
        pass
    finally:
        stop_child(child)
    return 0


def cmd_archive(args: argparse.Namespace) -> int:
    from .archive import run_archive_cli

    settings = load_settings(args.config, _cli_overrides(args))
    _check_database(settings)
    return run_archive_cli(settings, now=args.now)


# -- parser ------------------------------------------------------------------------------------
def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", default=None, help="baseline | optimized | path to a YAML file")
    p.add_argument("--state-dir", dest="state_dir", type=Path, default=None)
    p.add_argument(
        "--database-url",
        dest="database_url",
        default=None,
        help="sqlite+aiosqlite:///FILE or postgresql+asyncpg://USER@HOST:PORT/DB "
        "(default: SQLite in the state folder; env MOTHERBOX_DATABASE_URL)",
    )
    p.add_argument(
        "--set", action="append", metavar="KEY=VALUE", help="any setting, e.g. agents.concurrency=4"
    )
    for name in SWITCH_NAMES:
        p.add_argument(
            f"--{name.replace('_', '-')}",
            dest=name,
            action=argparse.BooleanOptionalAction,
            default=None,
            help=f"optimization switch '{name}'",
        )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="reference-runtime", description=__doc__)
    parser.add_argument("--version", action="version", version=f"%(prog)s {version('motherbox-perf')}")
    sub = parser.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("serve", help="run the runtime (starts a model backend unless --model-url)")
    _common(s)
    s.add_argument("--host", default=None)
    s.add_argument("--port", type=int, default=None, help="0 = any free port (written to <state-dir>/port)")
    s.add_argument("--model-url", dest="model_url", default=None)
    s.add_argument("--workers", type=int, default=None)
    s.add_argument("--api-key", dest="api_key", default=None)
    s.set_defaults(func=cmd_serve)
    m = sub.add_parser("model-backend", help="run the simulated model service")
    m.add_argument("--config", default=None)
    m.add_argument("--host", default="127.0.0.1")
    m.add_argument("--port", type=int, default=8090)
    m.add_argument("--ready-file", default=None, help="write the bound port here once listening")
    m.add_argument("--latency-median-ms", type=float, default=None)
    m.add_argument("--latency-p99-ms", type=float, default=None)
    m.add_argument("--cpu-ms", type=float, default=None)
    m.add_argument("--error-rate", type=float, default=None)
    m.add_argument("--response-bytes", type=int, default=None)
    m.add_argument("--seed", type=int, default=None)
    m.set_defaults(func=cmd_model_backend)
    a = sub.add_parser("archive", help="run the archival/purge job")
    _common(a)
    a.add_argument("--now", action="store_true", help="run one pass immediately and exit")
    a.set_defaults(func=cmd_archive)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except (StartupError, ConfigError) as exc:
        print(f"reference-runtime: error: {exc}", file=sys.stderr, flush=True)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
