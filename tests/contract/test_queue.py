"""The queue contract: every backend in ``QUEUES`` must pass this suite.

Add a backend by adding a factory to ``BACKENDS``; each test runs against each.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from shoal.queue import Queue, open_queue

Factory = Callable[[Path], Queue]

BACKENDS: dict[str, Factory] = {
    "sqlite": lambda tmp: open_queue(f"sqlite:///{tmp / 'queue.db'}"),
    "sqlite-full-sync": lambda tmp: open_queue(f"sqlite:///{tmp / 'q.db'}", synchronous="full"),
}


@pytest.fixture(params=sorted(BACKENDS))
def factory(request: pytest.FixtureRequest, tmp_path: Path) -> Callable[[], Queue]:
    make = BACKENDS[request.param]
    return lambda: make(tmp_path)


@pytest.fixture
async def queue(factory: Callable[[], Queue]) -> AsyncIterator[Queue]:
    q = factory()
    await q.start()
    yield q
    await q.close()


def records(*payloads: bytes) -> list[tuple[str, bytes]]:
    return [("key", p) for p in payloads]


async def test_consume_returns_published_records_in_order(queue: Queue) -> None:
    await queue.publish(records(b"a", b"b"))
    await queue.publish(records(b"c"))
    got = await queue.consume("g", 10, wait=1)
    assert [d.payload for d in got] == [b"a", b"b", b"c"]
    assert all(d.attempts == 1 for d in got)


async def test_consume_respects_max_records(queue: Queue) -> None:
    await queue.publish(records(*(bytes([i]) for i in range(10))))
    first = await queue.consume("g", 4, wait=1)
    second = await queue.consume("g", 100, wait=1)
    assert len(first) == 4 and len(second) == 6
    assert [d.payload for d in first + second] == [bytes([i]) for i in range(10)]


async def test_consume_waits_for_a_publish(queue: Queue) -> None:
    async def later() -> None:
        await asyncio.sleep(0.1)
        await queue.publish(records(b"late"))

    task = asyncio.create_task(later())
    got = await queue.consume("g", 10, wait=5)
    await task
    assert [d.payload for d in got] == [b"late"]


async def test_consume_returns_empty_after_wait(queue: Queue) -> None:
    assert await queue.consume("g", 10, wait=0.05) == []


async def test_groups_are_independent(queue: Queue) -> None:
    await queue.publish(records(b"x"))
    one = await queue.consume("one", 10, wait=1)
    await queue.ack("one", one)
    two = await queue.consume("two", 10, wait=1)
    assert [d.payload for d in two] == [b"x"]
    assert await queue.lag("one") == 0
    assert await queue.lag("two") == 1


async def test_lag_counts_unacked(queue: Queue) -> None:
    await queue.publish(records(b"1", b"2", b"3"))
    got = await queue.consume("g", 2, wait=1)
    assert await queue.lag("g") == 3
    await queue.ack("g", got)
    assert await queue.lag("g") == 1


async def test_unacked_records_come_back_after_restart(factory: Callable[[], Queue]) -> None:
    q = factory()
    await q.start()
    await q.publish(records(b"1", b"2", b"3"))
    got = await q.consume("g", 10, wait=1)
    await q.ack("g", got[:1])
    await q.close()

    q = factory()
    await q.start()
    again = await q.consume("g", 10, wait=1)
    await q.close()
    assert [d.payload for d in again] == [b"2", b"3"]


async def test_acked_records_never_come_back(factory: Callable[[], Queue]) -> None:
    q = factory()
    await q.start()
    await q.publish(records(b"1", b"2"))
    await q.ack("g", await q.consume("g", 10, wait=1))
    await q.close()
    q = factory()
    await q.start()
    assert await q.consume("g", 10, wait=0.05) == []
    assert await q.lag("g") == 0
    await q.close()


async def test_out_of_order_acks_keep_the_unacked_one(factory: Callable[[], Queue]) -> None:
    """The unacked record comes back; ones acked before it never do (later ones may)."""
    q = factory()
    await q.start()
    await q.publish(records(b"1", b"2", b"3"))
    got = await q.consume("g", 10, wait=1)
    await q.ack("g", [got[0], got[2]])
    await q.close()
    q = factory()
    await q.start()
    again = await q.consume("g", 10, wait=1)
    await q.close()
    payloads = [d.payload for d in again]
    assert b"2" in payloads and b"1" not in payloads


async def test_nack_redelivers_after_the_delay_with_attempts(queue: Queue) -> None:
    await queue.publish(records(b"retry-me", b"fine"))
    got = await queue.consume("g", 10, wait=1)
    await queue.nack("g", got[:1], delay=0.3)
    await queue.ack("g", got[1:])
    assert await queue.consume("g", 10, wait=0.05) == []
    await asyncio.sleep(0.35)
    again = await queue.consume("g", 10, wait=1)
    assert [(d.payload, d.attempts) for d in again] == [(b"retry-me", 2)]
    await queue.nack("g", again, delay=0)
    third = await queue.consume("g", 10, wait=1)
    assert [(d.payload, d.attempts) for d in third] == [(b"retry-me", 3)]
    await queue.ack("g", third)
    assert await queue.lag("g") == 0


async def test_nacked_record_survives_restart(factory: Callable[[], Queue]) -> None:
    q = factory()
    await q.start()
    await q.publish(records(b"n"))
    await q.nack("g", await q.consume("g", 10, wait=1), delay=0)
    handed_out = await q.consume("g", 10, wait=1)
    assert [d.payload for d in handed_out] == [b"n"]
    await q.close()
    q = factory()
    await q.start()
    again = await q.consume("g", 10, wait=1)
    await q.close()
    assert [d.payload for d in again] == [b"n"]


async def test_concurrent_publishes_are_all_durable(factory: Callable[[], Queue]) -> None:
    q = factory()
    await q.start()
    payloads = [f"{i}".encode() for i in range(500)]
    await asyncio.gather(*(q.publish(records(p)) for p in payloads))
    await q.close()
    q = factory()
    await q.start()
    got = await q.consume("g", 1000, wait=1)
    await q.close()
    assert sorted(d.payload for d in got) == sorted(payloads)


async def test_capabilities_are_declared(queue: Queue) -> None:
    caps = queue.capabilities
    assert isinstance(caps.durable, bool)
    assert isinstance(caps.partitioned, bool)
    assert isinstance(caps.shared_consumers, bool)
