"""Re-resolution: replay a space's stored events through the current identity rules.

Identity settings apply to new data. When history must follow new rules, ``replay``
rebuilds the space's graph from scratch: it clears the space's identity tables
(``profile_tables.PROFILE_TABLES``, the one list of them), feeds every accepted stored
event (in the order they were stored) through the identity stage in rounds, and writes the
new ``profile_id`` back onto the stored events. The pipeline waits meanwhile.
``replay_profiles`` (module ``replay_profiles``) does the same for a few profiles and their
history only; both share the helpers here.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import duckdb
import msgspec

from shoal.identity.service import IdentityService
from shoal.identity.stage import space_of
from shoal.spec.normalize import NormalizedEvent

log = logging.getLogger("shoal.identity")
_DECODE = msgspec.json.Decoder().decode
CHUNK = 5000
"""Events per replayed round (the pipeline's round size)."""

STORED_COLUMNS = (
    "id, source_id, message_id, type, event, user_id, anonymous_id, group_id, "
    "epoch_ms(timestamp), epoch_ms(received_at), properties, traits, context, extra"
)
"""The ``events`` columns ``stored_event`` reads, in its order."""
_SELECT = (
    f"SELECT {STORED_COLUMNS} FROM events WHERE workspace_id = ? AND environment = ? "
    "AND status = 'accepted' AND id > ? ORDER BY id LIMIT ?"
)


@dataclass(frozen=True, slots=True)
class ReplayResult:
    """What a re-resolution did."""

    events: int
    profiles: int
    merges: int


def stored_event(workspace_id: str, environment: str, row: tuple[Any, ...]) -> NormalizedEvent:
    """The accepted event a row of ``STORED_COLUMNS`` holds, as the pipeline handed it over."""
    message: dict[str, Any] = _DECODE(row[13])
    for key, raw in zip(("properties", "traits", "context"), row[10:13], strict=True):
        if raw is not None:
            message[key] = _DECODE(raw)
    return NormalizedEvent(
        source_id=row[1],
        workspace_id=workspace_id,
        environment=environment,
        message_id=row[2],
        type=row[3],
        status="accepted",
        reason=None,
        received_at=row[9],
        timestamp=row[8],
        message=message,
        event=row[4],
        user_id=row[5],
        anonymous_id=row[6],
        group_id=row[7],
    )


async def settle(service: IdentityService) -> None:
    """Wait until rounds the stage already resolved are in the ``events`` table.

    The pipeline stores a round right after the stage releases its lock; that write is
    queued on the store's single writer thread before a caller that just took the lock
    can queue anything, so an empty write after it means the round is committed. The
    stage's own writes commit in the background: they are waited for first."""
    await service.stage.drain()
    await service.store.store.run_write(lambda _con: None)


async def replay(service: IdentityService, workspace_id: str, environment: str) -> ReplayResult:
    """Rebuild a space's identity graph from its stored events (see the module docstring)."""
    space = space_of(workspace_id, environment)
    stage = service.stage
    events_store = service.store.store
    total = merges = 0
    async with stage.lock:
        await settle(service)
        before = await events_store.run_read(lambda cur: _canonical(cur, space))
        await service.store.clear_space(space)
        stage.forget()
        last_id = 0
        while True:
            rows = await events_store.run_read(_page(workspace_id, environment, last_id))
            if not rows:
                break
            last_id = rows[-1][0]
            chunk = [stored_event(workspace_id, environment, row) for row in rows]
            changes = await stage.resolve(chunk)
            merges += len(changes.merges)
            total += len(chunk)
            ids = [(row[0], ev.profile_id) for row, ev in zip(rows, chunk, strict=True)]
            await events_store.run_write(setter(ids))
        after = set(await events_store.run_read(lambda cur: _canonical(cur, space)))
    # Audiences drop the profiles that no longer exist (the new ones were announced by
    # the stage as it wrote them).
    service.profiles_changed(space, {pk for pk in before if pk not in after})
    profiles = await service.store.count_profiles(space, "users")
    log.info("re-resolved %d events of %s into %d profiles", total, space, profiles)
    return ReplayResult(total, profiles, merges)


def _canonical(cur: duckdb.DuckDBPyConnection, space: str) -> list[int]:
    rows = cur.execute(
        "SELECT pk FROM identity_profiles WHERE space = ? AND canonical = pk", [space]
    ).fetchall()
    return [int(row[0]) for row in rows]


def _page(
    workspace_id: str, environment: str, after: int
) -> Callable[[duckdb.DuckDBPyConnection], list[tuple[Any, ...]]]:
    def run(cur: duckdb.DuckDBPyConnection) -> list[tuple[Any, ...]]:
        rows: list[tuple[Any, ...]] = cur.execute(
            _SELECT, [workspace_id, environment, after, CHUNK]
        ).fetchall()
        return rows

    return run


def setter(ids: list[tuple[int, str | None]]) -> Callable[[duckdb.DuckDBPyConnection], None]:
    """A writer job that sets ``profile_id`` of stored events: ``(events.id, profile id)``."""
    return lambda con: _set_profiles(con, ids)


def _set_profiles(con: duckdb.DuckDBPyConnection, ids: list[tuple[int, str | None]]) -> None:
    con.execute("CREATE TEMP TABLE IF NOT EXISTS identity_replay (id BIGINT, profile_id VARCHAR)")
    con.execute("DELETE FROM identity_replay")
    appender = con.appender("identity_replay")
    appender.append_rows(ids)
    appender.flush()
    con.execute(
        "UPDATE events SET profile_id = r.profile_id FROM identity_replay r WHERE events.id = r.id"
    )
