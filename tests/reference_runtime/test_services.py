"""The composition root's services: built once, hooks wired (metrics, cache invalidation)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from reference_runtime.config import load_settings
from reference_runtime.services import Services, build_services


def _services(tmp: Path, **switches: bool) -> Services:
    settings = load_settings(
        None, {"state_dir": str(tmp), "archive": {"enabled": False}, "switches": switches}, environ={}
    )
    return build_services(settings, "http://127.0.0.1:9")


def _requests_seen(s: Services) -> float:
    value = s.telemetry.registry.get_sample_value(
        "motherbox_request_duration_seconds_count", {"method": "GET", "route": "/r", "status": "200"}
    )
    return value or 0.0


def test_a_changed_record_invalidates_its_cache_entries(tmp_path: Path) -> None:
    s = _services(tmp_path)

    async def main() -> object:
        await s.cache.set("project:p1", {"name": "old"}, tags=("project:p1",))
        assert s.repo.on_change is not None
        s.repo.on_change("project", "p1")  # what the repo calls after a write
        return await s.cache.get("project:p1")

    try:
        assert asyncio.run(main()) is None
    finally:
        s.cache.close()


def test_request_observations_are_batched_only_with_the_switch(tmp_path: Path) -> None:
    batched = _services(tmp_path / "on", batching=True)
    direct = _services(tmp_path / "off", batching=False)

    async def main() -> tuple[float, float, float]:
        for s in (batched, direct):
            s.observe_request("GET", "/r", 200, 0.01)
        before_flush = _requests_seen(batched)
        await batched.metrics_batcher.flush()
        return before_flush, _requests_seen(batched), _requests_seen(direct)

    try:
        assert asyncio.run(main()) == (0.0, 1.0, 1.0)
    finally:
        batched.cache.close()
        direct.cache.close()


def test_each_runtime_gets_its_own_owner_and_registry(tmp_path: Path) -> None:
    a, b = _services(tmp_path / "a"), _services(tmp_path / "b")
    try:
        assert a.owner != b.owner and a.telemetry.registry is not b.telemetry.registry
        assert a.bus.registry is a.registry and a.telemetry.sources.store is a.store
    finally:
        a.cache.close()
        b.cache.close()
