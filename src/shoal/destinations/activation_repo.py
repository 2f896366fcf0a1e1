"""Audience connections and their sync state in the control plane (synchronous; callers
run it in a thread).

A connection's ``cursor`` is the ``audience_history.seq`` of the last change fully synced.
The changes after it are synced a window at a time: ``window_end`` fixes the window when it
starts and ``window_done`` counts its operations the vendor accepted, so a restart resumes
inside the window without sending an accepted operation again.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from shoal.control import tables as t
from shoal.control.repo import Conflict, NotFound
from shoal.control.secrets import new_id

_C = t.audience_destinations
_D = t.audience_destination_dead_letters


@dataclass(frozen=True, slots=True)
class Connection:
    """An audience connected to a list-sync destination, with its sync state."""

    audience_id: str
    destination_id: str
    list_id: str
    created_at: datetime
    cursor: int
    window_end: int | None
    window_done: int
    added: int
    removed: int
    last_synced_at: datetime | None
    last_error: str | None
    last_error_at: datetime | None

    @property
    def key(self) -> tuple[str, str]:
        """What identifies the connection: ``(audience_id, destination_id)``."""
        return self.audience_id, self.destination_id


@dataclass(frozen=True, slots=True)
class ListDeadLetter:
    """Profiles whose add or remove the vendor refused for good (or past the retry window)."""

    id: str
    operation: str
    profile_ids: list[int]
    attempts: int


def _now() -> datetime:
    return datetime.now(UTC)


def _pair(audience_id: str, destination_id: str) -> tuple[Any, Any]:
    return _C.c.audience_id == audience_id, _C.c.destination_id == destination_id


class ActivationRepo:
    """Reads and writes connections and their dead letters."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    # -- connections ----------------------------------------------------------------------

    def create(self, audience_id: str, destination_id: str, list_id: str) -> Connection:
        """Connect (``Conflict`` if the pair is already connected)."""
        row = {
            "audience_id": audience_id,
            "destination_id": destination_id,
            "list_id": list_id,
            "created_at": _now(),
            "cursor": 0,
            "window_end": None,
            "window_done": 0,
            "added": 0,
            "removed": 0,
        }
        try:
            with self.engine.begin() as conn:
                conn.execute(insert(_C).values(**row))
        except IntegrityError:
            raise Conflict(
                f"audience {audience_id} is already connected to destination {destination_id}; "
                "delete the connection first to sync it to another list"
            ) from None
        return self.get(audience_id, destination_id)

    def get(self, audience_id: str, destination_id: str) -> Connection:
        """One connection (``NotFound`` otherwise)."""
        with self.engine.connect() as conn:
            row = conn.execute(select(_C).where(*_pair(audience_id, destination_id))).first()
        if row is None:
            raise NotFound(
                f"audience {audience_id} is not connected to destination {destination_id}"
            )
        return _connection(row)

    def all(self, audience_id: str | None = None) -> list[Connection]:
        """Connections of an audience (of every audience when ``None``), oldest first."""
        query = select(_C).order_by(_C.c.created_at, _C.c.destination_id)
        if audience_id is not None:
            query = query.where(_C.c.audience_id == audience_id)
        with self.engine.connect() as conn:
            return [_connection(row) for row in conn.execute(query)]

    def delete(self, audience_id: str, destination_id: str) -> None:
        """Disconnect, forgetting the sync state and dead letters (``NotFound`` if none)."""
        self.get(audience_id, destination_id)
        with self.engine.begin() as conn:
            conn.execute(
                delete(_D).where(
                    _D.c.audience_id == audience_id, _D.c.destination_id == destination_id
                )
            )
            conn.execute(delete(_C).where(*_pair(audience_id, destination_id)))

    # -- sync progress --------------------------------------------------------------------

    def begin_window(self, key: tuple[str, str], end: int) -> None:
        """Fix the window ``(cursor, end]`` before its first operation is sent."""
        self._set(key, window_end=end, window_done=0)

    def progress(self, key: tuple[str, str], done: int, added: int, removed: int) -> None:
        """``done`` operations of the window were handled (accepted or dead-lettered)."""
        self._set(
            key,
            window_done=done,
            added=_C.c.added + added,
            removed=_C.c.removed + removed,
            last_synced_at=_now(),
        )

    def finish_window(self, key: tuple[str, str], cursor: int) -> None:
        """The whole window was handled: the cursor moves to its end."""
        self._set(key, cursor=cursor, window_end=None, window_done=0, last_synced_at=_now())

    def record_error(self, key: tuple[str, str], error: str) -> None:
        """Show the vendor's last failure on the connection (kept until the next one)."""
        self._set(key, last_error=error[:1000], last_error_at=_now())

    def _set(self, key: tuple[str, str], **values: Any) -> None:
        with self.engine.begin() as conn:
            conn.execute(update(_C).where(*_pair(*key)).values(**values))

    # -- dead letters ---------------------------------------------------------------------

    def dead_letter(
        self, key: tuple[str, str], operation: str, profile_ids: Sequence[int],
        reason: str, status: int | None, response: str | None, attempts: int,
        first_attempt_at: datetime,
    ) -> None:  # fmt: skip
        """Keep profiles whose ``operation`` (add/remove) failed for good."""
        row = {
            "id": new_id("adl"),
            "audience_id": key[0],
            "destination_id": key[1],
            "operation": operation,
            "profile_ids": list(profile_ids),
            "reason": reason[:1000],
            "status": status,
            "response": (response or "")[:2000] or None,
            "attempts": attempts,
            "first_attempt_at": first_attempt_at,
            "failed_at": _now(),
        }
        with self.engine.begin() as conn:
            conn.execute(insert(_D).values(**row))

    def dead_letters(self, key: tuple[str, str], pending_only: bool) -> list[dict[str, Any]]:
        """Dead letters of a connection, newest first (``profile_ids`` as a count)."""
        where = [_D.c.audience_id == key[0], _D.c.destination_id == key[1]]
        if pending_only:
            where.append(_D.c.replayed_at.is_(None))
        query = select(_D).where(*where).order_by(_D.c.failed_at.desc())
        with self.engine.connect() as conn:
            rows = [dict(r) for r in conn.execute(query).mappings()]
        for row in rows:
            row["profiles"] = len(row.pop("profile_ids"))
        return rows

    def pending_dead_letters(self, key: tuple[str, str]) -> int:
        """How many dead letters were not replayed yet."""
        query = select(func.count()).where(
            _D.c.audience_id == key[0], _D.c.destination_id == key[1], _D.c.replayed_at.is_(None)
        )
        with self.engine.connect() as conn:
            return int(conn.execute(query).scalar() or 0)

    def request_replay(self, key: tuple[str, str]) -> int:
        """Ask the worker to replay every pending dead letter; returns how many."""
        where = (
            _D.c.audience_id == key[0],
            _D.c.destination_id == key[1],
            _D.c.replayed_at.is_(None),
        )
        with self.engine.begin() as conn:
            return int(
                conn.execute(update(_D).where(*where).values(replay_requested_at=_now())).rowcount
            )

    def replay_requested(self, key: tuple[str, str]) -> list[ListDeadLetter]:
        """Dead letters waiting to be replayed, oldest first."""
        query = (
            select(_D.c.id, _D.c.operation, _D.c.profile_ids, _D.c.attempts)
            .where(
                _D.c.audience_id == key[0],
                _D.c.destination_id == key[1],
                _D.c.replayed_at.is_(None),
                _D.c.replay_requested_at.is_not(None),
            )
            .order_by(_D.c.failed_at)
        )
        with self.engine.connect() as conn:
            return [
                ListDeadLetter(i, op, [int(p) for p in pks], int(n))
                for i, op, pks, n in conn.execute(query)
            ]

    def replayed(self, letter_id: str, ok: bool, reason: str | None, attempts: int) -> None:
        """A replay ended: done, or dead again with its new reason (until replayed again)."""
        values: dict[str, Any] = {"replay_requested_at": None}
        if ok:
            values["replayed_at"] = _now()
        else:
            values.update(reason=(reason or "")[:1000], attempts=attempts, failed_at=_now())
        with self.engine.begin() as conn:
            conn.execute(update(_D).where(_D.c.id == letter_id).values(**values))


def _connection(row: Any) -> Connection:
    values = dict(row._mapping)
    for name in ("created_at", "last_synced_at", "last_error_at"):
        if values[name] is not None and values[name].tzinfo is None:
            values[name] = values[name].replace(tzinfo=UTC)
    return Connection(**values)
