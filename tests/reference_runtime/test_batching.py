"""Batcher: size flush, time flush (fake clock and real timer), close, unbatched mode, stats."""

from __future__ import annotations

import asyncio

import pytest

from reference_runtime.batching import METRICS, STATUS_UPDATES, Batcher, BatchPolicy


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class Sink:
    def __init__(self, fail_on: int | None = None) -> None:
        self.batches: list[list[int]] = []
        self.fail_on = fail_on

    async def __call__(self, batch: list[int]) -> None:
        if self.fail_on is not None and self.fail_on in batch:
            raise RuntimeError("sink down")
        self.batches.append(list(batch))


def test_presets_match_the_guide():
    assert (STATUS_UPDATES.batch_size, STATUS_UPDATES.max_wait_s) == (10, 0.1)
    assert (METRICS.batch_size, METRICS.max_wait_s) == (100, 1.0)
    with pytest.raises(ValueError):
        BatchPolicy(0, 1.0)


def test_size_flush_makes_full_batches():
    sink = Sink()
    flushed: list[int] = []

    async def main():
        b = Batcher(sink, STATUS_UPDATES, on_flush=flushed.append, auto_timer=False)
        for i in range(35):
            await b.put(i)
        assert b.pending == 5
        await b.close()
        return b

    b = asyncio.run(main())
    assert [len(x) for x in sink.batches] == [10, 10, 10, 5]
    assert [i for batch in sink.batches for i in batch] == list(range(35))
    assert b.stats.size_histogram == {10: 3, 5: 1}
    assert b.stats.reasons == {"size": 3, "close": 1}
    assert flushed == [10, 10, 10, 5]
    assert b.stats.items == 35


def test_time_flush_with_fake_clock_counts_from_first_item():
    sink = Sink()
    clock = FakeClock()

    async def main():
        b = Batcher(sink, BatchPolicy(10, 0.1), clock=clock, auto_timer=False)
        await b.put(1)
        clock.now = 0.05
        await b.put(2)
        assert await b.flush_if_due() == 0  # 50 ms since the first item
        clock.now = 0.1
        assert await b.flush_if_due() == 2  # 100 ms since the first item
        await b.put(3)
        clock.now = 0.15
        assert await b.flush_if_due() == 0  # new batch's clock starts at its first item
        return b

    b = asyncio.run(main())
    assert sink.batches == [[1, 2]]
    assert b.stats.reasons == {"time": 1}


def test_real_timer_flushes_partial_batch():
    sink = Sink()

    async def main():
        b = Batcher(sink, BatchPolicy(100, 0.02))
        for i in range(3):
            b.put_nowait(i)
        for _ in range(100):  # wait for the timer without assuming how long it takes
            if sink.batches:
                break
            await asyncio.sleep(0.01)
        await b.close()
        return b

    b = asyncio.run(main())
    assert sink.batches == [[0, 1, 2]]
    assert b.stats.reasons == {"time": 1}


def test_put_nowait_size_flush_and_close_flushes_rest():
    sink = Sink()

    async def main():
        b = Batcher(sink, METRICS)
        for i in range(250):
            b.put_nowait(i)
        await b.close()
        with pytest.raises(RuntimeError):
            b.put_nowait(1)
        return b

    b = asyncio.run(main())
    assert b.stats.reasons == {"size": 2, "close": 1}
    assert [len(x) for x in sink.batches] == [100, 100, 50]
    assert [i for batch in sink.batches for i in batch] == list(range(250))


def test_disabled_passes_items_one_by_one():
    sink = Sink()

    async def main():
        b = Batcher(sink, STATUS_UPDATES, enabled=False)
        for i in range(7):
            await b.put(i)
        b.put_nowait(7)
        await b.close()
        return b

    b = asyncio.run(main())
    assert sink.batches == [[i] for i in range(8)]
    assert b.stats.batches == 8
    assert b.stats.reasons == {"unbatched": 8}
    assert b.stats.size_histogram == {1: 8}


def test_sink_error_is_counted_not_raised():
    sink = Sink(fail_on=3)
    failed: list[list[int]] = []

    async def main():
        b = Batcher(sink, BatchPolicy(2, 1.0), on_error=lambda batch, exc: failed.append(batch))
        for i in range(6):
            await b.put(i)
        await b.close()
        return b

    b = asyncio.run(main())
    assert sink.batches == [[0, 1], [4, 5]]
    assert failed == [[2, 3]]
    assert b.stats.errors == 1


def test_batched_path_calls_the_sink_far_less():
    async def run(enabled: bool) -> int:
        calls = 0

        async def sink(batch: list[int]) -> None:
            nonlocal calls
            calls += 1

        b = Batcher(sink, STATUS_UPDATES, enabled=enabled)
        for i in range(1000):
            await b.put(i)
        await b.close()
        return calls

    assert asyncio.run(run(False)) == 1000
    assert asyncio.run(run(True)) == 100


def test_stats_dict():
    async def main():
        b = Batcher(Sink(), BatchPolicy(4, 1.0), auto_timer=False)
        for i in range(6):
            await b.put(i)
        await b.flush()
        return b.stats.as_dict()

    d = asyncio.run(main())
    assert d["batches"] == 2
    assert d["mean_batch_size"] == 3.0
    assert d["size_histogram"] == {"2": 1, "4": 1}
    assert d["reasons"] == {"size": 1, "manual": 1}


def test_policy_change_applies_to_next_items():
    sink = Sink()

    async def main():
        b = Batcher(sink, BatchPolicy(3, 1.0), auto_timer=False)
        for i in range(3):
            await b.put(i)
        b.policy = BatchPolicy(5, 1.0)
        for i in range(5):
            await b.put(i)
        await b.close()

    asyncio.run(main())
    assert [len(x) for x in sink.batches] == [3, 5]
