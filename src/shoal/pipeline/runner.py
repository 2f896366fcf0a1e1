"""The loop that moves events from the queue into the store, in bulk.

Each round takes what the queue has (up to the batch size), normalizes it off the event
loop, skips messageIds repeated within the round, runs the stages, writes the round to the
store in one atomic, deduplicating bulk load, waits for the stages' own writes, and only
then acks it. A crash anywhere before the ack
means the round is delivered again and the store's dedupe keeps it exactly-once.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field

import msgspec

from shoal.pipeline.hub import EventHub
from shoal.pipeline.stage import Stage
from shoal.queue import Delivery, Queue
from shoal.spec.envelope import ENVELOPE_DECODER
from shoal.spec.normalize import NormalizedEvent, normalize
from shoal.spec.timestamps import now_ms
from shoal.store import EventStore

log = logging.getLogger("shoal.pipeline")
GROUP = "pipeline"
_FORGET_EVERY = 3600.0


@dataclass
class PipelineStats:
    """Counters since start, for ``/api/v1/status``."""

    stored: int = 0
    rejected: int = 0
    duplicates: int = 0
    rounds: int = 0
    failures: int = 0
    last_error: str | None = None
    last_error_at: float | None = None
    started_at: float = field(default_factory=time.time)


class Pipeline:
    """Queue → store mover; run it as a task and ``stop()`` it to drain cleanly."""

    def __init__(
        self,
        queue: Queue,
        store: EventStore,
        hub: EventHub,
        *,
        batch_size: int = 5000,
        dedupe_window_hours: int = 168,
        linger: float = 0.0,
    ) -> None:
        self.queue = queue
        self.store = store
        self.hub = hub
        self.batch_size = batch_size
        self.linger = linger
        self.dedupe_window_ms = dedupe_window_hours * 3_600_000
        self.stats = PipelineStats()
        self._unacked: dict[int, list[Delivery]] = {}
        self.stages: list[Stage] = []
        """Run in order on every round after normalization, before the store write."""
        self._stopping = asyncio.Event()
        self._last_forget = 0.0

    async def run(self) -> None:
        """Process rounds until ``stop()``; failures are retried, never dropped.

        Two rounds are in flight at once: while round N is written (the store's bulk load and
        the identity stage's write run in native code without the GIL), round N+1 is
        normalized and goes through the stages. Stages, writes and acks stay strictly in
        round order.
        """
        backoff = 0.5
        inflight: list[_Round] = []
        while not self._stopping.is_set():
            try:
                deliveries = await self._take()
                if deliveries:
                    self._unacked[id(deliveries)] = deliveries
                prepared = await asyncio.to_thread(_prepare, deliveries) if deliveries else None
                while len(inflight) > 1 or (inflight and not deliveries):
                    await inflight.pop(0).task
                if deliveries and prepared is not None:
                    inflight.append(self._start(deliveries, *prepared, inflight[-1:]))
                else:
                    await self._forget_old_ids()
                backoff = 0.5
            except Exception as exc:
                # Unacked rounds come back from the queue; a broken store must not spin.
                for other in inflight:
                    other.task.cancel()
                await asyncio.gather(*(r.task for r in inflight), return_exceptions=True)
                inflight.clear()
                self._failed(exc)
                log.exception("pipeline round failed; retrying in %.1fs", backoff)
                await self._give_back(backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 30.0)
        for last in inflight:
            try:
                await last.task
            except Exception as exc:
                self._failed(exc)
                log.exception("last pipeline round failed; it stays queued")

    async def _take(self) -> list[Delivery]:
        """The next round; a small one lingers briefly to grow (see ``linger``)."""
        deliveries = await self.queue.consume(GROUP, self.batch_size, wait=0.25)
        small = 0 < len(deliveries) < self.batch_size // 10
        if small and self.linger > 0 and not self._stopping.is_set():
            await asyncio.sleep(self.linger)
            deliveries += await self.queue.consume(GROUP, self.batch_size - len(deliveries), wait=0)
        return deliveries

    async def stop(self) -> None:
        """Finish the current round and return; what is not acked stays queued."""
        self._stopping.set()

    async def process(self, deliveries: list[Delivery]) -> None:
        """One round, start to finish: normalize, run stages, store, ack, notify."""
        events, corrupt = await asyncio.to_thread(_prepare, deliveries)
        await self._start(deliveries, events, corrupt, []).task

    def _start(
        self,
        deliveries: list[Delivery],
        events: list[NormalizedEvent],
        corrupt: list[Delivery],
        before: list[_Round],
    ) -> _Round:
        round_ = _Round(asyncio.Event())
        round_.task = asyncio.create_task(
            self._finish(round_, deliveries, events, corrupt, before[0] if before else None)
        )
        return round_

    async def _finish(
        self,
        round_: _Round,
        deliveries: list[Delivery],
        events: list[NormalizedEvent],
        corrupt: list[Delivery],
        before: _Round | None,
    ) -> None:
        try:
            if before is not None:
                await before.staged.wait()
            if corrupt:
                # Not something our edge writes; keep it queued and visible in the log.
                log.error("%d queue records could not be decoded; retrying later", len(corrupt))
                await self.queue.nack(GROUP, corrupt, delay=300)
            pending = []
            for stage in self.stages:
                waiter = await stage.process(events)
                if waiter is not None:
                    pending.append(waiter)
        finally:
            round_.staged.set()
        # No suspension between the last stage and queueing the store write: whoever takes
        # a stage's lock next finds this round's write ahead of its own (identity replays).
        result = await self.store.write(events)
        for waiter in pending:
            await waiter
        if before is not None:
            await before.task  # acks in round order; a failed earlier round fails this one
        ok = [d for d in deliveries if d not in corrupt] if corrupt else deliveries
        await self.queue.ack(GROUP, ok)
        self._unacked.pop(id(deliveries), None)
        self.stats.rounds += 1
        self.stats.stored += result.inserted
        self.stats.duplicates += result.duplicates + (len(ok) - len(events))
        self.stats.rejected += sum(1 for e in events if e.status == "rejected")
        self.hub.notify(e.source_id for e in events)

    def _failed(self, exc: BaseException) -> None:
        self.stats.failures += 1
        self.stats.last_error = f"{type(exc).__name__}: {exc}"
        self.stats.last_error_at = time.time()

    async def _give_back(self, delay: float) -> None:
        """Nack every round not yet acked, so the queue delivers it again after ``delay``."""
        rounds, self._unacked = list(self._unacked.values()), {}
        for deliveries in rounds:
            try:
                await self.queue.nack(GROUP, deliveries, delay)
            except Exception:
                # Still pending in the queue: it comes back when the consumer restarts.
                log.exception("could not hand a failed round back to the queue")

    async def _forget_old_ids(self) -> None:
        now = time.monotonic()
        if now - self._last_forget < _FORGET_EVERY:
            return
        self._last_forget = now
        await self.store.forget_message_ids(now_ms() - self.dedupe_window_ms)


@dataclass
class _Round:
    """A round in flight: ``staged`` is set once its stages are done."""

    staged: asyncio.Event
    task: asyncio.Task[None] = field(init=False)


def _prepare(deliveries: list[Delivery]) -> tuple[list[NormalizedEvent], list[Delivery]]:
    events: list[NormalizedEvent] = []
    corrupt: list[Delivery] = []
    seen: set[tuple[str, str]] = set()
    for delivery in deliveries:
        try:
            envelope = ENVELOPE_DECODER.decode(delivery.payload)
        except msgspec.DecodeError:
            corrupt.append(delivery)
            continue
        event = normalize(envelope)
        key = (event.source_id, event.message_id)
        if key in seen:
            continue
        seen.add(key)
        events.append(event)
    return events, corrupt
