"""A throwaway local PostgreSQL: ``initdb`` into a temp folder, ``postgres`` on a free loopback
port, one database per caller, stopped (``pg_ctl stop -m fast``) and removed on exit.

Used by the tests (one server per session, a fresh database per test), ``make demo-postgres``
and the database bench. As root the server runs as the ``postgres`` OS user (initdb refuses
root): ``setpriv`` switches user and asks the kernel to stop the server if we die first
(``--pdeathsig``), and PostgreSQL itself shuts down once its data folder is removed, so nothing
is left running. Trust authentication, listening on 127.0.0.1 only; fsync stays on.

CLI::

    python -m reference_runtime.store.pgserver            # print a URL, serve until Ctrl-C
    python -m reference_runtime.store.pgserver -- CMD...  # run CMD with MOTHERBOX_DATABASE_URL set

With ``$MOTHERBOX_DATABASE_URL`` already set, the CLI starts nothing and uses it.
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import contextlib
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType

try:
    import asyncpg
except ImportError:  # the ``postgres`` extra; only creating databases needs it
    asyncpg = None

#: The variable the runtime, the tests and the demo read a database URL from.
DATABASE_URL_ENV = "MOTHERBOX_DATABASE_URL"
#: Where to look for initdb/postgres/pg_ctl when ``pg_config`` is not on PATH (Debian layout).
PG_BIN_ENV = "MOTHERBOX_PG_BIN"
DEBIAN_PG_ROOT = Path("/usr/lib/postgresql")
START_TIMEOUT_S = 30.0
LAUNCH_ATTEMPTS = 3
_DB_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


class PgUnavailable(RuntimeError):
    """No local PostgreSQL can be started here (binaries, OS user, or the start failed)."""


def find_bin_dir() -> Path:
    """The folder holding initdb, postgres and pg_ctl (``$MOTHERBOX_PG_BIN``, PATH, or the
    newest ``/usr/lib/postgresql/<version>/bin``)."""
    explicit = os.environ.get(PG_BIN_ENV)
    candidates = [Path(explicit)] if explicit else []
    on_path = shutil.which("initdb")
    if on_path and not explicit:
        candidates.append(Path(on_path).parent)
    if DEBIAN_PG_ROOT.is_dir() and not explicit:
        versions = sorted(DEBIAN_PG_ROOT.iterdir(), key=lambda p: _version_key(p.name), reverse=True)
        candidates += [v / "bin" for v in versions]
    for folder in candidates:
        if all((folder / tool).is_file() for tool in ("initdb", "postgres", "pg_ctl", "pg_isready")):
            return folder
    where = f"in ${PG_BIN_ENV}={explicit}" if explicit else "(set $MOTHERBOX_PG_BIN)"
    raise PgUnavailable(f"PostgreSQL binaries (initdb, postgres, pg_ctl, pg_isready) not found {where}")


def _version_key(name: str) -> tuple[int, ...]:
    return tuple(int(p) for p in re.findall(r"\d+", name)) or (0,)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class PgServer:
    """One throwaway server. ``with PgServer() as pg: url = pg.create_database("t1")``."""

    def __init__(self, os_user: str = "postgres") -> None:
        self.bin_dir = find_bin_dir()
        self.port = 0
        self.root: Path | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._db_user = os_user if os.geteuid() == 0 else None

    # -- lifecycle ---------------------------------------------------------------------------
    def start(self) -> PgServer:
        self.root = Path(tempfile.mkdtemp(prefix="mbx-pg-"))
        try:
            self._initdb()
            for attempt in range(1, LAUNCH_ATTEMPTS + 1):
                self._launch()
                try:
                    self._wait_ready()
                    break
                except PgUnavailable:
                    # The free port was taken between our check and postgres' bind: another one.
                    if attempt == LAUNCH_ATTEMPTS or "already in use" not in self._log_tail():
                        raise
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Fast shutdown (disconnect clients, checkpoint), then remove the folder."""
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None and self.root is not None:
            with contextlib.suppress(PgUnavailable, subprocess.SubprocessError, OSError):
                self._run_tool("pg_ctl", "stop", "-D", str(self.data_dir), "-m", "fast", "-w", timeout=30)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)
        root, self.root = self.root, None
        if root is not None:
            shutil.rmtree(root, ignore_errors=True)

    def __enter__(self) -> PgServer:
        return self.start()

    def __exit__(
        self, _t: type[BaseException] | None, _e: BaseException | None, _tb: TracebackType | None
    ) -> None:
        self.stop()

    @property
    def data_dir(self) -> Path:
        assert self.root is not None, "server not started"
        return self.root / "data"

    @property
    def log_path(self) -> Path:
        assert self.root is not None, "server not started"
        return self.root / "postgres.log"

    # -- databases ---------------------------------------------------------------------------
    def url(self, database: str = "postgres") -> str:
        return f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/{database}"

    def create_database(self, name: str) -> str:
        """A new empty database; returns its SQLAlchemy URL."""
        return create_database(self.url(), name)

    # -- internals ---------------------------------------------------------------------------
    def _as_db_user(self, argv: list[str], pdeathsig: bool = False) -> list[str]:
        if self._db_user is None:
            return argv
        extra = ["--pdeathsig", "SIGINT"] if pdeathsig else []  # SIGINT = fast shutdown
        user = self._db_user
        return ["setpriv", "--reuid", user, "--regid", user, "--init-groups", *extra, "--", *argv]

    def _run_tool(self, tool: str, *args: str, timeout: float) -> None:
        argv = self._as_db_user([str(self.bin_dir / tool), *args])
        # cwd: the server's own folder, which the postgres user can enter (ours may be private).
        done = subprocess.run(
            argv, cwd=self.root, capture_output=True, text=True, timeout=timeout, check=False
        )
        if done.returncode != 0:
            raise PgUnavailable(f"{tool} failed ({done.returncode}): {done.stderr.strip()[-800:]}")

    def _initdb(self) -> None:
        assert self.root is not None
        if self._db_user is not None:
            try:
                entry = pwd.getpwnam(self._db_user)
            except KeyError:
                raise PgUnavailable(f"running as root and there is no {self._db_user!r} OS user") from None
            os.chown(self.root, entry.pw_uid, entry.pw_gid)
        # --no-sync only skips flushing initdb's own template files; the server runs with fsync on.
        self._run_tool(
            "initdb",
            *("-D", str(self.data_dir), "-U", "postgres", "-A", "trust", "-E", "UTF8"),
            *("--no-locale", "--no-sync", "--no-instructions"),
            timeout=120,
        )

    def _launch(self) -> None:
        assert self.root is not None
        self.port = free_port()
        argv = [str(self.bin_dir / "postgres"), "-D", str(self.data_dir), "-k", str(self.root)]
        argv += ["-p", str(self.port), "-c", "listen_addresses=127.0.0.1", "-c", "fsync=on"]
        argv += ["-c", "max_connections=200"]
        with self.log_path.open("ab") as log:
            self._proc = subprocess.Popen(
                self._as_db_user(argv, pdeathsig=True),
                cwd=self.root,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,  # Ctrl-C in a terminal reaches us, not the server directly
            )

    def _wait_ready(self) -> None:
        assert self._proc is not None
        deadline = time.monotonic() + START_TIMEOUT_S
        isready = [str(self.bin_dir / "pg_isready"), "-q", "-h", "127.0.0.1", "-p", str(self.port)]
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise PgUnavailable(f"postgres exited with {self._proc.returncode}: {self._log_tail()}")
            if subprocess.run(isready, check=False, timeout=10).returncode == 0:
                return
            time.sleep(0.1)
        raise PgUnavailable(f"postgres not ready after {START_TIMEOUT_S:.0f}s: {self._log_tail()}")

    def _log_tail(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-800:].strip()
        except OSError:
            return "(no log)"


# -- databases on any server ---------------------------------------------------------------------
def _check_name(name: str) -> None:
    if not _DB_NAME.match(name):  # names go into DDL text: allow only plain identifiers
        raise ValueError(f"database name {name!r}: use [a-z0-9_], starting with a letter")


def _with_database(url: str, database: str) -> str:
    """``url`` pointing at another database on the same server (query string kept)."""
    base, sep, query = url.partition("?")
    return f"{base.rsplit('/', 1)[0]}/{database}{sep}{query}"


async def _admin(url: str, sql: str) -> None:
    if asyncpg is None:
        raise PgUnavailable("asyncpg is not installed (pip install -e '.[postgres]')")
    dsn = _with_database(url, "postgres").replace("postgresql+asyncpg://", "postgresql://", 1)
    conn = await asyncpg.connect(dsn, timeout=30)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


def _run_admin(url: str, sql: str) -> None:
    """Synchronously, also from inside a running event loop (on a thread of its own then)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        asyncio.run(_admin(url, sql))
        return
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        pool.submit(asyncio.run, _admin(url, sql)).result()


def create_database(server_url: str, name: str) -> str:
    """``CREATE DATABASE name`` on the server of ``server_url`` (any database of it; the admin
    connection goes to ``postgres``); returns the new database's URL."""
    _check_name(name)
    _run_admin(server_url, f'CREATE DATABASE "{name}"')
    return _with_database(server_url, name)


def drop_database(server_url: str, name: str) -> None:
    _check_name(name)
    _run_admin(server_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


# -- CLI -----------------------------------------------------------------------------------------
def _serve_forever(url: str) -> int:
    print(f"{DATABASE_URL_ENV}={url}", flush=True)
    print("PostgreSQL running; Ctrl-C stops it and removes its folder.", file=sys.stderr, flush=True)
    signals = {signal.SIGINT, signal.SIGTERM}
    try:
        signal.pthread_sigmask(signal.SIG_BLOCK, signals)
        signal.sigwait(signals)
    except KeyboardInterrupt:
        pass
    return 0


def _run_child(command: Sequence[str], url: str) -> int:
    env = {**os.environ, DATABASE_URL_ENV: url}
    try:
        return subprocess.run(list(command), env=env, check=False).returncode
    except FileNotFoundError:
        print(f"pgserver: command not found: {command[0]}", file=sys.stderr)
        return 2


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m reference_runtime.store.pgserver", description=__doc__)
    parser.add_argument("--database", default="motherbox", help="database to create (default motherbox)")
    parser.add_argument("command", nargs=argparse.REMAINDER, help="-- CMD ARGS... to run with the URL")
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    existing = os.environ.get(DATABASE_URL_ENV)
    if existing:
        print(f"pgserver: using ${DATABASE_URL_ENV} (no local server started)", file=sys.stderr)
        return _run_child(command, existing) if command else _serve_forever(existing)
    try:
        with PgServer() as pg:
            url = pg.create_database(args.database)
            where = f"127.0.0.1:{pg.port} (folder {pg.root})"
            print(f"pgserver: PostgreSQL on {where}, database {args.database}", file=sys.stderr, flush=True)
            return _run_child(command, url) if command else _serve_forever(url)
    except Exception as exc:  # one line, no traceback: the server could not be had
        print(f"pgserver: error: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 3


if __name__ == "__main__":
    raise SystemExit(main())
