"""Sending one batch with retries, then the dead-letter store.

Segment's policy: 429, 5xx and network errors are retried with randomized exponential
backoff for a window (4 hours by default); 400, 401, 403 and other refusals are discarded
at once. Here "discarded" means kept in the dead-letter store with the vendor's last answer,
so nothing is lost and it can be replayed once the cause is fixed. A 413 (payload too large)
to a batch splits it in halves, recursively; only a single event refused with 413 is
dead-lettered.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from shoal.destinations.base import DestinationClient, Outcome
from shoal.destinations.ledger import DeadLetter, Ledger
from shoal.destinations.metrics import Metrics

log = logging.getLogger("shoal.destinations")


class Stopped(Exception):
    """The destination is stopping; the batch stays undelivered (and is sent next start)."""


@dataclass(slots=True)
class Item:
    """One payload for one action, made from one stored event."""

    event_id: int
    part: int
    message_id: str
    event_type: str
    event_name: str | None
    profile: str
    received_ms: int
    action: str
    payload: dict[str, Any]


OnPart = Callable[[list[Item]], Awaitable[None]]
"""Told of each half of a split batch once every payload in it was handled."""
TOO_LARGE = 413


@dataclass(slots=True)
class _Clock:
    """When a batch was first tried and how many requests it (and its halves) took."""

    started: float
    first_at: datetime
    attempts: int = 0

    @classmethod
    def start(cls) -> _Clock:
        return cls(time.monotonic(), datetime.now(UTC))


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Exponential backoff with full jitter, bounded by a retry window."""

    window: float = 4 * 3600.0
    base: float = 1.0
    cap: float = 300.0

    def delay(self, attempt: int, retry_after: float | None) -> float:
        """Seconds to wait before attempt ``attempt + 1`` (at least ``Retry-After``)."""
        jitter = random.uniform(0, min(self.cap, self.base * 2**attempt))
        return max(jitter, min(retry_after, self.cap * 4)) if retry_after else jitter


def batches(items: list[Item], size: int) -> Iterator[list[Item]]:
    """Runs of one action, at most ``size`` long, in order (so per-profile order holds)."""
    run: list[Item] = []
    for item in items:
        if run and (item.action != run[0].action or len(run) >= size):
            yield run
            run = []
        run.append(item)
    if run:
        yield run


class Deliverer:
    """Delivers batches for one destination; shared by its stream worker and replays."""

    def __init__(
        self,
        destination_id: str,
        client: DestinationClient,
        ledger: Ledger,
        metrics: Metrics,
        policy: RetryPolicy,
        stopping: asyncio.Event,
        max_in_flight: int,
    ) -> None:
        self.destination_id = destination_id
        self.client = client
        self.ledger = ledger
        self.metrics = metrics
        self.policy = policy
        self.stopping = stopping
        self.slots = asyncio.Semaphore(max_in_flight)

    async def _send(self, batch: list[Item]) -> Outcome:
        async with self.slots:
            self.metrics.in_flight += len(batch)
            self.metrics.requests += 1
            try:
                return await self.client.send(batch[0].action, [i.payload for i in batch])
            except Exception as exc:  # an adapter bug must not kill delivery
                log.exception("destination %s: adapter failed", self.destination_id)
                return Outcome(False, None, retryable=True, error=f"adapter error: {exc!r}")
            finally:
                self.metrics.in_flight -= len(batch)

    async def deliver(self, batch: list[Item], on_part: OnPart | None = None) -> int:
        """Send ``batch`` until it is accepted, refused, or out of retry time.

        Returns how many payloads were delivered; the rest are dead-lettered. A batch the
        vendor refuses as too large (413) is split in halves, each sent the same way, down
        to single payloads; then ``on_part`` (if given) hears of each half once it is
        handled, so a restart does not send it again. Raises ``Stopped`` if the
        destination stops while waiting to retry.
        """
        return await self._deliver(batch, on_part, _Clock.start())

    async def _deliver(self, batch: list[Item], on_part: OnPart | None, clock: _Clock) -> int:
        while True:
            outcome = await self._send(batch)
            clock.attempts += 1
            if outcome.ok:
                refused = {i: r for i, r in outcome.rejected.items() if 0 <= i < len(batch)}
                done = [item for i, item in enumerate(batch) if i not in refused]
                self.metrics.success(len(done), [i.received_ms for i in done], outcome.status)
                if refused:
                    letters = [(batch[i], reason) for i, reason in refused.items()]
                    await self._bury(letters, outcome, clock)
                return len(done)
            reason = outcome.error or f"HTTP {outcome.status}"
            self.metrics.error(f"{reason}: {outcome.body[:300]}".rstrip(": "), outcome.status)
            if outcome.status == TOO_LARGE and len(batch) > 1:
                return await self._halves(batch, on_part, clock)
            elapsed = time.monotonic() - clock.started
            if not outcome.retryable or elapsed >= self.policy.window:
                why = reason if not outcome.retryable else f"retry window passed; last: {reason}"
                if outcome.status == TOO_LARGE:
                    why = f"{reason}: the vendor refuses this event alone as too large"
                await self._bury([(item, why) for item in batch], outcome, clock)
                return 0
            delay = min(
                self.policy.delay(clock.attempts - 1, outcome.retry_after),
                self.policy.window - elapsed,
            )
            await self._wait(delay, len(batch))

    async def _halves(self, batch: list[Item], on_part: OnPart | None, clock: _Clock) -> int:
        # In order, one half after the other, so one profile's events stay in order. Each
        # half shares the batch's retry clock: splitting does not extend the window.
        middle = len(batch) // 2
        delivered = 0
        for half in (batch[:middle], batch[middle:]):
            delivered += await self._deliver(half, on_part, clock)
            if on_part is not None:
                await on_part(half)
        return delivered

    async def _wait(self, delay: float, count: int) -> None:
        self.metrics.retries += 1
        self.metrics.retrying += count
        if self.metrics.blocked_since is None:
            self.metrics.blocked_since = time.monotonic()
        try:
            await asyncio.wait_for(self.stopping.wait(), max(0.0, delay))
        except TimeoutError:
            return
        finally:
            self.metrics.retrying -= count
        raise Stopped

    async def _bury(self, letters: list[tuple[Item, str]], outcome: Outcome, clock: _Clock) -> None:
        rows = [
            DeadLetter(
                event_id=item.event_id,
                message_id=item.message_id,
                action=item.action,
                event_type=item.event_type,
                event_name=item.event_name,
                reason=reason[:1000],
                status=outcome.status,
                response=outcome.body or None,
                attempts=clock.attempts,
                first_attempt_at=clock.first_at,
            )
            for item, reason in letters
        ]
        await asyncio.to_thread(self.ledger.dead_letter, self.destination_id, rows)
        self.metrics.failed += len(rows)
        log.warning(
            "destination %s: %d payload(s) dead-lettered: %s",
            self.destination_id,
            len(rows),
            letters[0][1],
        )
