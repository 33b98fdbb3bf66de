"""Secrets never reach a file: what the run folder records of a scenario, with its secrets redacted.

The manifest keeps where a key comes from (``{env: NAME}``, ``{file: PATH}``), never the key: a
literal ``api_key: {value: ...}`` becomes ``"(redacted)"``, and so does the value of every header
that carries a credential (``Authorization``, ``X-API-Key``, the scenario's own ``api_key.header``,
cookies, and any name with key/token/secret/auth/password/session in it) in ``target.headers``,
``mix[].headers`` and ``setup[].headers``.
"""

from __future__ import annotations

import copy
import re
from typing import Any

REDACTED = "(redacted)"
_SECRET_NAME = re.compile(r"key|token|secret|auth|passw|session|cookie|credential", re.IGNORECASE)


def is_secret_header(name: str, extra: frozenset[str] = frozenset()) -> bool:
    return name.lower() in extra or _SECRET_NAME.search(name) is not None


def _redact_headers(headers: Any, extra: frozenset[str]) -> None:
    if isinstance(headers, dict):
        for name in list(headers):
            if is_secret_header(str(name), extra) and headers[name] is not None:
                headers[name] = REDACTED


def redact_scenario(scenario: dict[str, Any]) -> dict[str, Any]:
    """A copy of a scenario dump (``ResolvedScenario.dump()``) with its secrets redacted."""
    data = copy.deepcopy(scenario)
    target = data.get("target")
    extra: frozenset[str] = frozenset()
    if isinstance(target, dict):
        api_key = target.get("api_key")
        if isinstance(api_key, dict):
            if api_key.get("value") is not None:
                api_key["value"] = REDACTED
            if isinstance(api_key.get("header"), str):
                extra = frozenset({api_key["header"].lower()})
        _redact_headers(target.get("headers"), extra)
    for section in ("mix", "setup"):
        items = data.get(section)
        if isinstance(items, list):
            for item in items:
                if isinstance(item, dict):
                    _redact_headers(item.get("headers"), extra)
    return data
