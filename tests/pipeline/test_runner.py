"""The pipeline moves every queued event into the store exactly once, failures included."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import msgspec
import pytest

from shoal.pipeline import EventHub, Pipeline
from shoal.queue import Queue, open_queue
from shoal.spec.envelope import ENVELOPE_ENCODER, Envelope
from shoal.spec.normalize import NormalizedEvent
from shoal.store import EventQuery, EventStore, open_store


@pytest.fixture
async def backends(tmp_path: Path) -> AsyncIterator[tuple[Queue, EventStore]]:
    queue = open_queue(f"sqlite:///{tmp_path / 'queue.db'}")
    store = open_store(f"duckdb:///{tmp_path / 'events.duckdb'}")
    await queue.start()
    await store.start()
    yield queue, store
    await store.close()
    await queue.close()


def record(i: int, message_id: str | None = None) -> tuple[str, bytes]:
    message = {"type": "track", "event": f"E{i}", "userId": f"u{i % 7}"}
    if message_id is not None:
        message["messageId"] = message_id
    envelope = Envelope(
        source_id="src_1",
        workspace_id="ws_1",
        environment="dev",
        received_at=1_700_000_000_000 + i,
        request_id="req",
        index=i,
        message=msgspec.Raw(msgspec.json.encode(message)),
    )
    return ("", ENVELOPE_ENCODER.encode(envelope))


async def drain(pipeline: Pipeline, store: EventStore, expected: int) -> None:
    task = asyncio.create_task(pipeline.run())
    try:
        for _ in range(400):
            if await store.count() >= expected and await pipeline.queue.lag("pipeline") == 0:
                break
            await asyncio.sleep(0.05)
    finally:
        await pipeline.stop()
        await task


async def test_moves_everything_in_order_of_arrival(backends: tuple[Queue, EventStore]) -> None:
    queue, store = backends
    await queue.publish([record(i) for i in range(12_000)])
    pipeline = Pipeline(queue, store, EventHub(), batch_size=5000)
    await drain(pipeline, store, 12_000)
    assert await store.count() == 12_000
    newest = await store.events(EventQuery(limit=3))
    assert [e.message["event"] for e in newest] == ["E11999", "E11998", "E11997"]
    assert pipeline.stats.stored == 12_000 and pipeline.stats.rounds >= 3


async def test_repeated_message_ids_in_one_round_are_stored_once(
    backends: tuple[Queue, EventStore],
) -> None:
    queue, store = backends
    await queue.publish([record(1, "same"), record(2, "same"), record(3, "other")])
    pipeline = Pipeline(queue, store, EventHub())
    await drain(pipeline, store, 2)
    assert await store.count() == 2
    assert pipeline.stats.duplicates == 1


class FlakyStage:
    """Fails the first ``failures`` rounds it sees, like a stage whose backend blinks."""

    name = "flaky"

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.seen = 0

    async def process(self, events: list[NormalizedEvent]) -> None:
        self.seen += 1
        if self.seen <= self.failures:
            raise RuntimeError("backend unavailable")
        for event in events:
            event.violations = [{"type": "flag", "field": "event", "message": "seen"}]


async def test_a_failing_round_is_retried_not_lost(backends: tuple[Queue, EventStore]) -> None:
    queue, store = backends
    await queue.publish([record(i) for i in range(50)])
    pipeline = Pipeline(queue, store, EventHub())
    stage = FlakyStage(failures=2)
    pipeline.stages.append(stage)
    await drain(pipeline, store, 50)
    stored = await store.events(EventQuery(limit=100))
    assert len(stored) == 50
    assert all(e.violations for e in stored), "stages ran on the retried round"
    assert pipeline.stats.failures == 2
    assert pipeline.stats.last_error == "RuntimeError: backend unavailable"
    assert await queue.lag("pipeline") == 0


async def test_stop_leaves_unprocessed_events_queued(tmp_path: Path) -> None:
    queue = open_queue(f"sqlite:///{tmp_path / 'queue.db'}")
    store = open_store(f"duckdb:///{tmp_path / 'events.duckdb'}")
    await queue.start()
    await store.start()
    await queue.publish([record(i) for i in range(10)])
    pipeline = Pipeline(queue, store, EventHub())
    await pipeline.stop()
    await pipeline.run()  # stopped before it started: nothing consumed
    assert await queue.lag("pipeline") == 10
    await store.close()
    await queue.close()


class DeferredStage:
    """A stage with a write of its own still under way when it returns (as identity's), the
    first ``failures`` of which fail. A write completes once the next round reaches the
    stage (or after a while, for the last round): it tells whether rounds overlap."""

    name = "deferred"

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.rounds = 0
        self.overlapped = 0
        self.committed: set[str] = set()
        self._next = asyncio.Event()

    async def process(self, events: list[NormalizedEvent]) -> asyncio.Future[None]:
        self.rounds += 1
        self._next.set()
        gate = self._next = asyncio.Event()
        fail = self.rounds <= self.failures

        async def write() -> None:
            try:
                await asyncio.wait_for(gate.wait(), 2.0)
                self.overlapped += 1
            except TimeoutError:
                pass
            if fail:
                raise RuntimeError("stage write failed")
            self.committed.update(e.message_id for e in events)

        return asyncio.ensure_future(write())


async def test_rounds_overlap_and_a_failed_stage_write_is_retried(
    backends: tuple[Queue, EventStore],
) -> None:
    queue, store = backends
    await queue.publish([record(i, f"m{i}") for i in range(12_000)])
    pipeline = Pipeline(queue, store, EventHub(), batch_size=2000)
    stage = DeferredStage(failures=1)
    pipeline.stages.append(stage)
    await drain(pipeline, store, 12_000)
    assert await store.count() == 12_000
    assert await queue.lag("pipeline") == 0
    # Every event's round was acknowledged only after its stage write committed.
    assert stage.committed == {f"m{i}" for i in range(12_000)}
    assert pipeline.stats.failures >= 1
    assert pipeline.stats.last_error == "RuntimeError: stage write failed"
    # The next round reached the stage while the previous one's write was under way.
    assert stage.overlapped >= 4
