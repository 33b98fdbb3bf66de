"""API key: from ``--api-key``/``MOTHERBOX_API_KEY``, else generated once per state folder."""

from __future__ import annotations

import hmac
import os
import secrets
from pathlib import Path

from starlette.datastructures import Headers

from .errors import ApiError

KEY_FILE = "api_key"


def key_path(state_dir: Path) -> Path:
    return state_dir / KEY_FILE


def write_key(state_dir: Path, key: str) -> Path:
    """Write with mode 0600 from the start (no window where others could read it)."""
    state_dir.mkdir(parents=True, exist_ok=True)
    path = key_path(state_dir)
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(key + "\n")
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)
    return path


def resolve_key(state_dir: Path, configured: str | None) -> tuple[str, bool]:
    """Return (key, generated). A configured key is also written so the harness can read it."""
    if configured:
        write_key(state_dir, configured)
        return configured, False
    path = key_path(state_dir)
    if path.exists():
        existing = path.read_text().strip()
        if existing:
            return existing, False
    key = "mbx_" + secrets.token_urlsafe(24)
    write_key(state_dir, key)
    return key, True


class KeyChecker:
    def __init__(self, key: str) -> None:
        self._key = key.encode()

    def check(self, headers: Headers, *, bearer_only: bool = False) -> None:
        """The key from ``X-API-Key`` or ``Authorization: Bearer``; with ``bearer_only`` (the
        spec's admin operation) only the latter counts."""
        supplied = None if bearer_only else headers.get("x-api-key")
        if supplied is None:
            auth = headers.get("authorization", "")
            if auth[:7].lower() == "bearer ":
                supplied = auth[7:].strip()
        if not supplied:
            wanted = "Authorization: Bearer" if bearer_only else "X-API-Key or Authorization: Bearer"
            raise ApiError(401, "unauthorized", f"missing API key ({wanted})")
        if not hmac.compare_digest(supplied.encode(errors="replace"), self._key):
            raise ApiError(401, "unauthorized", "invalid API key")
