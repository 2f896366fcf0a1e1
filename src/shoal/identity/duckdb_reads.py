"""Profile API reads on the DuckDB identity tables (every lookup is an indexed point query)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import duckdb
import msgspec

from shoal.identity.graph import Mapping, Profile
from shoal.identity.identifiers import identifier_key
from shoal.identity.store import EventPage, MergeRecord, TimelineEvent
from shoal.store.duckdb import DuckDBStore

_DECODE = msgspec.json.Decoder().decode
_SMALL = 2000
"""Up to this many timeline rows per profile are fetched whole by the index and
filtered, ordered and paged in Python (see ``_last_event`` and ``events``)."""
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
        f"SELECT pk, space FROM identity_profiles WHERE canonical = {int(pk)}"
    ).fetchall()
    return [row[0] for row in rows if row[1] == space]


def _in(values: Sequence[object]) -> str:
    return "(" + ", ".join("?" for _ in values) + ")"


def _per_member(
    cur: duckdb.DuckDBPyConnection, sql: str, members: Sequence[int]
) -> list[tuple[Any, ...]]:
    """``sql`` (ending in ``pk = ``) for each member: one ART point lookup each.

    Numbers are inlined as literals: DuckDB plans a literal filter as an index scan for
    sure and skips a prepare round trip (about a third of a point query's cost)."""
    rows: list[tuple[Any, ...]] = []
    for member in members:
        rows.extend(cur.execute(sql + str(int(member))).fetchall())
    return rows


def _load(cur: duckdb.DuckDBPyConnection, space: str, pk: int, details: bool) -> Profile | None:
    """The canonical profile of ``pk`` (itself or the one it merged into) in ``space``.

    Canonical pointers are kept final by the writer (merging moves every member), so at
    most two point lookups reach the canonical row."""
    sql = f"SELECT canonical, {_PROFILE_COLUMNS} FROM identity_profiles WHERE pk = "
    row = cur.execute(sql + str(int(pk))).fetchone()
    if row is not None and row[0] != pk:
        row = cur.execute(sql + str(int(row[0]))).fetchone()
    if row is None or row[1] != space:
        return None
    profile = profile_from_row(row[1:])
    if details:
        # A profile nothing merged into is its only member (every merge counts on it).
        members = [profile.pk] if profile.merges == 0 else _members(cur, space, profile.pk)
        # Last seen is read from the timeline (profile rows change only with traits).
        last = _last_event(cur, members)
        if last is not None:
            profile.seen(last[0], last[2], last[3])
        mappings = _per_member(
            cur,
            "SELECT space, key, collection, id_type, id_value, pk, added_at, message_id, "
            "source_id FROM identity_ids WHERE pk = ",
            members,
        )
        mappings.sort(key=lambda m: (m[6], m[1]))
        profile.mappings.extend(Mapping(*m) for m in mappings)
    return profile


def _last_event(cur: duckdb.DuckDBPyConnection, members: Sequence[int]) -> tuple[Any, ...] | None:
    """``(timestamp, seq, message_id, source_id)`` of the members' newest timeline row.

    ``ORDER BY ... LIMIT 1`` would not use the index (DuckDB turns a top-N into a table
    scan), so the rows of each member are fetched by the index and compared here; a
    profile with very many rows takes an (indexed) aggregate instead."""
    best: tuple[Any, ...] | None = None
    for member in members:
        rows = cur.execute(
            "SELECT timestamp, seq, message_id, source_id FROM identity_events "
            f"WHERE pk = {int(member)} LIMIT {_SMALL + 1}"
        ).fetchall()
        if len(rows) > _SMALL:
            found = cur.execute(
                "SELECT arg_max([timestamp::VARCHAR, seq::VARCHAR, message_id, source_id], "
                "(timestamp, seq)) FROM identity_events WHERE pk = ?",
                [member],
            ).fetchone()
            rows = [] if found is None or found[0] is None else [_last_row(found[0])]
        for row in rows:
            if best is None or (row[0], row[1]) > (best[0], best[1]):
                best = row
    return best


def _last_row(values: list[str]) -> tuple[Any, ...]:
    return int(values[0]), int(values[1]), values[2], values[3]


def _owner(
    cur: duckdb.DuckDBPyConnection, space: str, collection: str, id_type: str, value: str
) -> int | None:
    """The profile an identifier was first added to (not followed to the canonical one)."""
    key = identifier_key(space, collection, id_type, value)
    rows = cur.execute(
        f"SELECT pk, id_type, id_value, collection, space FROM identity_ids WHERE key = {key}"
    ).fetchall()
    row = next((r for r in rows if r[1:] == (id_type, value, collection, space)), None)
    return None if row is None else int(row[0])


def _computed(cur: duckdb.DuckDBPyConnection, space: str, pk: int) -> dict[str, tuple[Any, int]]:
    rows = cur.execute(
        f"SELECT key, value, updated_at, space FROM identity_computed WHERE pk = {int(pk)}"
    ).fetchall()
    return {r[0]: (None if r[1] is None else _DECODE(r[1]), r[2]) for r in rows if r[3] == space}


_TIMELINE_COLUMNS = "pk, timestamp, source_id, message_id, type, event, message, seq"


def _small_timeline(
    cur: duckdb.DuckDBPyConnection, members: Sequence[int]
) -> list[tuple[Any, ...]] | None:
    """Every timeline row of the members (indexed point queries), or ``None`` if one of
    them has more than ``_SMALL``."""
    rows: list[tuple[Any, ...]] = []
    for member in members:
        found = cur.execute(
            f"SELECT {_TIMELINE_COLUMNS} FROM identity_events WHERE pk = {int(member)} "
            f"LIMIT {_SMALL + 1}"
        ).fetchall()
        if len(found) > _SMALL:
            return None
        rows.extend(found)
    return rows


def _timeline_page(
    rows: list[tuple[Any, ...]],
    limit: int,
    start: int | None,
    end: int | None,
    include: Sequence[str],
    exclude: Sequence[str],
    ascending: bool,
    after: tuple[int, int] | None,
) -> list[tuple[Any, ...]]:
    """What ``_timeline_sql`` answers, computed over all of a small timeline's rows."""
    wanted, unwanted = set(include), set(exclude)
    first: dict[tuple[str, str], tuple[Any, ...]] = {}
    for row in rows:
        ts, name = row[1], row[5] if row[5] is not None else row[4]
        if start is not None and ts < start:
            continue
        if end is not None and ts >= end:
            continue
        if wanted and name not in wanted:
            continue
        if name in unwanted:
            continue
        if after is not None and not ((ts, row[7]) > after if ascending else (ts, row[7]) < after):
            continue
        # A replayed round may have left a second copy of a message: show it once.
        ident = (row[2], row[3])
        seen = first.get(ident)
        if seen is None or row[7] < seen[7]:
            first[ident] = row
    return sorted(first.values(), key=lambda r: (r[1], r[7]), reverse=not ascending)[: limit + 1]


def _timeline_sql(
    cur: duckdb.DuckDBPyConnection,
    members: Sequence[int],
    limit: int,
    start: int | None,
    end: int | None,
    include: Sequence[str],
    exclude: Sequence[str],
    ascending: bool,
    after: tuple[int, int] | None,
) -> list[tuple[Any, ...]]:
    """A page of the members' timeline, ordered and deduplicated by DuckDB."""
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
        where.append("(timestamp, seq) > (?, ?)" if ascending else "(timestamp, seq) < (?, ?)")
        params.extend(after)
    order = "ASC" if ascending else "DESC"
    # A replayed round may have left a second copy of a message: show it once.
    rows: list[tuple[Any, ...]] = cur.execute(
        f"SELECT {_TIMELINE_COLUMNS} FROM identity_events WHERE {' AND '.join(where)} "
        "QUALIFY row_number() OVER (PARTITION BY source_id, message_id ORDER BY seq) = 1 "
        f"ORDER BY timestamp {order}, seq {order} LIMIT ?",
        [*params, limit + 1],
    ).fetchall()
    return rows


@dataclass(frozen=True, slots=True)
class EventsQuery:
    """A page request of a profile's events (the Profile API's ``events`` parameters)."""

    limit: int
    start: int | None = None
    end: int | None = None
    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    ascending: bool = False
    after: tuple[int, int] | None = None


def page_of(rows: list[tuple[Any, ...]] | None, cur: duckdb.DuckDBPyConnection,
            members: Sequence[int], q: EventsQuery) -> EventPage:  # fmt: skip
    """The page ``q`` asks for, from every timeline row of the members (``rows``, see
    ``_small_timeline``) or, when there were too many (``None``), from DuckDB."""
    args = (q.limit, q.start, q.end, q.include, q.exclude, q.ascending, q.after)
    rows = _timeline_sql(cur, members, *args) if rows is None else _timeline_page(rows, *args)
    events = [
        TimelineEvent(r[0], r[1], r[2], r[3], r[4], r[5], _DECODE(r[6])) for r in rows[: q.limit]
    ]
    cursor = (rows[q.limit - 1][1], rows[q.limit - 1][7]) if len(rows) > q.limit else None
    return EventPage(events, cursor is not None, cursor)


def events_page(cur: duckdb.DuckDBPyConnection, space: str, pk: int, q: EventsQuery) -> EventPage:
    """A page of a profile's events, merged profiles included."""
    members = _members(cur, space, pk) or [pk]
    return page_of(_small_timeline(cur, members), cur, members, q)


def linked(cur: duckdb.DuckDBPyConnection, space: str, collection: str, pk: int) -> list[int]:
    """Canonical profiles of the other collection linked to this one (users ↔ accounts)."""
    return linked_to(cur, space, collection, _members(cur, space, pk) or [pk])


def linked_to(
    cur: duckdb.DuckDBPyConnection, space: str, collection: str, members: Sequence[int]
) -> list[int]:
    """``linked`` for a profile whose members are known."""
    mine, theirs = ("user_pk", "account_pk") if collection == "users" else ("account_pk", "user_pk")
    rows = cur.execute(
        f"SELECT DISTINCT p.canonical FROM identity_links l "
        f"JOIN identity_profiles p ON p.pk = l.{theirs} "
        f"WHERE l.{mine} IN {_in(members)} AND l.space = ? ORDER BY 1",
        [*members, space],
    ).fetchall()
    return [row[0] for row in rows]


def merges_into(cur: duckdb.DuckDBPyConnection, space: str, pk: int) -> list[MergeRecord]:
    """Merges into this profile or any profile merged into it, oldest first."""
    return merges_of(cur, space, _members(cur, space, pk) or [pk])


def merges_of(
    cur: duckdb.DuckDBPyConnection, space: str, members: Sequence[int]
) -> list[MergeRecord]:
    """``merges_into`` for a profile whose members are known."""
    rows = cur.execute(
        "SELECT from_pk, into_pk, collection, message_id, source_id, timestamp, reason, "
        f"created_at FROM identity_merges WHERE into_pk IN {_in(members)} "
        "AND space = ? ORDER BY created_at, timestamp",
        [*members, space],
    ).fetchall()
    return [MergeRecord(*row) for row in rows]


class DuckDBIdentityReads:
    """The read half of ``DuckDBIdentityStore``."""

    def __init__(self, store: DuckDBStore) -> None:
        self.store = store

    async def canonical(self, space: str, collection: str, id_type: str, value: str) -> int | None:
        def run(cur: duckdb.DuckDBPyConnection) -> int | None:
            owner = _owner(cur, space, collection, id_type, value)
            if owner is None:
                return None
            found = cur.execute(
                "SELECT canonical FROM identity_profiles WHERE pk = ?", [owner]
            ).fetchone()
            return int(found[0]) if found else None

        return await self.store.run_read(run)

    async def profile(
        self, space: str, pk: int, *, canonical: bool = False, details: bool = True
    ) -> Profile | None:
        # ``canonical`` only saved a lookup before; the canonical row is found either way.
        return await self.store.run_read(lambda cur: _load(cur, space, pk, details))

    async def lookup(
        self,
        space: str,
        collection: str,
        ref: int | tuple[str, str],
        *,
        details: bool = True,
        computed: bool = False,
    ) -> tuple[Profile, dict[str, tuple[Any, int]]] | None:
        def run(
            cur: duckdb.DuckDBPyConnection,
        ) -> tuple[Profile, dict[str, tuple[Any, int]]] | None:
            pk = ref if isinstance(ref, int) else _owner(cur, space, collection, *ref)
            profile = None if pk is None else _load(cur, space, pk, details)
            if profile is None or profile.collection != collection:
                return None
            return profile, (_computed(cur, space, profile.pk) if computed else {})

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
        query = EventsQuery(limit, start, end, tuple(include), tuple(exclude), ascending, after)
        return await self.store.run_read(lambda cur: events_page(cur, space, pk, query))

    async def links(self, space: str, collection: str, pk: int) -> list[int]:
        return await self.store.run_read(lambda cur: linked(cur, space, collection, pk))

    async def merges(self, space: str, pk: int) -> list[MergeRecord]:
        return await self.store.run_read(lambda cur: merges_into(cur, space, pk))

    async def computed(self, space: str, pk: int) -> dict[str, tuple[Any, int]]:
        return await self.store.run_read(lambda cur: _computed(cur, space, pk))

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
