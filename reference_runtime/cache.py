"""Layered cache: L1 per agent, L2 shared, L3 persistent on disk (the guide's cache layers).

Lookup order L1 → L2 → L3 → loader. A hit in a lower layer is promoted into the layers above it;
a load is stored in every layer (L1 only when an ``agent_id`` is given, L3 unless
``persist=False``).

Design choices (and why)
------------------------
* Values are JSON-serializable and stored as **orjson bytes** in every layer: the size accounted
  is the real payload size, and callers can never mutate a cached value in place (each hit
  decodes a fresh copy; orjson decoding of a small record costs about a microsecond).
* L1/L2 are ``cachetools.TTLCache`` with ``getsizeof`` in bytes, so ``maxsize`` is a byte budget
  and eviction is least-recently-used by bytes. The timer is injectable (tests use a fake clock).
* L3 is ``diskcache.Cache`` (SQLite in WAL mode) under ``<state-dir>/cache``, 1 GB size limit.
  Its eviction order defaults to diskcache's ``least-recently-stored``, not ``least-recently-
  used``: in LRU mode every L3 *read* becomes a write transaction (access time update) –
  measured here 475 µs vs 43 µs per get. Hot entries live in L1/L2 (true LRU) anyway, so L3
  evicts by store time; ``l3_eviction_policy`` switches it back to LRU. Our own expiry
  timestamp (from the same injectable clock) is stored with each entry; diskcache's native
  expiry is set too, as a backstop that reclaims space. Automatic culling is off and the worker
  calls ``cull()`` every ``l3_cull_every`` writes, because that returns how many items it
  removed (L3 evictions).
* L3 IO never runs on the event loop. Measured on the shared CI box, a diskcache ``set`` has a
  p50 of ~120 µs but a p99 of ~8 ms (a WAL checkpoint or a busy disk), and an LRU ``get`` is a
  write too (it updates the access time). So every L3 operation goes to **one dedicated worker
  thread** (a single-thread executor): reads are awaited (``run_in_executor``); writes, deletes
  and tag-version writes are queued without awaiting. One thread means operations run in the
  order they were queued, so a read queued after a delete never sees the deleted row. Pending
  writes are bounded (``l3_max_pending_writes``): beyond that, L3 writes are dropped and counted
  (a slow disk must not grow memory). ``drain()`` waits for the queue; ``close()`` flushes it.
  L3 bytes/entries in the stats are refreshed by the worker after each write.
* Invalidation is by tag (e.g. ``agent:<id>``, ``project:<id>``). Tags are versioned:
  each entry stores the versions of its tags when its load *started*; ``invalidate_tag`` bumps the
  version (persisted next to L3 so it survives restarts; only invalidated tags are kept, loaded
  once at start-up) and eagerly drops matching L1/L2 entries. Stale L3 entries are dropped
  lazily when read, or by TTL/LRU. A load that was in flight during an invalidation is
  therefore never served stale.
* Concurrent misses on the same key share one loader call (single flight).
* ``enabled=False``: every get goes straight to the loader, counted in ``loads`` and
  ``bypassed``; the layers stay empty.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
import time
from collections.abc import Awaitable, Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import diskcache
import orjson
from cachetools import TTLCache

log = logging.getLogger(__name__)
MB = 1024 * 1024
ENTRY_OVERHEAD_BYTES = 64  # rough per-entry bookkeeping (link, dict slot, entry object)
L3_KEY_PREFIX = "v1:"

Loader = Callable[[], Awaitable[Any]]
Clock = Callable[[], float]
TagVersions = tuple[tuple[str, int], ...]


@dataclass(frozen=True)
class CacheConfig:
    """Defaults are the guide's: L1 10 MB / 5 min, L2 100 MB / 1 h, L3 1 GB / 24 h."""

    enabled: bool = True
    l1_max_bytes: int = 10 * MB
    l1_ttl_s: float = 300.0
    l2_max_bytes: int = 100 * MB
    l2_ttl_s: float = 3600.0
    l3_max_bytes: int = 1024 * MB
    l3_ttl_s: float = 86_400.0
    l3_dir: Path | None = None  # None = no L3 (e.g. unit tests of L1/L2 only)
    l3_cull_every: int = 64
    l3_max_pending_writes: int = 10_000
    l3_eviction_policy: str = "least-recently-stored"  # or "least-recently-used" (reads write)

    @classmethod
    def from_settings(cls, settings: Any, *, enabled: bool, l3_dir: Path | None) -> CacheConfig:
        """Build from the runtime's cache settings section (``l1_bytes``, ``l1_ttl_s``, ...)."""
        base = cls()
        return cls(
            enabled=enabled,
            l1_max_bytes=int(getattr(settings, "l1_bytes", base.l1_max_bytes)),
            l1_ttl_s=float(getattr(settings, "l1_ttl_s", base.l1_ttl_s)),
            l2_max_bytes=int(getattr(settings, "l2_bytes", base.l2_max_bytes)),
            l2_ttl_s=float(getattr(settings, "l2_ttl_s", base.l2_ttl_s)),
            l3_max_bytes=int(getattr(settings, "l3_bytes", base.l3_max_bytes)),
            l3_ttl_s=float(getattr(settings, "l3_ttl_s", base.l3_ttl_s)),
            l3_dir=l3_dir,
        )


@dataclass(frozen=True)
class LayerStats:
    hits: int = 0
    misses: int = 0
    evictions: int = 0
    expirations: int = 0
    invalidations: int = 0
    bytes: int = 0
    entries: int = 0

    @property
    def lookups(self) -> int:
        return self.hits + self.misses

    @property
    def hit_rate(self) -> float:
        """Hits over lookups that reached this layer (conditional on the layers above missing)."""
        return self.hits / self.lookups if self.lookups else 0.0


@dataclass(frozen=True)
class CacheStats:
    enabled: bool
    layers: dict[str, LayerStats]
    loads: int = 0  # loader calls
    bypassed: int = 0  # gets served by the loader because the cache is disabled
    coalesced: int = 0  # concurrent misses that waited for another caller's load
    uncacheable: int = 0  # values too large for a layer or not JSON-serializable
    l3_dropped_writes: int = 0  # L3 writes skipped because the disk queue was full

    def as_dict(self) -> dict[str, Any]:
        return {
            "enabled": self.enabled,
            "loads": self.loads,
            "bypassed": self.bypassed,
            "coalesced": self.coalesced,
            "uncacheable": self.uncacheable,
            "l3_dropped_writes": self.l3_dropped_writes,
            "layers": {
                name: {**st.__dict__, "hit_rate": round(st.hit_rate, 4)} for name, st in self.layers.items()
            },
        }


@dataclass(slots=True)
class _Entry:
    blob: bytes
    tags: TagVersions
    size: int


@dataclass
class _Counts:
    hits: int = 0
    misses: int = 0
    invalidations: int = 0


class _MemLayer(TTLCache[str, _Entry]):
    """TTLCache sized in bytes that counts LRU evictions and TTL expirations."""

    def __init__(self, max_bytes: int, ttl_s: float, clock: Clock) -> None:
        super().__init__(maxsize=max_bytes, ttl=ttl_s, timer=clock, getsizeof=_entry_size)
        self.evictions = 0
        self.expirations = 0
        self.counts = _Counts()

    def popitem(self) -> tuple[str, _Entry]:
        item = super().popitem()
        self.evictions += 1
        return item

    def expire(self, time: float | None = None) -> list[tuple[str, _Entry]]:
        expired = list(super().expire(time))
        self.expirations += len(expired)
        return expired

    def put(self, key: str, entry: _Entry) -> bool:
        if entry.size > self.maxsize:
            return False
        self[key] = entry
        return True

    def drop_tag(self, tag: str) -> int:
        doomed = [k for k, e in list(self.items()) if any(t == tag for t, _ in e.tags)]
        for key in doomed:
            self.pop(key, None)
        return len(doomed)


def _entry_size(entry: _Entry) -> int:
    return entry.size


L3Record = tuple[float, TagVersions, bytes]  # (expires_at, tag versions, blob)


class _DiskLayer:
    """L3: diskcache driven by one worker thread (see the module docstring)."""

    def __init__(self, directory: Path, config: CacheConfig) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self._ttl = config.l3_ttl_s
        self._cull_every = max(config.l3_cull_every, 1)
        self._max_pending = config.l3_max_pending_writes
        self._store = diskcache.Cache(
            str(directory / "l3"),
            size_limit=config.l3_max_bytes,
            eviction_policy=config.l3_eviction_policy,
            cull_limit=0,
        )
        # Tag versions must never be evicted, hence a separate store with no eviction.
        self._tags = diskcache.Cache(str(directory / "tags"), eviction_policy="none")
        self._io = ThreadPoolExecutor(max_workers=1, thread_name_prefix="cache-l3")
        self._pending = 0  # queued operations; updated from the loop and the worker
        self._pending_lock = threading.Lock()
        self._writes = 0
        self.evictions = 0
        self.dropped_writes = 0
        self.bytes = 0
        self.entries = 0
        self._refresh_size()

    def load_tag_versions(self) -> dict[str, int]:
        """All persisted tag versions (only invalidated tags are stored); read once at start-up."""
        return {str(tag): int(self._tags[tag]) for tag in self._tags.iterkeys()}

    # -- loop side ---------------------------------------------------------------------------

    async def read(self, key: str) -> L3Record | None:
        loop = asyncio.get_running_loop()
        raw = await loop.run_in_executor(self._io, self._store.get, L3_KEY_PREFIX + key)
        return raw  # type: ignore[no-any-return]

    def write(self, key: str, record: L3Record) -> bool:
        """Queue a write; False (and counted) when the queue is full."""
        if self._pending >= self._max_pending:
            self.dropped_writes += 1
            return False
        self._submit(self._do_write, key, record)
        return True

    def delete(self, key: str) -> None:
        self._submit(self._store.delete, L3_KEY_PREFIX + key)

    def persist_tag(self, tag: str, version: int) -> None:
        self._submit(self._tags.set, tag, version)

    async def drain(self) -> None:
        """Wait until every queued L3 operation has run."""
        await asyncio.wrap_future(self._io.submit(self._refresh_size))

    def close(self) -> None:
        self._io.shutdown(wait=True)
        self._store.close()
        self._tags.close()

    def _submit(self, fn: Callable[..., Any], *args: Any) -> None:
        with self._pending_lock:
            self._pending += 1
        future = self._io.submit(fn, *args)
        future.add_done_callback(self._done)

    def _done(self, future: Future[Any]) -> None:
        with self._pending_lock:
            self._pending -= 1
        exc = future.exception()
        if exc is not None:
            log.warning("L3 cache operation failed: %r", exc)

    # -- worker side -------------------------------------------------------------------------

    def _do_write(self, key: str, record: L3Record) -> None:
        self._store.set(L3_KEY_PREFIX + key, record, expire=self._ttl)
        self._writes += 1
        if self._writes % self._cull_every == 0:
            self._do_cull()
        else:
            self._refresh_size()

    def _do_cull(self) -> None:
        self.evictions += int(self._store.cull())
        self._refresh_size()

    def _refresh_size(self) -> None:
        self.bytes, self.entries = int(self._store.volume()), len(self._store)


class LayeredCache:
    """L1 (per agent) → L2 (shared) → L3 (disk) → loader. See the module docstring."""

    def __init__(self, config: CacheConfig | None = None, *, clock: Clock = time.time) -> None:
        self.config = config or CacheConfig()
        self._clock = clock
        self._l1: dict[str, _MemLayer] = {}
        self._l2 = _MemLayer(self.config.l2_max_bytes, self.config.l2_ttl_s, clock)
        self._l3: _DiskLayer | None = None
        self._l3_counts = _Counts()
        self._l3_expirations = 0
        self._tag_versions: dict[str, int] = {}  # only tags that were ever invalidated
        self._inflight: dict[str, asyncio.Future[Any]] = {}
        self._loads = self._bypassed = self._coalesced = self._uncacheable = 0
        if self.config.l3_dir is not None:
            self._l3 = _DiskLayer(Path(self.config.l3_dir), self.config)
            self._tag_versions = self._l3.load_tag_versions()

    @property
    def enabled(self) -> bool:
        return self.config.enabled

    # -- public async API ------------------------------------------------------------------------

    async def get_or_load(
        self,
        key: str,
        loader: Loader,
        *,
        agent_id: str | None = None,
        tags: Iterable[str] = (),
        persist: bool = True,
    ) -> Any:
        """Return the cached value for ``key`` or load, store and return it."""
        if not self.config.enabled:
            self._loads += 1
            self._bypassed += 1
            return await loader()
        blob = await self._lookup(key, agent_id)
        if blob is not None:
            return orjson.loads(blob)
        pending = self._inflight.get(key)
        if pending is not None:
            self._coalesced += 1
            try:
                return await asyncio.shield(pending)
            except asyncio.CancelledError:
                task = asyncio.current_task()
                if not pending.cancelled() or (task is not None and task.cancelling()):
                    raise  # this caller itself is being cancelled
                # The loader this caller joined was cancelled (its own command timed out or its
                # agent stopped): not this caller's failure, so it loads for itself.
        return await self._load(key, loader, agent_id, tuple(tags), persist)

    async def get(self, key: str, *, agent_id: str | None = None) -> Any | None:
        """Cached value or ``None`` (no loader)."""
        if not self.config.enabled:
            return None
        blob = await self._lookup(key, agent_id)
        return None if blob is None else orjson.loads(blob)

    async def set(
        self,
        key: str,
        value: Any,
        *,
        agent_id: str | None = None,
        tags: Iterable[str] = (),
        persist: bool = True,
    ) -> None:
        if self.config.enabled:
            self._store(key, value, agent_id, self._stamp(tuple(tags)), persist)

    # -- lookup and promotion --------------------------------------------------------------------

    async def _lookup(self, key: str, agent_id: str | None) -> bytes | None:
        l1 = self._l1_for(agent_id) if agent_id is not None else None
        if l1 is not None:
            entry = self._mem_get(l1, key)
            if entry is not None:
                return entry.blob
        entry = self._mem_get(self._l2, key)
        if entry is not None:
            if l1 is not None:
                l1.put(key, entry)
            return entry.blob
        entry = await self._l3_get(key) if self._l3 is not None else None
        if entry is not None:
            self._l2.put(key, entry)
            if l1 is not None:
                l1.put(key, entry)
            return entry.blob
        return None

    def _mem_get(self, layer: _MemLayer, key: str) -> _Entry | None:
        entry = layer.get(key)
        if entry is not None and not self._is_current(entry.tags):
            layer.pop(key, None)
            entry = None
        if entry is None:
            layer.counts.misses += 1
        else:
            layer.counts.hits += 1
        return entry

    async def _l3_get(self, key: str) -> _Entry | None:
        assert self._l3 is not None
        raw = await self._l3.read(key)
        entry: _Entry | None = None
        if raw is not None:
            expires_at, tags, blob = raw
            if expires_at <= self._clock():
                self._l3.delete(key)
                self._l3_expirations += 1
            elif self._is_current(tags):
                entry = _Entry(blob, tags, _size_of(key, blob))
            else:
                self._l3.delete(key)  # stale by tag version
        if entry is None:
            self._l3_counts.misses += 1
        else:
            self._l3_counts.hits += 1
        return entry

    def _l1_for(self, agent_id: str) -> _MemLayer:
        layer = self._l1.get(agent_id)
        if layer is None:
            layer = _MemLayer(self.config.l1_max_bytes, self.config.l1_ttl_s, self._clock)
            self._l1[agent_id] = layer
        return layer

    # -- loading and storing ---------------------------------------------------------------------

    async def _load(
        self, key: str, loader: Loader, agent_id: str | None, tags: tuple[str, ...], persist: bool
    ) -> Any:
        fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._inflight[key] = fut
        stamp = self._stamp(tags)  # versions *before* the load: an invalidation mid-load wins
        try:
            self._loads += 1
            value = await loader()
            self._store(key, value, agent_id, stamp, persist)
            fut.set_result(value)
            return value
        except asyncio.CancelledError:
            fut.cancel()
            raise
        except BaseException as exc:
            fut.set_exception(exc)
            fut.exception()  # mark retrieved: nobody may be waiting
            raise
        finally:
            self._inflight.pop(key, None)

    def _store(self, key: str, value: Any, agent_id: str | None, tags: TagVersions, persist: bool) -> None:
        try:
            blob = orjson.dumps(value)
        except TypeError:
            self._uncacheable += 1
            return
        entry = _Entry(blob, tags, _size_of(key, blob))
        stored = self._l2.put(key, entry)
        if agent_id is not None:
            stored = self._l1_for(agent_id).put(key, entry) and stored
        if persist and self._l3 is not None:
            self._l3.write(key, (self._clock() + self.config.l3_ttl_s, tags, blob))
        if not stored:
            self._uncacheable += 1

    async def drain(self) -> None:
        """Wait for queued L3 writes/deletes (tests, benchmarks, shutdown)."""
        if self._l3 is not None:
            await self._l3.drain()

    # -- invalidation ----------------------------------------------------------------------------

    def _stamp(self, tags: tuple[str, ...]) -> TagVersions:
        return tuple((tag, self._version(tag)) for tag in tags)

    def _version(self, tag: str) -> int:
        return self._tag_versions.get(tag, 0)

    def _is_current(self, tags: TagVersions) -> bool:
        return all(self._version(tag) == version for tag, version in tags)

    def invalidate_tag(self, tag: str) -> int:
        """Invalidate everything derived from ``tag`` in all layers (L3 lazily, by version)."""
        version = self._version(tag) + 1
        self._tag_versions[tag] = version
        if self._l3 is not None:
            self._l3.persist_tag(tag, version)
        removed = 0
        for layer in (*self._l1.values(), self._l2):
            dropped = layer.drop_tag(tag)
            layer.counts.invalidations += dropped
            removed += dropped
        self._l3_counts.invalidations += 1
        return removed

    def on_record_changed(self, kind: str, record_id: str) -> int:
        """Event hook for the store: ``on_record_changed("agent", id)`` drops tag ``agent:<id>``
        and that agent's whole L1 (its persona or commands may have changed)."""
        removed = self.invalidate_tag(record_tag(kind, record_id))
        if kind == "agent":
            self.drop_agent(record_id)
        return removed

    def drop_agent(self, agent_id: str) -> None:
        """Forget an agent's L1 (agent deleted)."""
        self._l1.pop(agent_id, None)

    def close(self) -> None:
        """Run the queued L3 operations, then close the disk stores."""
        if self._l3 is not None:
            self._l3.close()

    # -- stats -----------------------------------------------------------------------------------

    def stats(self) -> CacheStats:
        l1 = list(self._l1.values())
        return CacheStats(
            enabled=self.config.enabled,
            layers={"l1": _merge(l1), "l2": _merge([self._l2]), "l3": self._l3_stats()},
            loads=self._loads,
            bypassed=self._bypassed,
            coalesced=self._coalesced,
            uncacheable=self._uncacheable,
            l3_dropped_writes=self._l3.dropped_writes if self._l3 is not None else 0,
        )

    def _l3_stats(self) -> LayerStats:
        c, disk = self._l3_counts, self._l3
        return LayerStats(
            hits=c.hits,
            misses=c.misses,
            evictions=disk.evictions if disk else 0,
            expirations=self._l3_expirations,
            invalidations=c.invalidations,
            bytes=disk.bytes if disk else 0,
            entries=disk.entries if disk else 0,
        )

    def bytes_by_agent(self) -> dict[str, int]:
        """Bytes in each agent's L1: the "cache" memory source for per-agent accounting."""
        return {agent_id: int(layer.currsize) for agent_id, layer in self._l1.items()}


def _merge(layers: list[_MemLayer]) -> LayerStats:
    return LayerStats(
        hits=sum(x.counts.hits for x in layers),
        misses=sum(x.counts.misses for x in layers),
        evictions=sum(x.evictions for x in layers),
        expirations=sum(x.expirations for x in layers),
        invalidations=sum(x.counts.invalidations for x in layers),
        bytes=sum(int(x.currsize) for x in layers),
        entries=sum(len(x) for x in layers),
    )


def _size_of(key: str, blob: bytes) -> int:
    return len(blob) + len(key) + ENTRY_OVERHEAD_BYTES


def record_tag(kind: str, record_id: str) -> str:
    """Canonical tag for a stored record: ``record_tag("agent", "a1") == "agent:a1"``."""
    return f"{kind}:{record_id}"


def default_cache_dir(state_dir: str | os.PathLike[str]) -> Path:
    """Where the runtime keeps L3: ``<state-dir>/cache``."""
    return Path(state_dir) / "cache"


__all__ = ["CacheConfig", "CacheStats", "LayerStats", "LayeredCache", "default_cache_dir", "record_tag"]
