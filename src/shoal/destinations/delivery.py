"""Sending one batch with retries, then the dead-letter store.

Segment's policy: 429, 5xx and network errors are retried with randomized exponential
backoff for a window (4 hours by default); 400, 401, 403 and other refusals are discarded
at once. Here "discarded" means kept in the dead-letter store with the vendor's last answer,
so nothing is lost and it can be replayed once the cause is fixed.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Iterator
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

    async def deliver(self, batch: list[Item]) -> int:
        """Send ``batch`` until it is accepted, refused, or out of retry time.

        Returns how many payloads were delivered; the rest are dead-lettered. Raises
        ``Stopped`` if the destination stops while waiting to retry.
        """
        started, first_at, attempt = time.monotonic(), datetime.now(UTC), 0
        while True:
            outcome = await self._send(batch)
            attempt += 1
            if outcome.ok:
                refused = {i: r for i, r in outcome.rejected.items() if 0 <= i < len(batch)}
                done = [item for i, item in enumerate(batch) if i not in refused]
                self.metrics.success(len(done), [i.received_ms for i in done], outcome.status)
                if refused:
                    letters = [(batch[i], reason) for i, reason in refused.items()]
                    await self._bury(letters, outcome, attempt, first_at)
                return len(done)
            reason = outcome.error or f"HTTP {outcome.status}"
            self.metrics.error(f"{reason}: {outcome.body[:300]}".rstrip(": "), outcome.status)
            elapsed = time.monotonic() - started
            if not outcome.retryable or elapsed >= self.policy.window:
                why = reason if not outcome.retryable else f"retry window passed; last: {reason}"
                await self._bury([(item, why) for item in batch], outcome, attempt, first_at)
                return 0
            delay = min(
                self.policy.delay(attempt - 1, outcome.retry_after), self.policy.window - elapsed
            )
            await self._wait(delay, len(batch))

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

    async def _bury(
        self,
        letters: list[tuple[Item, str]],
        outcome: Outcome,
        attempts: int,
        first_at: datetime,
    ) -> None:
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
                attempts=attempts,
                first_attempt_at=first_at,
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
