"""The queue contract every backend implements (tests/contract/test_queue.py checks it).

Semantics, whatever the backend:

* ``publish`` returns only once the records are durable: the HTTP edge answers 200 on it.
* Consumption is at-least-once per consumer group, in publish order within a partition
  key. A delivery that is neither acked nor nacked comes back after the consumer restarts
  (and, on backends with concurrent consumers, after the visibility timeout).
* ``nack(delay)`` hands a delivery back to be redelivered no sooner than ``delay`` seconds
  later, with ``attempts`` incremented.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable


@dataclass(frozen=True, slots=True)
class QueueCapabilities:
    """What a backend declares about itself (declared, never probed)."""

    durable: bool
    """Published records survive a crash of the process."""
    partitioned: bool
    """Order is kept per partition key rather than globally."""
    shared_consumers: bool
    """Several processes may consume one group at once."""


@dataclass(frozen=True, slots=True)
class Delivery:
    """One record handed to a consumer."""

    id: str
    """Backend-specific receipt, passed back to ``ack``/``nack``."""
    payload: bytes
    attempts: int = 1


@runtime_checkable
class Queue(Protocol):
    """A durable, ordered, at-least-once queue with consumer groups."""

    capabilities: QueueCapabilities

    async def start(self) -> None:
        """Open connections and create what the backend needs."""

    async def close(self) -> None:
        """Flush and release everything; publishes already acknowledged stay durable."""

    async def publish(self, records: Sequence[tuple[str, bytes]]) -> None:
        """Durably append ``(partition_key, payload)`` records as one unit."""

    async def consume(self, group: str, max_records: int, wait: float) -> list[Delivery]:
        """Return up to ``max_records`` deliveries, waiting up to ``wait`` s for the first."""

    async def ack(self, group: str, deliveries: Sequence[Delivery]) -> None:
        """Mark deliveries as done for ``group``.

        Acked records are not delivered again, with one exception on offset-tracking
        backends: after a restart, records acked *after* an older unacked one may come
        back with it. Consumers must be idempotent (the pipeline's store dedupes).
        """

    async def nack(self, group: str, deliveries: Sequence[Delivery], delay: float) -> None:
        """Give deliveries back for redelivery after ``delay`` seconds."""

    async def lag(self, group: str) -> int:
        """How many records ``group`` has not yet acknowledged."""
