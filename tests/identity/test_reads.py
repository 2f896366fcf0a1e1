"""Profile API reads: the indexed point-lookup paths agree with the set-based SQL ones, and
one reader call per request agrees with the per-resource reads."""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path
from typing import Any

import duckdb
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shoal.identity import duckdb_reads
from shoal.identity.computed import ComputedTrait
from shoal.identity.duckdb_reads import (
    EventsQuery,
    _last_event,
    _small_timeline,
    _timeline_page,
    _timeline_sql,
)
from shoal.identity.duckdb_store import MIGRATIONS
from shoal.identity.profile_read import Want, read_profile
from tests.identity.helpers import WS, event, identity, spec_fields

SPACE = f"{WS}:dev"

_row = st.tuples(
    st.sampled_from([1, 2, 3]),  # pk
    st.integers(0, 6),  # timestamp
    st.sampled_from(["s1", "s2"]),  # source_id
    st.sampled_from(["m1", "m2", "m3", "m4", "m5"]),  # message_id (copies collide)
    st.sampled_from(["track", "page", "identify"]),  # type
    st.none() | st.sampled_from(["Viewed", "Bought", "page"]),  # event
)
_query = st.fixed_dictionaries(
    {
        "members": st.sampled_from([[1], [2], [1, 2], [1, 2, 3], [3, 1]]),
        "limit": st.integers(1, 5),
        "start": st.none() | st.integers(0, 6),
        "end": st.none() | st.integers(0, 7),
        "include": st.lists(st.sampled_from(["Viewed", "page", "track", "identify"]), max_size=2),
        "exclude": st.lists(st.sampled_from(["Bought", "page", "identify"]), max_size=2),
        "ascending": st.booleans(),
        "after": st.none() | st.tuples(st.integers(0, 6), st.integers(0, 40)),
    }
)


def _table(rows: list[tuple[Any, ...]]) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    con.execute(MIGRATIONS[0][1])
    for seq, (pk, ts, source, mid, kind, name) in enumerate(rows, 1):
        con.execute(
            "INSERT INTO identity_events VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [SPACE, pk, seq, ts, source, mid, kind, name, f'{{"n": {seq}}}'],
        )
    return con


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows=st.lists(_row, max_size=25), query=_query)
def test_timeline_page_in_python_matches_the_sql(
    rows: list[tuple[Any, ...]], query: dict[str, Any]
) -> None:
    con = _table(rows)
    members = query.pop("members")
    small = _small_timeline(con, members)
    assert small is not None
    assert _timeline_page(small, **query) == _timeline_sql(con, members, **query)


@settings(max_examples=100, deadline=None)
@given(rows=st.lists(_row, max_size=25), members=st.sampled_from([[1], [1, 2], [3, 2, 1]]))
def test_last_event_matches_order_by(rows: list[tuple[Any, ...]], members: list[int]) -> None:
    con = _table(rows)
    found = con.execute(
        "SELECT timestamp, seq, message_id, source_id FROM identity_events "
        f"WHERE pk IN ({', '.join('?' for _ in members)}) "
        "ORDER BY timestamp DESC, seq DESC LIMIT 1",
        members,
    ).fetchone()
    assert _last_event(con, members) == found


def test_big_timelines_fall_back_to_sql(monkeypatch: Any) -> None:
    rows = [(1, n % 4, "s1", f"m{n % 7}", "track", "Viewed") for n in range(12)]
    con = _table(rows)
    monkeypatch.setattr(duckdb_reads, "_SMALL", 5)
    assert _small_timeline(con, [1]) is None
    last = _last_event(con, [1])
    assert last is not None and last[:2] == (3, 12)
    monkeypatch.setattr(duckdb_reads, "_SMALL", 2000)
    assert _last_event(con, [1]) == last


def test_lookup_by_identifier_and_by_merged_profile_id() -> None:
    async def run(tmp: Path) -> None:
        async with identity(tmp) as service:
            await service.stage.process_committed(
                [
                    event("page", anonymousId="a1", ts=1),
                    event("identify", userId="u1", traits={"email": "x@y.io"}, ts=2),
                    event("identify", userId="u1", anonymousId="a1", ts=3),
                ]
            )
            store = service.store
            by_email = await store.lookup(SPACE, "users", ("email", "x@y.io"), computed=True)
            by_anon = await store.lookup(SPACE, "users", ("anonymous_id", "a1"))
            assert by_email is not None and by_anon is not None
            profile = by_email[0]
            assert by_anon[0].pk == profile.pk
            assert by_email[1] == {}
            assert {(m.type, m.value) for m in profile.mappings} == {
                ("anonymous_id", "a1"),
                ("user_id", "u1"),
                ("email", "x@y.io"),
            }
            assert profile.last_seen == 3
            # The merged-away profile's number resolves to the surviving one.
            merged = [m.pk for m in profile.mappings if m.pk != profile.pk]
            assert merged
            again = await store.lookup(SPACE, "users", merged[0], details=False)
            assert again is not None and again[0].pk == profile.pk and not again[0].mappings
            old = await store.profile(SPACE, merged[0])
            assert old is not None and old.pk == profile.pk
            assert old.mappings == profile.mappings
            assert await store.lookup(SPACE, "accounts", profile.pk) is None
            assert await store.lookup(SPACE, "users", ("email", "nobody@y.io")) is None
            assert await store.lookup("other:dev", "users", profile.pk) is None

    with tempfile.TemporaryDirectory() as tmp:
        asyncio.run(run(Path(tmp)))


# -- one reader call per request agrees with the per-resource reads ----------------------

_message = st.fixed_dictionaries(
    {
        "type": st.sampled_from(["identify", "track", "page", "group"]),
        "userId": st.none() | st.sampled_from(["u0", "u1", "u2"]),
        "anonymousId": st.sampled_from(["a0", "a1", "a2", "a3", "a4"]),
        "email": st.none() | st.sampled_from(["e0@x.io", "e1@x.io"]),
        "group": st.sampled_from(["g0", "g1"]),
    }
)


def _events(specs: list[dict[str, Any]]) -> list[Any]:
    return [
        event(spec["type"], ts=1_000 + n % 5, message_id=f"msg-{n}",
              **spec_fields(spec, ("email",), name="Viewed", context_traits=False))
        for n, spec in enumerate(specs)
    ]  # fmt: skip


def _plain(profile: Any) -> Any:
    """A profile without its lazily cached public id (not part of its state)."""
    return (
        profile.pk, profile.space, profile.collection, profile.created_at,
        profile.first_message_id, profile.last_seen, profile.last_message_id,
        profile.merges, profile.traits, profile.updated_at, profile.mappings,
    )  # fmt: skip


async def _compare(store: Any, collection: str, ref: Any, query: EventsQuery) -> None:
    for want in (
        Want(),
        Want(details=True),
        Want(computed=True),
        Want(events=query),
        Want(details=True, events=query),
        Want(links=1),
        Want(links=20),
        Want(merges=True),
    ):
        new = await read_profile(store, SPACE, collection, ref, want)
        old = await store.lookup(SPACE, collection, ref, details=want.details, computed=True)
        if old is None:
            assert new is None, (ref, want)
            continue
        assert new is not None, (ref, want)
        profile = old[0]
        if want.events is not None and want.details:
            assert _plain(new.profile) == _plain(profile)
        elif want.events is None:
            assert _plain(new.profile) == _plain(profile), (ref, want)
        assert new.computed == (old[1] if want.computed else {})
        if want.events is not None:
            page = await store.events(
                SPACE, profile.pk, limit=query.limit, start=query.start, end=query.end,
                include=query.include, exclude=query.exclude, ascending=query.ascending,
                after=query.after,
            )  # fmt: skip
            assert new.page == page
        linked = await store.links(SPACE, collection, profile.pk)
        assert new.linked == (len(linked) if want.links else 0)
        expected = [await store.profile(SPACE, pk) for pk in linked[: want.links]]
        assert [_plain(p) for p in new.links] == [_plain(p) for p in expected if p is not None]
        merges = await store.merges(SPACE, profile.pk) if want.merges else []
        assert new.merges == merges


@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    specs=st.lists(_message, min_size=1, max_size=20),
    limit=st.integers(1, 4),
    ascending=st.booleans(),
)
def test_one_read_per_request_agrees_with_the_separate_reads(
    specs: list[dict[str, Any]], limit: int, ascending: bool
) -> None:
    async def run(tmp: Path) -> None:
        async with identity(tmp) as service:
            await service.create_trait(
                WS, "dev", ComputedTrait(key="views", type="event_counter", event="Viewed")
            )
            await service.stage.process_committed(_events(specs))
            await service.stop()  # no background recomputation between the two reads
            await service.refresh(SPACE, service.traits(WS, "dev"), None)
            query = EventsQuery(limit, ascending=ascending, exclude=("page",))
            rows = await service.store.store.query(
                "SELECT DISTINCT collection, id_type, id_value, pk FROM identity_ids"
            )
            for collection, id_type, value, pk in rows:
                await _compare(service.store, collection, (id_type, value), query)
                await _compare(service.store, collection, pk, query)  # maybe merged away
            assert (
                await read_profile(service.store, SPACE, "users", ("email", "no"), Want()) is None
            )

    with tempfile.TemporaryDirectory() as tmp:
        asyncio.run(run(Path(tmp)))
