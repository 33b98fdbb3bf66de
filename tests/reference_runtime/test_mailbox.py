"""Mailbox: bounded, P1 first, FIFO within a priority, reservations."""

from __future__ import annotations

import asyncio

import pytest

from reference_runtime.agents.mailbox import Mailbox, MailboxFull
from reference_runtime.bus import parse_priority


def test_priority_then_fifo() -> None:
    box: Mailbox[str] = Mailbox(10)
    for item, prio in [("a4", 4), ("b3", 3), ("c1", 1), ("d3", 3), ("e2", 2), ("f1", 1)]:
        box.put_nowait(item, prio)
    assert [box.get_nowait() for _ in range(6)] == ["c1", "f1", "e2", "b3", "d3", "a4"]


def test_capacity_counts_reservations() -> None:
    box: Mailbox[int] = Mailbox(2)
    box.reserve()
    box.put_nowait(1)
    with pytest.raises(MailboxFull):
        box.reserve()
    with pytest.raises(MailboxFull):
        box.put_nowait(2)
    box.put_reserved(3)
    assert len(box) == 2 and box.free == 0
    box.force_put(4)  # recovery may exceed capacity
    assert len(box) == 3


def test_release_frees_a_slot() -> None:
    box: Mailbox[int] = Mailbox(1)
    box.reserve()
    box.release()
    box.put_nowait(1)
    assert box.full()


def test_put_many_stops_at_capacity() -> None:
    box: Mailbox[int] = Mailbox(3)
    assert box.put_many([(i, 3) for i in range(5)]) == 3
    assert len(box) == 3 and box.full()
    assert [box.get_nowait() for _ in range(3)] == [0, 1, 2]


def test_get_waits_for_an_item() -> None:
    async def scenario() -> list[int]:
        box: Mailbox[int] = Mailbox(5)
        getter = asyncio.create_task(box.get())
        await asyncio.sleep(0.01)
        assert not getter.done()
        box.put_nowait(7)
        return [await asyncio.wait_for(getter, 1)]

    assert asyncio.run(scenario()) == [7]


def test_parse_priority() -> None:
    assert parse_priority("P1") == 1 and parse_priority("p4") == 4 and parse_priority(2) == 2
    assert parse_priority(None) == 3
    for bad in ("P5", 0, True, "high", 2.0):
        with pytest.raises(ValueError):
            parse_priority(bad)
