"""The stream worker of one destination: reads past its cursor, maps, delivers, advances.

Each round takes a window of events after the cursor, runs filters and mappings, and
splits the payloads into ``max_in_flight`` lanes by profile, so one profile's events stay
in order while different profiles go out in parallel. The cursor moves past the window
only when every payload in it was delivered or dead-lettered; a retrying lane holds the
cursor (and only this destination's cursor: ingestion and other destinations go on).
"""

from __future__ import annotations

import asyncio
import logging
import time
import zlib
from collections import defaultdict
from dataclasses import dataclass

from shoal.destinations.delivery import Deliverer, Item, Stopped, batches
from shoal.destinations.filters import DestinationFilter, apply_filters
from shoal.destinations.ledger import Ledger
from shoal.destinations.mappings import Mapper
from shoal.destinations.metrics import Metrics
from shoal.destinations.reader import EventReader, Row
from shoal.pipeline import EventHub

log = logging.getLogger("shoal.destinations")


@dataclass(frozen=True, slots=True)
class Plan:
    """How a destination turns events into payloads."""

    filters: list[DestinationFilter]
    mapper: Mapper
    max_batch: int

    def items(self, row: Row) -> list[Item]:
        """The payloads one event produces (empty when filtered out)."""
        message = apply_filters(self.filters, row.message)
        if message is None:
            return []
        return [
            Item(
                row.id,
                part,
                row.message_id,
                row.type,
                row.event,
                row.profile,
                row.received_ms,
                action,
                payload,
            )
            for part, (action, payload) in enumerate(self.mapper.map(message))
        ]


class StreamWorker:
    """Delivers new events of the connected sources, in order, for one destination."""

    def __init__(
        self,
        destination_id: str,
        source_ids: tuple[str, ...],
        plan: Plan,
        deliverer: Deliverer,
        reader: EventReader,
        ledger: Ledger,
        hub: EventHub,
        *,
        lanes: int,
        poll: float,
    ) -> None:
        self.id = destination_id
        self.source_ids = source_ids
        self.plan = plan
        self.deliverer = deliverer
        self.metrics: Metrics = deliverer.metrics
        self.reader = reader
        self.ledger = ledger
        self.hub = hub
        self.lanes = max(1, lanes)
        self.poll = poll
        self.window = min(20000, max(500, self.lanes * plan.max_batch * 2))
        self.cursor = 0
        self._done: set[tuple[int, int]] = set()
        self._persisted_at = 0.0
        self._dirty = False
        self._outstanding = 0
        self._pending: list[tuple[int, int]] = []
        self._flush_lock = asyncio.Lock()

    async def run(self) -> None:
        """Loop until the destination stops."""
        state = await asyncio.to_thread(self.ledger.state, self.id)
        self.cursor = state.cursor
        self.metrics.load(state)
        self._done = await asyncio.to_thread(self.ledger.done_parts, self.id)
        wake = self.hub.subscribe_all()
        stopping = self.deliverer.stopping
        try:
            while not stopping.is_set():
                wake.clear()
                try:
                    progressed = await self._round()
                except Stopped:
                    return
                if not progressed:
                    await self._idle(wake)
        finally:
            self.hub.unsubscribe_all(wake)
            if self._dirty:
                await asyncio.to_thread(self._persist)

    async def _idle(self, wake: asyncio.Event) -> None:
        if self._dirty and time.monotonic() - self._persisted_at > 1.0:
            await asyncio.to_thread(self._persist)
        waiters = [asyncio.ensure_future(wake.wait())]
        waiters.append(asyncio.ensure_future(self.deliverer.stopping.wait()))
        _, pending = await asyncio.wait(waiters, timeout=self.poll, return_when="FIRST_COMPLETED")
        for task in pending:
            task.cancel()

    async def _round(self) -> bool:
        """Handle one window; False when there was nothing new."""
        head, rows = await self.reader.window(self.cursor, self.source_ids, self.window)
        if head <= self.cursor or not self.source_ids:
            return False
        end = head if len(rows) < self.window else rows[-1].id
        if rows:
            await self._deliver(rows)
            self.cursor = end
            await asyncio.to_thread(self._persist)
            self._done = {key for key in self._done if key[0] > end}
        else:
            # Only other sources' events: skip them, persisting lazily (nothing to lose).
            self.cursor, self._dirty = end, True
        return True

    async def _deliver(self, rows: list[Row]) -> None:
        lanes: dict[int, list[Item]] = defaultdict(list)
        for row in rows:
            items = self.plan.items(row)
            if not items:
                self.metrics.filtered += 1
            for item in items:
                if (item.event_id, item.part) not in self._done:
                    lane = zlib.crc32(item.profile.encode()) % self.lanes
                    lanes[lane].append(item)
        work = [list(batches(items, self.plan.max_batch)) for items in lanes.values()]
        self._outstanding = sum(len(w) for w in work)
        results = await asyncio.gather(
            *(self._lane(lane_batches) for lane_batches in work), return_exceptions=True
        )
        for result in results:
            if isinstance(result, BaseException):
                raise result

    async def _lane(self, lane_batches: list[list[Item]]) -> None:
        for batch in lane_batches:
            if self.deliverer.stopping.is_set():
                raise Stopped
            await self.deliverer.deliver(batch, on_part=self._remember_half)
            self._outstanding -= 1
            # The last batch of a window is followed at once by the cursor moving past it,
            # so only earlier ones need the ledger to survive a crash. Halves of a split
            # batch were remembered as they went (the ledger holds each part once).
            if self._outstanding > 0:
                parts = [(i.event_id, i.part) for i in batch]
                await self._remember([p for p in parts if p not in self._done])

    async def _remember_half(self, half: list[Item]) -> None:
        """A half of a batch split after a 413 was handled: remember its parts at once."""
        await self._remember(
            [(i.event_id, i.part) for i in half if (i.event_id, i.part) not in self._done]
        )

    async def _remember(self, parts: list[tuple[int, int]]) -> None:
        """Write acknowledged parts to the ledger; lanes finishing together share a commit."""
        if not parts:
            return
        self._done.update(parts)
        self._pending.extend(parts)
        async with self._flush_lock:
            if not self._pending:
                return  # an earlier flusher already wrote ours
            flushing, self._pending = self._pending, []
            await asyncio.to_thread(self.ledger.record, self.id, flushing)

    def _persist(self) -> None:
        m = self.metrics
        error = (m.last_error, m.last_error_at) if m.last_error and m.last_error_at else None
        self.ledger.advance(self.id, self.cursor, m.counters(), error, m.last_success_at)
        self._persisted_at, self._dirty = time.monotonic(), False
