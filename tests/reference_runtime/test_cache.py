"""Layered cache: per-layer hits/misses, promotion, TTL (fake clock), LRU by bytes, invalidation."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from reference_runtime.cache import CacheConfig, LayeredCache, record_tag


class FakeClock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class Loader:
    def __init__(self, value: Any = None) -> None:
        self.calls = 0
        self.value = value

    async def __call__(self) -> Any:
        self.calls += 1
        return self.value if self.value is not None else {"n": self.calls}


def run(coro):
    return asyncio.run(coro)


def counts(cache: LayeredCache) -> dict[str, tuple[int, int]]:
    return {name: (st.hits, st.misses) for name, st in cache.stats().layers.items()}


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def cache(tmp_path: Path, clock: FakeClock):
    c = LayeredCache(CacheConfig(l3_dir=tmp_path), clock=clock)
    yield c
    c.close()


def test_miss_then_l1_hit(cache: LayeredCache):
    load = Loader()

    async def main():
        first = await cache.get_or_load("q", load, agent_id="a1")
        second = await cache.get_or_load("q", load, agent_id="a1")
        return first, second

    assert run(main()) == ({"n": 1}, {"n": 1})
    assert load.calls == 1
    assert counts(cache) == {"l1": (1, 1), "l2": (0, 1), "l3": (0, 1)}
    assert cache.stats().loads == 1


def test_l2_hit_promotes_into_other_agents_l1(cache: LayeredCache):
    load = Loader()

    async def main():
        await cache.get_or_load("k", load, agent_id="a1")
        await cache.get_or_load("k", load, agent_id="a2")  # a2 L1 miss, L2 hit -> promote
        await cache.get_or_load("k", load, agent_id="a2")  # a2 L1 hit

    run(main())
    assert load.calls == 1
    assert counts(cache)["l1"] == (1, 2)
    assert counts(cache)["l2"] == (1, 1)
    assert set(cache.bytes_by_agent()) == {"a1", "a2"}
    assert cache.bytes_by_agent()["a2"] > 0


def test_l3_survives_restart_and_promotes(tmp_path: Path, clock: FakeClock):
    first = LayeredCache(CacheConfig(l3_dir=tmp_path), clock=clock)
    run(first.get_or_load("hist", Loader({"rows": [1, 2, 3]})))
    first.close()
    second = LayeredCache(CacheConfig(l3_dir=tmp_path), clock=clock)
    load = Loader()

    async def main():
        a = await second.get_or_load("hist", load, agent_id="a1")
        b = await second.get_or_load("hist", load, agent_id="a1")
        return a, b

    assert run(main()) == ({"rows": [1, 2, 3]}, {"rows": [1, 2, 3]})
    assert load.calls == 0
    assert counts(second) == {"l1": (1, 1), "l2": (0, 1), "l3": (1, 0)}
    assert second.stats().layers["l2"].entries == 1  # promoted
    second.close()


def test_ttl_expiry_per_layer(cache: LayeredCache, clock: FakeClock):
    load = Loader()

    async def get():
        return await cache.get_or_load("k", load, agent_id="a1")

    run(get())
    clock.advance(301)  # past L1's 5 min
    run(get())
    assert counts(cache)["l1"] == (0, 2)
    assert counts(cache)["l2"] == (1, 1)
    clock.advance(3601)  # past L2's 1 h: L3 still valid
    run(get())
    assert counts(cache)["l3"] == (1, 1)
    clock.advance(86_401)  # past L3's 24 h
    run(get())
    assert load.calls == 2
    assert counts(cache)["l3"] == (1, 2)
    assert cache.stats().layers["l1"].expirations >= 1


def test_lru_eviction_by_bytes():
    clock = FakeClock()
    value = {"payload": "x" * 900}  # ~1 KB each
    cache = LayeredCache(CacheConfig(l2_max_bytes=3500), clock=clock)

    async def main():
        for key in ["a", "b", "c"]:
            await cache.get_or_load(key, Loader(value))
        await cache.get_or_load("a", Loader(value))  # touch a: b is now least recently used
        await cache.get_or_load("d", Loader(value))  # over budget: evict b

    run(main())
    st = cache.stats().layers["l2"]
    assert st.evictions == 1
    assert st.entries == 3
    assert st.bytes <= 3500
    assert run(cache.get("b")) is None
    assert run(cache.get("a")) == value


def test_value_bigger_than_layer_is_not_cached_there():
    cache = LayeredCache(CacheConfig(l1_max_bytes=100, l2_max_bytes=10_000))
    run(cache.get_or_load("big", Loader({"p": "y" * 500}), agent_id="a1"))
    assert cache.stats().layers["l1"].entries == 0
    assert cache.stats().layers["l2"].entries == 1
    assert cache.stats().uncacheable == 1


def test_tag_invalidation_across_all_layers_and_restart(tmp_path: Path, clock: FakeClock):
    cache = LayeredCache(CacheConfig(l3_dir=tmp_path), clock=clock)
    tag = record_tag("agent", "a1")
    load = Loader()

    async def main():
        await cache.get_or_load("profile:a1", load, agent_id="a1", tags=[tag])
        await cache.get_or_load("other", Loader({"o": 1}), agent_id="a1", tags=["project:p"])
        assert cache.on_record_changed("agent", "a1") == 2  # L1 + L2 copies dropped now
        return await cache.get_or_load("profile:a1", load, agent_id="a1", tags=[tag])

    assert run(main()) == {"n": 2}  # L3 copy was stale too: reloaded
    assert run(cache.get("other", agent_id="a1")) == {"o": 1}  # untouched tag survives
    # Invalidate again, then restart: the persisted tag version keeps the old L3 row stale.
    cache.invalidate_tag(tag)
    cache.close()
    again = LayeredCache(CacheConfig(l3_dir=tmp_path), clock=clock)
    assert run(again.get("profile:a1")) is None
    again.close()


def test_record_change_invalidates_a_project_key(cache: LayeredCache):
    load = Loader()
    tags = [record_tag("project", "p1")]
    run(cache.get_or_load("project:p1", load, agent_id="a1", tags=tags))
    assert cache.on_record_changed("project", "p1") == 2  # L1 + L2 now; L3 is stale by version
    assert run(cache.get("project:p1")) is None
    run(cache.get_or_load("project:p1", load, agent_id="a1", tags=tags))
    assert load.calls == 2
    assert cache.stats().layers["l1"].invalidations == 1


def test_invalidation_during_load_is_not_served_stale(cache: LayeredCache):
    gate = asyncio.Event

    async def main():
        started, release = gate(), gate()

        async def slow_loader():
            started.set()
            await release.wait()
            return {"v": "old"}

        task = asyncio.create_task(cache.get_or_load("k", slow_loader, tags=["agent:a1"]))
        await started.wait()
        cache.invalidate_tag("agent:a1")
        release.set()
        assert await task == {"v": "old"}  # the caller gets what it loaded...
        return await cache.get_or_load("k", Loader({"v": "new"}), tags=["agent:a1"])

    assert run(main()) == {"v": "new"}  # ...but it was never served from the cache


def test_concurrent_misses_share_one_load(cache: LayeredCache):
    calls = 0

    async def loader():
        nonlocal calls
        calls += 1
        await asyncio.sleep(0.01)
        return [calls]

    async def main():
        return await asyncio.gather(*(cache.get_or_load("k", loader) for _ in range(5)))

    assert run(main()) == [[1]] * 5
    assert calls == 1
    assert cache.stats().coalesced == 4


def test_loader_error_propagates_and_is_not_cached(cache: LayeredCache):
    async def boom():
        raise RuntimeError("db down")

    with pytest.raises(RuntimeError):
        run(cache.get_or_load("k", boom))
    assert run(cache.get_or_load("k", Loader({"ok": True}))) == {"ok": True}


def test_disabled_goes_to_loader_every_time(tmp_path: Path):
    cache = LayeredCache(CacheConfig(enabled=False, l3_dir=tmp_path))
    load = Loader()

    async def main(cache: LayeredCache = cache, times: int = 4):
        for _ in range(times):
            await cache.get_or_load("k", load, agent_id="a1")

    run(main())
    st = cache.stats()
    assert load.calls == 4
    assert st.enabled is False
    assert (st.loads, st.bypassed) == (4, 4)
    assert all(layer.hits == 0 and layer.entries == 0 for layer in st.layers.values())
    cache.close()
    enabled = LayeredCache(CacheConfig(l3_dir=tmp_path))  # nothing was persisted while disabled
    run(main(enabled, 2))
    assert load.calls == 5
    enabled.close()


def test_returned_values_are_copies(cache: LayeredCache):
    value = run(cache.get_or_load("k", Loader({"list": [1]})))
    value["list"].append(2)
    assert run(cache.get("k")) == {"list": [1]}


def test_l3_io_runs_on_the_worker_thread_not_the_loop(tmp_path: Path, clock: FakeClock, monkeypatch):
    import threading

    import diskcache

    threads: set[str] = set()
    for name in ("get", "set", "delete"):
        original = getattr(diskcache.Cache, name)

        def spy(self, *args, _original=original, **kwargs):
            threads.add(threading.current_thread().name)
            return _original(self, *args, **kwargs)

        monkeypatch.setattr(diskcache.Cache, name, spy)
    cache = LayeredCache(CacheConfig(l3_dir=tmp_path), clock=clock)

    async def main():
        await cache.get_or_load("k", Loader({"p": 1}), tags=[record_tag("agent", "a1")])
        cache.on_record_changed("agent", "a1")  # the L3 row is now stale: read, then deleted
        await cache.get_or_load("k", Loader({"p": 2}))
        await cache.drain()

    run(main())
    cache.close()
    assert threads and all(t.startswith("cache-l3") for t in threads), threads


def test_full_disk_queue_drops_l3_writes_not_requests(tmp_path: Path, clock: FakeClock):
    cache = LayeredCache(CacheConfig(l3_dir=tmp_path, l3_max_pending_writes=0), clock=clock)
    assert run(cache.get_or_load("k", Loader({"p": 1}))) == {"p": 1}
    assert cache.stats().l3_dropped_writes == 1
    assert cache.stats().layers["l2"].entries == 1
    cache.close()


def test_l3_eviction_by_bytes(tmp_path: Path, clock: FakeClock):
    cache = LayeredCache(CacheConfig(l3_dir=tmp_path, l3_max_bytes=200_000, l3_cull_every=10), clock=clock)

    async def main():
        for i in range(120):
            await cache.set(f"k{i}", {"p": "w" * 4000})
        await cache.drain()

    run(main())
    st = cache.stats().layers["l3"]
    assert st.evictions > 0
    assert st.entries < 120
    cache.close()


def test_stats_dict_has_hit_rates(cache: LayeredCache):
    run(cache.get_or_load("k", Loader(), agent_id="a"))
    run(cache.get_or_load("k", Loader(), agent_id="a"))
    run(cache.drain())
    d = cache.stats().as_dict()
    assert d["layers"]["l1"]["hit_rate"] == 0.5
    assert d["layers"]["l3"]["bytes"] > 0


def test_config_from_runtime_settings(tmp_path: Path):
    from types import SimpleNamespace

    section = SimpleNamespace(
        l1_bytes=1000, l1_ttl_s=1.0, l2_bytes=2000, l2_ttl_s=2.0, l3_bytes=3000, l3_ttl_s=3.0
    )
    cfg = CacheConfig.from_settings(section, enabled=False, l3_dir=tmp_path)
    assert (cfg.l1_max_bytes, cfg.l2_ttl_s, cfg.l3_max_bytes, cfg.enabled) == (1000, 2.0, 3000, False)
    assert CacheConfig.from_settings(object(), enabled=True, l3_dir=None).l2_max_bytes == 100 * 1024 * 1024


def test_waiter_loads_itself_when_the_load_it_joined_is_cancelled(cache: LayeredCache):
    """A command coalesced onto another command's model call must not inherit that command's
    timeout (a cancelled load): it loads on its own and gets a value."""

    async def slow() -> dict[str, str]:
        await asyncio.sleep(30)
        return {"v": "never"}

    async def main() -> Any:
        leader = asyncio.create_task(cache.get_or_load("k", slow))
        await asyncio.sleep(0.01)
        follower = asyncio.create_task(cache.get_or_load("k", Loader({"v": "own"})))
        await asyncio.sleep(0.01)
        leader.cancel()  # the leader's own timeout
        await asyncio.gather(leader, return_exceptions=True)
        return await asyncio.wait_for(follower, 5)

    assert asyncio.run(main()) == {"v": "own"}
