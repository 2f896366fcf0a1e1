"""Delivery counts over time, for the delivery dashboard.

Destinations keep lifetime counters (delivered, failed, filtered) and a live gauge of the
payloads waiting to be retried; nothing records when each delivery happened. So the web app
samples them: once a minute ``DeliveryHistory`` writes each destination's counters to
``ui_delivery_samples`` (only when they moved, or while something is retrying), and keeps a
week of them. A chart bucket's "delivered" is how far the counter moved within it; its
"retrying" is the most payloads seen waiting at once. The newest bucket ends with the
counters as they are at the moment the page is drawn, so the dashboard is current without
waiting for the next sample.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine, delete, insert, select

from shoal.control import tables as t
from shoal.control.repo import NotFound
from shoal.destinations.service import DestinationService
from shoal.web.ui.times import as_utc

log = logging.getLogger("shoal.web")
SAMPLE_EVERY = 60.0
KEEP = timedelta(days=8)
RANGES: dict[str, tuple[int, int, str]] = {
    "1h": (12, 300, "%H:%M"),
    "24h": (24, 3600, "%H:%M"),
    "7d": (7, 86400, "%a %d"),
}
"""Chart ranges: how many buckets, of how many seconds, and how a bucket's start is shown."""


@dataclass(frozen=True, slots=True)
class Sample:
    """A destination's counters at one moment (``at`` in epoch seconds)."""

    at: float
    delivered: int
    failed: int
    retrying: int


@dataclass(frozen=True, slots=True)
class Bucket:
    """What happened in ``[start, end)``."""

    start: float
    end: float
    delivered: int
    failed: int
    retrying: int
    label: str


class DeliveryHistory:
    """Samples every destination's counters into the control plane and reads them back."""

    def __init__(
        self,
        engine: Engine,
        destinations: DestinationService,
        every: float = SAMPLE_EVERY,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.engine = engine
        self.destinations = destinations
        self.every = every
        self.clock = clock
        self._last: dict[str, tuple[int, int, int, int]] = {}
        self._task: asyncio.Task[None] | None = None
        self._stop = asyncio.Event()

    def counters(self, destination_id: str) -> tuple[int, int, int, int] | None:
        """``(delivered, failed, filtered, retrying)`` now, or ``None`` for no such state."""
        try:
            state = self.destinations.ledger.state(destination_id)
        except NotFound:
            return None
        # The persisted counters trail the live ones by up to a second, and the live ones
        # read zero until a restarted worker has loaded them: the larger is the true count.
        live = self.destinations.engine.metrics.get(destination_id)
        if live is None:
            return state.delivered, state.failed, state.filtered, 0
        return (
            max(state.delivered, live.delivered),
            max(state.failed, live.failed),
            max(state.filtered, live.filtered),
            max(0, live.retrying),
        )

    def sample(self) -> int:
        """Record every destination's counters that moved (blocking); returns rows written."""
        now = datetime.fromtimestamp(self.clock(), UTC)
        rows = []
        for destination in self.destinations.repo.list_all(None):
            found = self.counters(destination.id)
            if found is None or (found == self._last.get(destination.id) and not found[3]):
                continue
            self._last[destination.id] = found
            delivered, failed, filtered, retrying = found
            rows.append(
                {
                    "destination_id": destination.id,
                    "at": now,
                    "delivered": delivered,
                    "failed": failed,
                    "filtered": filtered,
                    "retrying": retrying,
                }
            )
        table = t.ui_delivery_samples
        with self.engine.begin() as conn:
            if rows:
                conn.execute(insert(table), rows)
            conn.execute(delete(table).where(table.c.at < now - KEEP))
        return len(rows)

    def samples(self, destination_id: str, since: float) -> list[Sample]:
        """Samples from ``since`` on, after the last one before it (the starting level)."""
        table = t.ui_delivery_samples
        start = datetime.fromtimestamp(since, UTC)
        columns = (table.c.at, table.c.delivered, table.c.failed, table.c.retrying)
        mine = table.c.destination_id == destination_id
        with self.engine.connect() as conn:
            before = conn.execute(
                select(*columns).where(mine, table.c.at < start).order_by(table.c.at.desc())
            ).first()
            rows = conn.execute(
                select(*columns).where(mine, table.c.at >= start).order_by(table.c.at)
            ).all()
        found = [before, *rows] if before is not None else rows
        return [Sample(as_utc(r[0]).timestamp(), r[1], r[2], r[3]) for r in found]

    async def _run(self) -> None:
        while not self._stop.is_set():
            try:
                await asyncio.to_thread(self.sample)
            except Exception:  # a busy or closing database must not end the sampling
                log.exception("sampling delivery counters failed; trying again later")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), self.every)

    def start(self) -> None:
        """Sample now and then every ``every`` seconds."""
        self._stop.clear()
        self._task = asyncio.create_task(self._run(), name="shoal-delivery-samples")

    async def stop(self) -> None:
        """Stop sampling after one last sample (so a restart loses no counts)."""
        self._stop.set()
        if self._task is not None:
            await self._task
            self._task = None
        with contextlib.suppress(Exception):
            await asyncio.to_thread(self.sample)


def buckets(
    samples: Iterable[Sample], now: Sample, range_name: str, created_at: float
) -> list[Bucket]:
    """The chart's buckets for one destination, the newest ending at ``now.at``.

    Counts before the destination's first sample are unknown, except for a destination
    created within the range: it started from zero.
    """
    count, width, fmt = RANGES[range_name]
    start = now.at - count * width
    points = sorted([*samples, now], key=lambda s: s.at)
    if created_at >= start:
        points.insert(0, Sample(created_at, 0, 0, 0))

    def level(moment: float) -> Sample:
        seen = [p for p in points if p.at <= moment]
        return seen[-1] if seen else points[0]

    out = []
    for i in range(count):
        lo, hi = start + i * width, start + (i + 1) * width
        first, last = level(lo), level(hi)
        waiting = [p.retrying for p in points if lo <= p.at <= hi]
        out.append(
            Bucket(
                lo,
                hi,
                max(0, last.delivered - first.delivered),
                max(0, last.failed - first.failed),
                max([*waiting, 0]),
                datetime.fromtimestamp(lo, UTC).strftime(fmt),
            )
        )
    return out


@dataclass(frozen=True, slots=True)
class Bar:
    """One bucket drawn in a ``0 0 (10 * buckets) 100`` SVG box: rectangle tops and heights."""

    x: float
    delivered_y: float
    delivered_h: float
    failed_y: float
    failed_h: float
    retrying_y: float
    retrying_h: float
    bucket: Bucket


def _nice(value: int) -> int:
    """The smallest 1, 2 or 5 times a power of ten at or above ``value`` (a readable top)."""
    step = 1
    while True:
        for factor in (1, 2, 5):
            if step * factor >= value:
                return step * factor
        step *= 10


def _height(value: int, top: int) -> float:
    # A non-zero count always shows, however small next to the top of the scale.
    return 0.0 if not value else max(1.5, round(value / top * 100, 2))


def bars(chart: list[Bucket]) -> tuple[list[Bar], int]:
    """The bars of a chart and the top of its scale: delivered with failed stacked on it,
    and a thin bar beside them for the most payloads waiting to be retried."""
    top = _nice(max([max(b.delivered + b.failed, b.retrying) for b in chart] + [1]))
    out = []
    for i, bucket in enumerate(chart):
        delivered = _height(bucket.delivered, top)
        failed = _height(bucket.failed, top)
        retrying = _height(bucket.retrying, top)
        out.append(
            Bar(
                x=i * 10 + 1,
                delivered_y=100 - delivered,
                delivered_h=delivered,
                failed_y=max(0.0, 100 - delivered - failed),
                failed_h=failed,
                retrying_y=100 - retrying,
                retrying_h=retrying,
                bucket=bucket,
            )
        )
    return out, top
