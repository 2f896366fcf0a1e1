"""Reads the event store as the delivery log: accepted events after a cursor, in id order."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import msgspec

from shoal.store import EventStore

_DECODE = msgspec.json.Decoder().decode
_COLUMNS = (
    "id, source_id, message_id, type, event, coalesce(profile_id, user_id, anonymous_id), "
    "epoch_ms(received_at), properties, traits, context, extra"
)


@dataclass(frozen=True, slots=True)
class Row:
    """One stored event, reassembled into its Segment message."""

    id: int
    source_id: str
    message_id: str
    type: str
    event: str | None
    profile: str
    received_ms: int
    message: dict[str, Any]


def _row(raw: tuple[Any, ...]) -> Row:
    message: dict[str, Any] = _DECODE(raw[10])
    for key, value in zip(("properties", "traits", "context"), raw[7:10], strict=True):
        if value is not None:
            message[key] = _DECODE(value)
    profile = raw[5] or raw[2]
    return Row(raw[0], raw[1], raw[2], raw[3], raw[4], str(profile), int(raw[6]), message)


def _in(values: Sequence[object]) -> str:
    return ", ".join("?" for _ in values)


class EventReader:
    """Queries the store's ``events`` table for delivery."""

    def __init__(self, store: EventStore) -> None:
        self.store = store

    async def window(
        self, cursor: int, source_ids: Sequence[str], limit: int
    ) -> tuple[int, list[Row]]:
        """``(head, rows)``: the newest event id, and the events ``after`` returns up to it.

        On the embedded store both queries and the JSON decoding run in one reader-thread
        hop, off the event loop that also serves ingestion.
        """
        run_read = getattr(self.store, "run_read", None)
        if run_read is None:
            head = await self.head()
            rows = await self.after(cursor, head, source_ids, limit) if head > cursor else []
            return head, rows
        sql = (
            f"SELECT {_COLUMNS} FROM events WHERE id > ? AND id <= ? "
            f"AND source_id IN ({_in(source_ids)}) AND status = 'accepted' ORDER BY id LIMIT ?"
        )

        def work(cur: Any) -> tuple[int, list[Row]]:
            found = cur.execute("SELECT coalesce(max(id), 0) FROM events").fetchone()
            head = int(found[0]) if found else 0
            if head <= cursor or not source_ids:
                return head, []
            raw = cur.execute(sql, [cursor, head, *source_ids, limit]).fetchall()
            return head, [_row(r) for r in raw]

        result: tuple[int, list[Row]] = await run_read(work)
        return result

    async def head(self) -> int:
        """The newest stored event id (0 for an empty store)."""
        rows = await self.store.query("SELECT coalesce(max(id), 0) FROM events")
        return int(rows[0][0]) if rows else 0

    async def after(
        self, cursor: int, head: int, source_ids: Sequence[str], limit: int
    ) -> list[Row]:
        """Accepted events of ``source_ids`` with ``cursor < id <= head``, oldest first."""
        sql = (
            f"SELECT {_COLUMNS} FROM events WHERE id > ? AND id <= ? "
            f"AND source_id IN ({_in(source_ids)}) AND status = 'accepted' ORDER BY id LIMIT ?"
        )
        raw = await self.store.query(sql, [cursor, head, *source_ids, limit])
        return [_row(r) for r in raw]

    async def by_ids(self, ids: Sequence[int]) -> list[Row]:
        """Stored events by id (for dead-letter replays), oldest first."""
        if not ids:
            return []
        sql = f"SELECT {_COLUMNS} FROM events WHERE id IN ({_in(ids)}) ORDER BY id"
        return [_row(r) for r in await self.store.query(sql, list(ids))]

    async def in_range(
        self,
        after_id: int,
        from_ms: int,
        to_ms: int,
        source_ids: Sequence[str],
        limit: int,
    ) -> list[Row]:
        """Accepted events received in ``[from_ms, to_ms)`` with ``id > after_id``."""
        sql = (
            f"SELECT {_COLUMNS} FROM events WHERE id > ? AND received_at >= epoch_ms(?::BIGINT) "
            f"AND received_at < epoch_ms(?::BIGINT) AND source_id IN ({_in(source_ids)}) "
            "AND status = 'accepted' ORDER BY id LIMIT ?"
        )
        raw = await self.store.query(sql, [after_id, from_ms, to_ms, *source_ids, limit])
        return [_row(r) for r in raw]

    async def backlog(self, cursor: int, source_ids: Sequence[str]) -> int:
        """Accepted events of ``source_ids`` past ``cursor`` (not yet handled)."""
        if not source_ids:
            return 0
        sql = (
            f"SELECT count(*) FROM events WHERE id > ? AND source_id IN ({_in(source_ids)}) "
            "AND status = 'accepted'"
        )
        rows = await self.store.query(sql, [cursor, *source_ids])
        return int(rows[0][0]) if rows else 0
