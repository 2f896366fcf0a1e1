"""Profile API reads: the indexed point-lookup paths agree with the set-based SQL ones."""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path
from typing import Any

import duckdb
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shoal.identity import duckdb_reads
from shoal.identity.duckdb_reads import (
    _last_event,
    _small_timeline,
    _timeline_page,
    _timeline_sql,
)
from shoal.identity.duckdb_store import MIGRATIONS
from tests.identity.helpers import WS, event, identity

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
            await service.stage.process(
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
