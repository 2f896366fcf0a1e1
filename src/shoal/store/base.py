"""The event-store contract (tests/contract/test_store.py runs it against every backend).

* ``write`` is idempotent: an event whose ``(source_id, message_id)`` was written within
  the dedupe window is skipped and counted as a duplicate, so a pipeline that replays a
  batch after a crash stores every event exactly once.
* ``write`` is atomic: after it returns, all of the batch is visible; if it raises, none is.
* Event ids increase in write order, so "newest first" is ``id`` descending.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from shoal.spec.normalize import NormalizedEvent


@dataclass(frozen=True, slots=True)
class StoreCapabilities:
    """What a backend declares about itself."""

    single_writer: bool
    """Only one process may write (the embedded DuckDB file)."""
    dialect: str
    """The sqlglot dialect its SQL is written in (audiences compile to it)."""


@dataclass(frozen=True, slots=True)
class WriteResult:
    """What one ``write`` did."""

    inserted: int
    duplicates: int


@dataclass(frozen=True, slots=True)
class StoredEvent:
    """An event read back: the message as stored, with its status."""

    id: int
    source_id: str
    status: str
    reason: str | None
    message: dict[str, Any]
    violations: list[dict[str, Any]] | None = None


@dataclass(frozen=True, slots=True)
class EventQuery:
    """Filters for reading events back, newest first."""

    source_id: str | None = None
    limit: int = 100
    before_id: int | None = None
    after_id: int | None = None
    status: str | None = None
    types: Sequence[str] = field(default_factory=tuple)
    event: str | None = None


@runtime_checkable
class EventStore(Protocol):
    """Durable, deduplicating storage of normalized events."""

    capabilities: StoreCapabilities

    async def start(self) -> None:
        """Open the backend and apply its migrations."""

    async def close(self) -> None:
        """Finish pending writes and release the backend."""

    async def write(self, events: Sequence[NormalizedEvent]) -> WriteResult:
        """Store a batch atomically, skipping messageIds already stored per source."""

    async def events(self, query: EventQuery) -> list[StoredEvent]:
        """Events matching ``query``, newest first (``after_id`` queries: oldest first)."""

    async def count(self, source_id: str | None = None, status: str | None = None) -> int:
        """How many events are stored (optionally of one source or status)."""

    async def forget_message_ids(self, received_before_ms: int) -> int:
        """Drop dedupe memory older than the window; returns how many ids were dropped."""

    async def query(self, sql: str, params: Sequence[object] = ()) -> list[tuple[Any, ...]]:
        """Run a read-only query in the store's dialect (``capabilities.dialect``).

        Tables: ``events`` (one row per stored event: ``id, workspace_id, source_id,
        environment, message_id, type, event, user_id, anonymous_id, group_id, timestamp,
        received_at, status, reason, properties, traits, context, extra, violations,
        profile_id``).
        Parameters use ``?`` placeholders.
        """
