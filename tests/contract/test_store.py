"""The event-store contract: every backend in ``STORES`` must pass this suite."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from shoal.spec.normalize import NormalizedEvent
from shoal.store import EventQuery, EventStore, open_store

BACKENDS: dict[str, Callable[[Path], EventStore]] = {
    "duckdb": lambda tmp: open_store(f"duckdb:///{tmp / 'events.duckdb'}"),
}


@pytest.fixture(params=sorted(BACKENDS))
def factory(request: pytest.FixtureRequest, tmp_path: Path) -> Callable[[], EventStore]:
    make = BACKENDS[request.param]
    return lambda: make(tmp_path)


@pytest.fixture
async def store(factory: Callable[[], EventStore]) -> AsyncIterator[EventStore]:
    s = factory()
    await s.start()
    yield s
    await s.close()


def event(
    message_id: str,
    source: str = "src_a",
    status: str = "accepted",
    kind: str = "track",
    name: str | None = "Order Completed",
    received: int = 1_700_000_000_000,
    **message: Any,
) -> NormalizedEvent:
    body: dict[str, Any] = {"type": kind, "messageId": message_id, "userId": "u1", **message}
    if kind == "track" and name is not None:
        body["event"] = name
    return NormalizedEvent(
        source_id=source,
        workspace_id="ws_1",
        environment="dev",
        message_id=message_id,
        type=kind,
        status=status,
        reason=None if status == "accepted" else "no_user_anon_id",
        received_at=received,
        timestamp=received - 5,
        message=body,
        event=name,
        user_id="u1",
    )


async def test_write_then_read_back_the_message(store: EventStore) -> None:
    written = event(
        "m1",
        properties={"revenue": 12.5, "products": [{"sku": "a"}]},
        context={"library": {"name": "x"}},
    )
    result = await store.write([written])
    assert (result.inserted, result.duplicates) == (1, 0)
    [stored] = await store.events(EventQuery(source_id="src_a"))
    assert stored.message == written.message
    assert stored.status == "accepted" and stored.reason is None


async def test_events_are_newest_first_and_paged(store: EventStore) -> None:
    await store.write([event(f"m{i}") for i in range(5)])
    page = await store.events(EventQuery(source_id="src_a", limit=2))
    assert [e.message["messageId"] for e in page] == ["m4", "m3"]
    older = await store.events(EventQuery(source_id="src_a", limit=10, before_id=page[-1].id))
    assert [e.message["messageId"] for e in older] == ["m2", "m1", "m0"]
    newer = await store.events(EventQuery(source_id="src_a", after_id=older[0].id))
    assert [e.message["messageId"] for e in newer] == ["m3", "m4"]


async def test_duplicates_are_skipped_per_source(store: EventStore) -> None:
    await store.write([event("dup"), event("other")])
    again = await store.write([event("dup"), event("new"), event("dup", source="src_b")])
    assert (again.inserted, again.duplicates) == (2, 1)
    assert await store.count("src_a") == 3
    assert await store.count("src_b") == 1


async def test_a_replayed_batch_is_stored_once(store: EventStore) -> None:
    batch = [event(f"r{i}") for i in range(100)]
    await store.write(batch)
    replay = await store.write(batch)
    assert (replay.inserted, replay.duplicates) == (0, 100)
    assert await store.count() == 100


async def test_dedupe_survives_restart(factory: Callable[[], EventStore]) -> None:
    s = factory()
    await s.start()
    await s.write([event("keep")])
    await s.close()
    s = factory()
    await s.start()
    result = await s.write([event("keep"), event("fresh")])
    ids = [e.id for e in await s.events(EventQuery())]
    await s.close()
    assert (result.inserted, result.duplicates) == (1, 1)
    assert len(set(ids)) == 2, "ids keep increasing after a restart"


async def test_forgotten_ids_are_accepted_again(store: EventStore) -> None:
    await store.write([event("old", received=1_000), event("recent", received=9_000)])
    assert await store.forget_message_ids(5_000) == 1
    result = await store.write([event("old", received=10_000), event("recent")])
    assert (result.inserted, result.duplicates) == (1, 1)


async def test_filters(store: EventStore) -> None:
    await store.write(
        [
            event("a"),
            event("b", status="rejected"),
            event("c", kind="page", name="Home"),
            event("d", name="Signed Up"),
        ]
    )

    async def ids(**filters: Any) -> list[str]:
        found = await store.events(EventQuery(source_id="src_a", **filters))
        return sorted(e.message["messageId"] for e in found)

    assert await ids(status="rejected") == ["b"]
    assert await ids(types=("page",)) == ["c"]
    assert await ids(event="Signed Up") == ["d"]
    assert await store.count(status="rejected") == 1


async def test_violations_are_kept(store: EventStore) -> None:
    flagged = event("v")
    flagged.violations = [{"type": "type", "field": "properties.revenue", "message": "x"}]
    await store.write([flagged])
    [stored] = await store.events(EventQuery())
    assert stored.violations == flagged.violations


async def test_query_reads_events_in_the_declared_dialect(store: EventStore) -> None:
    await store.write([event("q1"), event("q2", name="Signed Up")])
    rows = await store.query(
        "SELECT event, count(*) FROM events WHERE source_id = ? GROUP BY event ORDER BY event",
        ["src_a"],
    )
    assert rows == [("Order Completed", 1), ("Signed Up", 1)]
    assert store.capabilities.dialect


async def test_empty_write_is_a_no_op(store: EventStore) -> None:
    result = await store.write([])
    assert (result.inserted, result.duplicates) == (0, 0)
