"""Durable delivery state per destination: cursor, delivered parts, dead letters, replays.

The cursor is the id of the last stored event fully handled (delivered, filtered out or
dead-lettered). Events past the cursor may be partly delivered when the server stops, so
each acknowledged batch is written to the ledger first; a restart skips ledger entries and
so never sends an acknowledged delivery twice. Advancing the cursor prunes the ledger.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, delete, func, insert, select, update

from shoal.control import tables as t
from shoal.control.repo import NotFound
from shoal.control.secrets import new_id


@dataclass(frozen=True, slots=True)
class State:
    """A destination's cursor and lifetime counters."""

    cursor: int
    delivered: int
    failed: int
    filtered: int
    last_error: str | None
    last_error_at: datetime | None
    last_success_at: datetime | None


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """One payload that could not be delivered, with the vendor's last answer."""

    event_id: int
    message_id: str
    action: str
    event_type: str
    event_name: str | None
    reason: str
    status: int | None
    response: str | None
    attempts: int
    first_attempt_at: datetime


def _now() -> datetime:
    return datetime.now(UTC)


class Ledger:
    """Reads and writes delivery state (synchronous; the engine calls it in a thread)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        mark = {"qmark": "?", "numeric": ":{}"}.get(engine.dialect.paramstyle, "%s")
        params = ", ".join(mark.format(i) for i in (1, 2, 3))
        self._insert_ledger = (
            f"INSERT INTO destination_ledger (destination_id, event_id, part) VALUES ({params})"
        )

    def state(self, destination_id: str) -> State:
        """The destination's state row."""
        query = select(t.destination_state).where(
            t.destination_state.c.destination_id == destination_id
        )
        with self.engine.connect() as conn:
            row = conn.execute(query).mappings().first()
        if row is None:
            raise NotFound(f"destination {destination_id} has no delivery state")
        return State(**{k: v for k, v in row.items() if k not in ("destination_id", "updated_at")})

    def done_parts(self, destination_id: str) -> set[tuple[int, int]]:
        """``(event_id, part)`` pairs past the cursor that were already acknowledged."""
        query = select(t.destination_ledger.c.event_id, t.destination_ledger.c.part).where(
            t.destination_ledger.c.destination_id == destination_id
        )
        with self.engine.connect() as conn:
            return {(int(e), int(p)) for e, p in conn.execute(query)}

    def record(self, destination_id: str, parts: Iterable[tuple[int, int]]) -> None:
        """Remember acknowledged parts (before the cursor moves past them)."""
        rows = [(destination_id, e, p) for e, p in parts]
        if rows:
            # Driver-level executemany: SQLAlchemy's per-row parameter handling cost more
            # than the insert itself at thousands of rows a second.
            with self.engine.begin() as conn:
                conn.exec_driver_sql(self._insert_ledger, rows)

    def advance(
        self,
        destination_id: str,
        cursor: int,
        counters: dict[str, int],
        last_error: tuple[str, datetime] | None,
        last_success_at: datetime | None,
    ) -> None:
        """Move the cursor, store the counters and forget ledger entries behind it."""
        values: dict[str, Any] = {"cursor": cursor, "updated_at": _now(), **counters}
        if last_error is not None:
            values["last_error"], values["last_error_at"] = last_error
        if last_success_at is not None:
            values["last_success_at"] = last_success_at
        with self.engine.begin() as conn:
            conn.execute(
                update(t.destination_state)
                .where(
                    t.destination_state.c.destination_id == destination_id,
                    t.destination_state.c.cursor <= cursor,
                )
                .values(**values)
            )
            conn.execute(
                delete(t.destination_ledger).where(
                    t.destination_ledger.c.destination_id == destination_id,
                    t.destination_ledger.c.event_id <= cursor,
                )
            )

    def set_cursor(self, destination_id: str, cursor: int) -> None:
        """Jump the cursor (re-enabling skips what arrived while disabled, as Segment)."""
        with self.engine.begin() as conn:
            conn.execute(
                update(t.destination_state)
                .where(t.destination_state.c.destination_id == destination_id)
                .values(cursor=cursor, updated_at=_now())
            )
            conn.execute(
                delete(t.destination_ledger).where(
                    t.destination_ledger.c.destination_id == destination_id
                )
            )

    # -- dead letters -------------------------------------------------------------------------

    def dead_letter(self, destination_id: str, letters: Sequence[DeadLetter]) -> None:
        """Store payloads that failed for good."""
        now = _now()
        rows = [
            {
                "id": new_id("dlq"),
                "destination_id": destination_id,
                "failed_at": now,
                "replayed_at": None,
                **{name: getattr(letter, name) for name in DeadLetter.__slots__},
            }
            for letter in letters
        ]
        if rows:
            with self.engine.begin() as conn:
                conn.execute(insert(t.destination_dead_letters), rows)

    def dead_letters(
        self, destination_id: str, limit: int = 100, offset: int = 0, pending_only: bool = False
    ) -> tuple[int, list[dict[str, Any]]]:
        """``(total, page)`` of dead letters, newest first."""
        table = t.destination_dead_letters
        where = [table.c.destination_id == destination_id]
        if pending_only:
            where.append(table.c.replayed_at.is_(None))
        query = (
            select(table)
            .where(*where)
            .order_by(table.c.failed_at.desc(), table.c.event_id.desc())
            .limit(limit)
            .offset(offset)
        )
        with self.engine.connect() as conn:
            total = conn.execute(select(func.count()).select_from(table).where(*where)).scalar()
            rows = [dict(r) for r in conn.execute(query).mappings()]
        return int(total or 0), rows

    def take_dead_letters(self, destination_id: str, ids: Sequence[str] | None) -> list[int]:
        """Mark dead letters replayed; returns their event ids (oldest first, unique)."""
        table = t.destination_dead_letters
        where = [table.c.destination_id == destination_id, table.c.replayed_at.is_(None)]
        if ids is not None:
            where.append(table.c.id.in_(list(ids)))
        with self.engine.begin() as conn:
            event_ids = [int(r[0]) for r in conn.execute(select(table.c.event_id).where(*where))]
            conn.execute(update(table).where(*where).values(replayed_at=_now()))
        return sorted(set(event_ids))

    # -- replays --------------------------------------------------------------------------------

    def create_replay(
        self, destination_id: str, kind: str, params: dict[str, Any], user_id: str
    ) -> dict[str, Any]:
        """Record a replay job (run by the engine, resumed after a restart)."""
        row = {
            "id": new_id("rpl"),
            "destination_id": destination_id,
            "kind": kind,
            "params": params,
            "position": 0,
            "status": "pending",
            "sent": 0,
            "failed": 0,
            "created_by": user_id,
            "created_at": _now(),
            "finished_at": None,
        }
        with self.engine.begin() as conn:
            conn.execute(insert(t.destination_replays).values(**row))
        return row

    def replays(self, destination_id: str, unfinished: bool = False) -> list[dict[str, Any]]:
        """Replay jobs of a destination, newest first."""
        table = t.destination_replays
        query = select(table).where(table.c.destination_id == destination_id)
        if unfinished:
            query = query.where(table.c.status.in_(("pending", "running")))
        with self.engine.connect() as conn:
            rows = conn.execute(query.order_by(table.c.created_at.desc())).mappings()
            return [dict(r) for r in rows]

    def replay_progress(
        self, replay_id: str, position: int, sent: int, failed: int, status: str
    ) -> None:
        """Save how far a replay got."""
        values: dict[str, Any] = {
            "position": position,
            "sent": sent,
            "failed": failed,
            "status": status,
        }
        if status == "done":
            values["finished_at"] = _now()
        with self.engine.begin() as conn:
            conn.execute(
                update(t.destination_replays)
                .where(t.destination_replays.c.id == replay_id)
                .values(**values)
            )
