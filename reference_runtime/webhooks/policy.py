"""What a webhook is: its events, where it may go, how it is signed. No I/O; the config imports it."""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
from urllib.parse import urlsplit

from ..store.repo import AGENT_EVENT, PROJECT_EVENT

EVENTS: tuple[str, ...] = (PROJECT_EVENT, AGENT_EVENT)
SECRET_MIN = 16
SECRET_MAX = 256
URL_MAX = 2048
SIGNATURE_HEADER = "X-MotherBox-Signature"
EVENT_HEADER = "X-MotherBox-Event"
EVENT_ID_HEADER = "X-MotherBox-Event-Id"
ATTEMPT_HEADER = "X-MotherBox-Delivery-Attempt"


def check_destination(url: str, allow_remote: bool) -> str | None:
    """Why ``url`` may not receive webhooks, or None. Loopback only unless ``allow_remote``."""
    if len(url) > URL_MAX:
        return f"longer than {URL_MAX} characters"
    try:
        parts = urlsplit(url)
        host = parts.hostname
        parts.port  # noqa: B018 - raises ValueError for a port out of range
    except ValueError as exc:
        return f"not a valid URL ({exc})"
    if parts.scheme not in ("http", "https") or not host:
        return "must be an absolute http:// or https:// URL"
    if parts.username is not None or parts.password is not None:
        return "must not carry credentials (use the signing secret)"
    if parts.fragment:
        return "must not have a #fragment"
    if allow_remote or _is_loopback(host):
        return None
    return f"host {host!r} is not loopback (set webhooks.allow_remote: true to allow remote receivers)"


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """``X-MotherBox-Signature``: ``t=<unix>,v1=<hex HMAC-SHA256(secret, "<t>." + body)>`` (Stripe)."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"


def verify(secret: str, header: str, body: bytes, now: int, tolerance_s: int = 300) -> bool:
    """What a receiver does: recompute, compare in constant time, reject stale timestamps."""
    fields = dict(part.split("=", 1) for part in header.split(",") if "=" in part)
    stamp = fields.get("t", "")
    if not stamp.isdigit() or abs(now - int(stamp)) > tolerance_s:
        return False
    expected = signature(secret, int(stamp), body).split("v1=", 1)[1]
    return hmac.compare_digest(expected, fields.get("v1", ""))
