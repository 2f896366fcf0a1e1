"""Profile API reads on the DuckDB identity tables (every lookup is an indexed point query)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import duckdb
import msgspec

from shoal.identity.graph import Mapping, Profile
from shoal.identity.identifiers import identifier_key
from shoal.identity.store import EventPage, MergeRecord, TimelineEvent
from shoal.store.duckdb import DuckDBStore

_DECODE = msgspec.json.Decoder().decode
_PROFILE_COLUMNS = (
    "space, pk, collection, created_at, first_message_id, first_source_id, last_seen, "
    "last_message_id, last_source_id, merges, traits, updated_at"
)


def profile_from_row(row: tuple[Any, ...]) -> Profile:
    """A ``Profile`` (without mappings) from a row of ``_PROFILE_COLUMNS``."""
    return Profile(
        row[0],
        row[1],
        row[2],
        row[3],
        row[4],
        row[5],
        row[6],
        row[7],
        row[8],
        merges=row[9],
        traits=_DECODE(row[10]),
        updated_at=row[11],
    )


def _members(cur: duckdb.DuckDBPyConnection, space: str, pk: int) -> list[int]:
    # Point queries filter on the indexed column alone (an extra predicate makes DuckDB
    # skip the index); numbers are hashes that include the space, checked in Python.
    rows = cur.execute(
        "SELECT pk, space FROM identity_profiles WHERE canonical = ?", [pk]
    ).fetchall()
    return [row[0] for row in rows if row[1] == space]


def _in(values: Sequence[object]) -> str:
    return "(" + ", ".join("?" for _ in values) + ")"


class DuckDBIdentityReads:
    """The read half of ``DuckDBIdentityStore``."""

    def __init__(self, store: DuckDBStore) -> None:
        self.store = store

    async def canonical(self, space: str, collection: str, id_type: str, value: str) -> int | None:
        key = identifier_key(space, collection, id_type, value)

        def run(cur: duckdb.DuckDBPyConnection) -> int | None:
            rows = cur.execute(
                "SELECT pk, id_type, id_value, collection, space FROM identity_ids WHERE key = ?",
                [key],
            ).fetchall()
            row = next((r for r in rows if r[1:] == (id_type, value, collection, space)), None)
            if row is None:
                return None
            found = cur.execute(
                "SELECT canonical FROM identity_profiles WHERE pk = ?", [row[0]]
            ).fetchone()
            return int(found[0]) if found else None

        return await self.store.run_read(run)

    async def profile(
        self, space: str, pk: int, *, canonical: bool = False, details: bool = True
    ) -> Profile | None:
        def run(cur: duckdb.DuckDBPyConnection) -> Profile | None:
            target = pk
            if not canonical:
                row = cur.execute(
                    "SELECT canonical FROM identity_profiles WHERE pk = ?", [pk]
                ).fetchone()
                if row is None:
                    return None
                target = row[0]
            found = cur.execute(
                f"SELECT {_PROFILE_COLUMNS} FROM identity_profiles WHERE pk = ?", [target]
            ).fetchone()
            if found is None or found[0] != space:
                return None
            profile = profile_from_row(found)
            if not details:
                return profile
            members = _members(cur, space, target)
            # Last seen is read from the timeline (profile rows change only with traits).
            last = cur.execute(
                "SELECT timestamp, message_id, source_id FROM identity_events "
                f"WHERE pk IN {_in(members)} ORDER BY timestamp DESC, seq DESC LIMIT 1",
                members,
            ).fetchone()
            if last is not None:
                profile.seen(*last)
            for mapping in cur.execute(
                "SELECT space, key, collection, id_type, id_value, pk, added_at, message_id, "
                f"source_id FROM identity_ids WHERE pk IN {_in(members)} "
                "ORDER BY added_at, key",
                members,
            ).fetchall():
                profile.mappings.append(Mapping(*mapping))
            return profile

        return await self.store.run_read(run)

    async def members(self, space: str, pk: int) -> list[int]:
        return await self.store.run_read(lambda cur: _members(cur, space, pk))

    async def events(
        self,
        space: str,
        pk: int,
        *,
        limit: int,
        start: int | None = None,
        end: int | None = None,
        include: Sequence[str] = (),
        exclude: Sequence[str] = (),
        ascending: bool = False,
        after: tuple[int, int] | None = None,
    ) -> EventPage:
        def run(cur: duckdb.DuckDBPyConnection) -> EventPage:
            members = _members(cur, space, pk) or [pk]
            where = [f"pk IN {_in(members)}"]
            params: list[object] = list(members)
            for clause, value in (("timestamp >= ?", start), ("timestamp < ?", end)):
                if value is not None:
                    where.append(clause)
                    params.append(value)
            if include:
                where.append(f"coalesce(event, type) IN {_in(include)}")
                params.extend(include)
            if exclude:
                where.append(f"coalesce(event, type) NOT IN {_in(exclude)}")
                params.extend(exclude)
            if after is not None:
                where.append(
                    "(timestamp, seq) > (?, ?)" if ascending else "(timestamp, seq) < (?, ?)"
                )
                params.extend(after)
            order = "ASC" if ascending else "DESC"
            # A replayed round may have left a second copy of a message: show it once.
            rows = cur.execute(
                "SELECT pk, timestamp, source_id, message_id, type, event, message, seq "
                f"FROM identity_events WHERE {' AND '.join(where)} "
                "QUALIFY row_number() OVER (PARTITION BY source_id, message_id ORDER BY seq) = 1 "
                f"ORDER BY timestamp {order}, seq {order} LIMIT ?",
                [*params, limit + 1],
            ).fetchall()
            events = [
                TimelineEvent(r[0], r[1], r[2], r[3], r[4], r[5], _DECODE(r[6]))
                for r in rows[:limit]
            ]
            cursor = (rows[limit - 1][1], rows[limit - 1][7]) if len(rows) > limit else None
            return EventPage(events, cursor is not None, cursor)

        return await self.store.run_read(run)

    async def links(self, space: str, collection: str, pk: int) -> list[int]:
        mine, theirs = (
            ("user_pk", "account_pk") if collection == "users" else ("account_pk", "user_pk")
        )

        def run(cur: duckdb.DuckDBPyConnection) -> list[int]:
            members = _members(cur, space, pk) or [pk]
            rows = cur.execute(
                f"SELECT DISTINCT p.canonical FROM identity_links l "
                f"JOIN identity_profiles p ON p.pk = l.{theirs} "
                f"WHERE l.{mine} IN {_in(members)} AND l.space = ? ORDER BY 1",
                [*members, space],
            ).fetchall()
            return [row[0] for row in rows]

        return await self.store.run_read(run)

    async def merges(self, space: str, pk: int) -> list[MergeRecord]:
        def run(cur: duckdb.DuckDBPyConnection) -> list[MergeRecord]:
            members = _members(cur, space, pk) or [pk]
            rows = cur.execute(
                "SELECT from_pk, into_pk, collection, message_id, source_id, timestamp, reason, "
                f"created_at FROM identity_merges WHERE into_pk IN {_in(members)} "
                "AND space = ? ORDER BY created_at, timestamp",
                [*members, space],
            ).fetchall()
            return [MergeRecord(*row) for row in rows]

        return await self.store.run_read(run)

    async def computed(self, space: str, pk: int) -> dict[str, tuple[Any, int]]:
        def run(cur: duckdb.DuckDBPyConnection) -> dict[str, tuple[Any, int]]:
            rows = cur.execute(
                "SELECT key, value, updated_at, space FROM identity_computed WHERE pk = ?", [pk]
            ).fetchall()
            return {
                r[0]: (None if r[1] is None else _DECODE(r[1]), r[2]) for r in rows if r[3] == space
            }

        return await self.store.run_read(run)

    async def count_profiles(self, space: str, collection: str) -> int:
        def run(cur: duckdb.DuckDBPyConnection) -> int:
            row = cur.execute(
                "SELECT count(*) FROM identity_profiles WHERE space = ? AND collection = ? "
                "AND canonical = pk",
                [space, collection],
            ).fetchone()
            return int(row[0]) if row else 0

        return await self.store.run_read(run)

    async def recent_profiles(
        self, space: str, collection: str, limit: int, offset: int = 0
    ) -> list[Profile]:
        def run(cur: duckdb.DuckDBPyConnection) -> list[Profile]:
            rows = cur.execute(
                f"SELECT {_PROFILE_COLUMNS} FROM identity_profiles WHERE space = ? "
                "AND collection = ? AND canonical = pk ORDER BY updated_at DESC, pk "
                "LIMIT ? OFFSET ?",
                [space, collection, limit, offset],
            ).fetchall()
            return [profile_from_row(row) for row in rows]

        return await self.store.run_read(run)
