"""The one egress policy of every HTTP client the harness opens (setup steps, health probes, the
metrics scrape, the Locust mix): which URLs may be contacted, with which headers, and how.

- **Loopback unless ``--allow-remote``.** The target's base URL is checked once
  (:func:`check_target`); every request to the target is built from it with :func:`join` and must
  stay at its origin (scheme, host, port). Any other URL (a ``monitor.metrics_url``) must be on
  loopback, or on the target's own host with ``--allow-remote``: refused before any connection.
- **Redirects are never followed.** A 3xx answer is the answer (its ``Location`` is reported,
  not visited), so no request is ever sent to an origin the policy did not check.
- **Credentials stay with the target.** The headers of a run (the API key, ``Authorization``,
  the scenario's ``target.headers``) are sent to the target's origin only; a request to any
  other origin carries none of them (:meth:`Egress.headers_for`).
- **No proxies.** Requests go straight to the checked host (``http_proxy`` and friends are
  ignored): a proxy would be another host, receiving the key.
- **Well-formed URLs only.** http(s), a host, a numeric port, no user info, no whitespace or
  control characters: anything else is an :class:`EgressError` naming the field, never a
  traceback from deep inside an HTTP library.

The Locust process applies the same rules with its own client (``max_redirects = 0``, relative
paths from the plan's target); everything in the harness CLI process goes through :meth:`Egress.request`.
"""

from __future__ import annotations

import http.client
import ipaddress
import re
from dataclasses import dataclass
from urllib.parse import SplitResult, urlsplit

LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback"})
USER_AGENT = "motherbox-perf-harness"
_BAD_CHARS = re.compile(r"[\x00-\x20\x7f]")  # what HTTP request targets cannot carry
_DEFAULT_PORTS = {"http": 80, "https": 443}

Origin = tuple[str, str, int]


def _msg(field: str, text: str) -> str:
    """``field: text``; just ``text`` where the caller names the field itself (schema errors)."""
    return f"{field}: {text}" if field else text


class EgressError(ValueError):
    """A URL the policy refuses or cannot parse; the message names the field. Raised before any
    connection is attempted."""


class TransportError(OSError):
    """The request was allowed but failed on the wire (refused, timed out, malformed answer)."""


def parse_url(url: str, field: str) -> SplitResult:
    """``url`` split, if it is an absolute http(s) URL the harness may use (EgressError if not)."""
    if not isinstance(url, str) or not url:
        raise EgressError(_msg(field, "empty URL"))
    if _BAD_CHARS.search(url):
        raise EgressError(_msg(field, f"{url!r} contains whitespace or control characters"))
    split = urlsplit(url)
    scheme = split.scheme.lower()
    if scheme not in _DEFAULT_PORTS:
        if "://" not in url:
            raise EgressError(_msg(field, f"{url!r} is not a URL: give the scheme, e.g. http://{url}"))
        raise EgressError(_msg(field, f"{url!r}: only http:// and https:// URLs are accepted"))
    if "@" in split.netloc:
        raise EgressError(_msg(field, f"{url!r}: user info (user@host) is not accepted in a URL"))
    if not split.hostname:
        raise EgressError(_msg(field, f"{url!r} has no host"))
    try:
        split.port  # noqa: B018 - urllib raises on a bad port only when it is read
    except ValueError:
        raise EgressError(_msg(field, f"{url!r} has an invalid port")) from None
    return split


def origin(url: str, field: str = "URL") -> Origin:
    split = parse_url(url, field)
    scheme = split.scheme.lower()
    return scheme, (split.hostname or "").lower(), split.port or _DEFAULT_PORTS[scheme]


def is_loopback_host(host: str) -> bool:
    host = host.lower().strip("[]")
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def is_loopback(url: str) -> bool:
    """True when ``url`` is well formed and its host is a loopback address or name."""
    try:
        return is_loopback_host(parse_url(url, "URL").hostname or "")
    except EgressError:
        return False


def base_url(url: str, field: str = "target") -> str:
    """A target's base URL, normalised (no trailing ``/``): http(s), a host, an optional path
    prefix; no query, no fragment, and not ending in ``/v1`` (the harness adds ``/v1/...`` paths
    itself, so ``http://host:8080/v1`` would probe ``/v1/v1/health``)."""
    split = parse_url(url, field)
    if split.query or split.fragment or url.rstrip().endswith(("?", "#")):
        raise EgressError(_msg(field, f"{url!r}: a target URL takes no query or fragment"))
    path = split.path.rstrip("/")
    if path.lower().endswith("/v1"):
        root = f"{split.scheme}://{split.netloc}{path[:-3]}"
        hint = f"give the service root ({root}); the harness adds the /v1/... paths itself"
        raise EgressError(_msg(field, f"{url!r} ends in /v1: {hint}"))
    return f"{split.scheme.lower()}://{split.netloc}{path}"


def check_path(path: str, field: str) -> str:
    """A request path of a scenario (mix, setup, health probe): ``/`` first, no whitespace or
    control characters, so that it can only ever be appended to the target's base URL."""
    if not path.startswith("/") or path.startswith("//"):
        raise EgressError(_msg(field, f"{path!r} must start with a single / (a path on the target)"))
    if _BAD_CHARS.search(path):
        raise EgressError(_msg(field, f"{path!r} contains whitespace or control characters"))
    return path


def join(base: str, path: str, field: str = "path") -> str:
    """``base`` + ``path``, refused unless the result is at ``base``'s origin."""
    check_path(path, field)
    url = base.rstrip("/") + path
    if origin(url, field) != origin(base, field):
        raise EgressError(_msg(field, f"{path!r} would leave the target {base}"))
    return url


def check_target(url: str, allow_remote: bool, field: str = "target") -> Egress:
    """The policy of a run against ``url``: well formed, loopback unless ``allow_remote``."""
    base = base_url(url, field)
    host = urlsplit(base).hostname or ""
    if not allow_remote and not is_loopback_host(host):
        hint = "pass --allow-remote if you own that service and mean it"
        raise EgressError(_msg(field, f"refusing to send load to non-loopback target {host!r}: {hint}"))
    return Egress(target=base, allow_remote=allow_remote)


@dataclass(frozen=True)
class Reply:
    status: int
    body: bytes
    location: str | None = None  # a redirect's Location, reported and never followed


@dataclass(frozen=True)
class Egress:
    """The policy of one target. ``target`` is its base URL, already allowed by
    :func:`check_target` (or started by the harness on loopback); ``None``: no target, so only
    loopback URLs, and no credentials anywhere."""

    target: str | None = None
    allow_remote: bool = False

    def same_origin(self, url: str) -> bool:
        return self.target is not None and origin(url) == origin(self.target)

    def check(self, url: str, field: str) -> SplitResult:
        """``url`` split if this policy lets the harness contact it; EgressError otherwise."""
        split = parse_url(url, field)
        if self.same_origin(url):
            return split
        host = (split.hostname or "").lower()
        if is_loopback_host(host):
            return split
        target_host = urlsplit(self.target).hostname if self.target is not None else None
        if self.allow_remote and target_host is not None and host == target_host.lower():
            return split
        hint = "only loopback, or the target's own host with --allow-remote"
        raise EgressError(_msg(field, f"refusing non-loopback host {host!r}: {hint}"))

    def headers_for(self, url: str, headers: dict[str, str]) -> dict[str, str]:
        """The run's headers for a request to ``url``: all of them at the target's origin, none
        elsewhere (they carry the API key)."""
        return dict(headers) if self.same_origin(url) else {}

    def request(
        self,
        method: str,
        url: str,
        *,
        field: str,
        headers: dict[str, str] | None = None,
        body: bytes | None = None,
        timeout: float = 10.0,
        limit: int = 50_000_000,
    ) -> Reply:
        """One request, no redirects followed, no proxy; at most ``limit`` bytes of body read.
        EgressError (before connecting) or TransportError."""
        split = self.check(url, field)
        sent = {"User-Agent": USER_AGENT, **self.headers_for(url, headers or {})}
        try:
            return _send(split, method, sent, body, timeout, limit)
        except (ValueError, TypeError) as exc:  # http.client refuses e.g. a header value with a newline
            raise EgressError(_msg(field, f"cannot send {method} {url}: {exc}")) from None


def _send(
    split: SplitResult, method: str, headers: dict[str, str], body: bytes | None, timeout: float, limit: int
) -> Reply:
    host, port = split.hostname or "", split.port
    conn: http.client.HTTPConnection
    if split.scheme.lower() == "https":
        conn = http.client.HTTPSConnection(host, port, timeout=timeout)
    else:
        conn = http.client.HTTPConnection(host, port, timeout=timeout)
    target = (split.path or "/") + (f"?{split.query}" if split.query else "")
    try:
        conn.request(method, target, body=body, headers=headers)
        response = conn.getresponse()
        data = response.read(limit)
        return Reply(int(response.status), data, response.getheader("Location"))
    except http.client.HTTPException as exc:
        raise TransportError(f"{type(exc).__name__}: {exc}") from exc
    finally:
        conn.close()
