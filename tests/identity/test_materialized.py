"""Materialized event values on a real DuckDB store: registration, backfill in chunks,
rounds written after registration, resuming after a restart, clearing a space."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import msgspec
import pytest

from shoal.identity import materialized
from shoal.identity.materialized import MaterializedValues, value_at
from tests.identity.helpers import WS, event, identity

SPACE = f"{WS}:dev"
REVENUE = "properties.revenue"
CONSENT = "context.consent.categoryPreferences.marketing"


def _events(start: int, n: int) -> list[Any]:
    out = []
    for i in range(start, start + n):
        props: dict[str, Any] = {"revenue": i * 1.5} if i % 3 else {"revenue": None}
        if i % 5 == 0:
            props = {"revenue": str(i), "nested": {"x": i}}
        context = {"consent": {"categoryPreferences": {"marketing": i % 2 == 0}}} if i % 4 else {}
        out.append(
            event("track", userId=f"u{i % 7}", event="Order Completed", properties=props,
                  context=context, ts=1_700_000_000_000 + i)
        )  # fmt: skip
    return out


async def _values(svc: Any) -> set[tuple[Any, ...]]:
    rows = await svc.store.store.run_read(
        lambda cur: cur.execute(
            "SELECT space, pk, seq, timestamp, type, event, path, value FROM identity_event_values"
        ).fetchall()
    )
    return {tuple(r) for r in rows}


async def _expected(svc: Any, paths: list[str]) -> set[tuple[Any, ...]]:
    """The value rows of every timeline row, computed in Python from the stored messages."""
    rows = await svc.store.store.run_read(
        lambda cur: cur.execute(
            "SELECT space, pk, seq, timestamp, type, event, message FROM identity_events"
        ).fetchall()
    )
    out = set()
    for space, pk, seq, ts, type_, name, message in rows:
        decoded = msgspec.json.decode(message)
        for path in paths:
            value = value_at(decoded, path.split("."))
            if value is not None:
                out.add((space, pk, seq, ts, type_, name, path, value))
    return out


async def _wait_ready(values: MaterializedValues, paths: set[str]) -> None:
    for _ in range(500):
        if paths <= values.ready(SPACE):
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"not ready: {paths - values.ready(SPACE)}")


async def test_backfill_then_rounds_write_the_same_values(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(materialized, "CHUNK", 7)  # several chunks over 40 rows
    async with identity(tmp_path) as svc:
        await svc.stage.process_committed(_events(0, 40))
        readies: list[str] = []
        svc.store.values.on_ready.append(readies.append)
        assert await svc.store.values.materialize(SPACE, [REVENUE, CONSENT]) == [CONSENT, REVENUE]
        assert await svc.store.values.materialize(SPACE, [REVENUE]) == []  # already there
        await _wait_ready(svc.store.values, {REVENUE, CONSENT})
        assert readies == [SPACE, SPACE]
        await svc.stage.process_committed(_events(40, 25))  # written by the rounds themselves
        got = await _values(svc)
        assert got == await _expected(svc, [REVENUE, CONSENT])
        # Numbers, numeric strings and booleans keep their JSON form; nulls get no row.
        assert {r[7] for r in got if r[6] == CONSENT} == {"true", "false"}
        assert '"10"' in {r[7] for r in got if r[6] == REVENUE}
        assert len(got) < 2 * 65


async def test_a_space_without_events_is_ready_at_once(tmp_path: Path) -> None:
    async with identity(tmp_path) as svc:
        await svc.store.values.materialize(SPACE, [REVENUE])
        assert svc.store.values.ready(SPACE) == {REVENUE}
        await svc.stage.process_committed(_events(0, 10))
        assert await _values(svc) == await _expected(svc, [REVENUE])
        assert svc.store.values.ready(f"{WS}:prod") == frozenset()


async def test_an_interrupted_backfill_resumes_where_it_stopped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(materialized, "CHUNK", 5)
    async with identity(tmp_path) as svc:
        await svc.stage.process_committed(_events(0, 30))

        # What a crash after the first two chunks leaves: progress committed with its rows.
        def crashed(con: Any) -> None:
            con.execute(
                "INSERT INTO identity_materialized VALUES (?, ?, 30, 10, FALSE, 0)",
                [SPACE, REVENUE],
            )
            materialized.backfill_chunk(con, SPACE, REVENUE, 0, 10)

        await svc.store.store.run_write(crashed)
        values = MaterializedValues(svc.store.store)
        await values.start()
        await _wait_ready(values, {REVENUE})
        await values.stop()
        # Every row exactly once: the resumed backfill did not redo the first chunks.
        assert await _values(svc) == await _expected(svc, [REVENUE])
        count = await svc.store.store.run_read(
            lambda cur: cur.execute("SELECT count(*) FROM identity_event_values").fetchone()
        )
        assert count[0] == len(await _expected(svc, [REVENUE]))


async def test_clearing_a_space_drops_its_values_and_keeps_the_paths(tmp_path: Path) -> None:
    async with identity(tmp_path) as svc:
        await svc.store.values.materialize(SPACE, [REVENUE])
        await svc.stage.process_committed(_events(0, 10))
        assert await _values(svc)
        await svc.store.clear_space(SPACE)
        assert await _values(svc) == set()
        assert svc.store.values.ready(SPACE) == {REVENUE}
        await svc.stage.process_committed(_events(10, 10))
        assert await _values(svc) == await _expected(svc, [REVENUE])
