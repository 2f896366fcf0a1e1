"""Per-profile re-resolution: replay only some user profiles' history under the current rules.

The user names profiles (``email:jane@example.com``, ``user_id:u1``, ``use_…``). Their
history is rebuilt the way a full replay would rebuild it, without touching anyone else:

1. **The affected set** (``affected.affected_set``): the named profiles and everything
   that shares an identifier with their history under the current rules (see there).
2. **Delete** the set's rows of every table of ``profile_tables.PROFILE_TABLES``, and the
   rows of the replayed messages in ``MESSAGE_TABLES`` and ``TIMELINE_TABLES`` (the
   accounts' timeline rows of the set's group calls, and their values), in one
   transaction; evict them from the stage's caches.
3. **Replay** the set's events through the stage in stored order, in rounds, and write
   the new ``profile_id`` onto the stored events.
4. **Tell** audiences and computed traits about every removed profile (the new ones are
   announced by the stage as it writes them).

The stage's lock is held throughout, so the pipeline waits, as for a full replay. Running
it twice changes nothing but write times (``updated_at``, ``created_at`` of rows) and
timeline sequence numbers: profile numbers derive from messages.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import duckdb

from shoal.control.repo import NotFound
from shoal.identity.affected import ReplayRefused, affected_set, canonical_now
from shoal.identity.identifiers import (
    parse_profile_id,
    profile_id,
)
from shoal.identity.profile_tables import MESSAGE_TABLES, PROFILE_TABLES, TIMELINE_TABLES
from shoal.identity.refs import parse_ref
from shoal.identity.replay import (
    CHUNK,
    setter,
    settle,
    stored_event,
)
from shoal.identity.service import IdentityService
from shoal.identity.stage import space_of

log = logging.getLogger("shoal.identity")
MAX_NAMED = 100
"""Profiles one request may name."""


@dataclass(frozen=True, slots=True)
class ProfileReplayResult:
    """What a per-profile re-resolution did."""

    events: int
    """Stored events replayed."""
    profiles: int
    """Canonical user profiles the replayed events resolve to now."""
    merges: int
    removed: list[str]
    """Every profile id the affected set had before (canonical and merged)."""
    resolved: list[str]
    """The canonical profile ids of the replayed events now."""
    named: dict[str, str | None]
    """Each name as sent → the canonical profile it finds now (``None``: none)."""


def check_names(names: Sequence[str]) -> list[int | tuple[str, str]]:
    """Parse the names of a request (``ReplayRefused`` for too many or a malformed one)."""
    if not names:
        raise ReplayRefused("validation_error", "name at least one profile to re-resolve")
    if len(names) > MAX_NAMED:
        raise ReplayRefused(
            "too_many_profiles",
            f"at most {MAX_NAMED} profiles per request ({len(names)} named); "
            "replay the whole space instead",
        )
    refs: list[int | tuple[str, str]] = []
    for name in names:
        parsed = parse_profile_id(name)
        if parsed is not None and parsed[0] == "accounts":
            raise ReplayRefused(
                "validation_error",
                f"{name!r} is an account: per-profile re-resolution takes user profiles "
                "(a full replay re-resolves accounts)",
            )
        try:
            refs.append(parse_ref(name, "users"))
        except ValueError as exc:
            raise ReplayRefused("validation_error", f"{name!r}: {exc}") from None
    return refs


async def replay_profiles(
    service: IdentityService, workspace_id: str, environment: str, names: Sequence[str]
) -> ProfileReplayResult:
    """Re-resolve the named user profiles and everything connected to them (module doc).

    Raises ``ReplayRefused`` (bad names, too many, an affected set beyond the limits) and
    ``NotFound`` (a name that finds no user profile of the space)."""
    refs = check_names(names)
    space = space_of(workspace_id, environment)
    stage = service.stage
    events_store = service.store.store
    async with stage.lock:
        await settle(service)
        seeds: set[int] = set()
        for name, ref in zip(names, refs, strict=True):
            found = await service.store.lookup(space, "users", ref, details=False)
            if found is None:
                raise NotFound(f"no user profile of {environment} is named {name}")
            seeds.add(found[0].pk)
        rules = service.rules_for(workspace_id, environment)
        closure = await events_store.run_read(
            lambda cur: affected_set(cur, workspace_id, environment, space, rules, seeds)
        )
        rows = [closure.rows[i] for i in sorted(closure.rows)]
        messages = sorted({(row[1], row[2]) for row in rows})
        members = sorted(closure.members)
        mappings, dropped = await events_store.run_write(
            lambda con: _delete(con, space, members, messages)
        )
        stage.evict(space, mappings, closure.members, [*messages, *dropped])
        merges = 0
        outcome: list[tuple[int, str | None]] = []
        for start in range(0, len(rows), CHUNK):
            part = rows[start : start + CHUNK]
            chunk = [stored_event(workspace_id, environment, row) for row in part]
            merges += len((await stage.resolve(chunk)).merges)
            ids = [(row[0], ev.profile_id) for row, ev in zip(part, chunk, strict=True)]
            await events_store.run_write(setter(ids))
            outcome.extend(ids)
        resolved = await events_store.run_read(lambda cur: canonical_now(cur, space, outcome))
    service.profiles_changed(space, closure.members)
    named: dict[str, str | None] = {}
    for name, ref in zip(names, refs, strict=True):
        found = await service.store.lookup(space, "users", ref, details=False)
        named[name] = None if found is None else found[0].id
    log.info(
        "re-resolved %d events of %d profiles of %s into %d profiles",
        len(rows), len(closure.canonical), space, len(resolved),
    )  # fmt: skip
    return ProfileReplayResult(
        events=len(rows),
        profiles=len(resolved),
        merges=merges,
        removed=sorted(profile_id("users", pk) for pk in closure.members),
        resolved=sorted(profile_id("users", pk) for pk in resolved),
        named=named,
    )


# -- deleting and evicting (on the writer) ----------------------------------------------------


def _delete(
    con: duckdb.DuckDBPyConnection,
    space: str,
    members: list[int],
    messages: list[tuple[str, str]],
) -> tuple[list[tuple[str, str, str]], list[tuple[str, str]]]:
    """Delete the set's rows of ``PROFILE_TABLES`` and the replayed messages' rows of
    ``MESSAGE_TABLES`` in one transaction; returns the deleted identifiers and the
    messages of the deleted timeline rows (for evicting them from the stage's caches)."""
    con.execute("CREATE TEMP TABLE IF NOT EXISTS replay_pks (pk BIGINT)")
    con.execute(
        "CREATE TEMP TABLE IF NOT EXISTS replay_messages (source_id VARCHAR, message_id VARCHAR)"
    )
    con.execute("BEGIN TRANSACTION")
    try:
        con.execute("DELETE FROM replay_pks")
        con.execute("DELETE FROM replay_messages")
        _append(con, "replay_pks", [(pk,) for pk in members])
        _append(con, "replay_messages", messages)
        inside = "IN (SELECT pk FROM replay_pks)"
        mappings = con.execute(
            "SELECT collection, id_type, id_value FROM identity_ids "
            f"WHERE space = ? AND pk {inside}",
            [space],
        ).fetchall()
        dropped = con.execute(
            "SELECT DISTINCT source_id, message_id FROM identity_events "
            f"WHERE space = ? AND pk {inside}",
            [space],
        ).fetchall()
        for table, columns in PROFILE_TABLES:
            matches = " OR ".join(f"{column} {inside}" for column in columns)
            con.execute(f"DELETE FROM {table} WHERE space = ? AND ({matches})", [space])
        for table in TIMELINE_TABLES:
            con.execute(
                f"DELETE FROM {table} USING (SELECT e.pk, e.seq FROM identity_events e "
                "JOIN replay_messages r ON e.source_id = r.source_id "
                f"AND e.message_id = r.message_id WHERE e.space = ?) d "
                f"WHERE {table}.pk = d.pk AND {table}.seq = d.seq",
                [space],
            )
        for table in MESSAGE_TABLES:
            con.execute(
                f"DELETE FROM {table} USING replay_messages r WHERE {table}.space = ? "
                f"AND {table}.source_id = r.source_id AND {table}.message_id = r.message_id",
                [space],
            )
        con.execute("COMMIT")
    except Exception:
        con.execute("ROLLBACK")
        raise
    return [(m[0], m[1], m[2]) for m in mappings], [(d[0], d[1]) for d in dropped]


def _append(con: duckdb.DuckDBPyConnection, table: str, rows: list[tuple[Any, ...]]) -> None:
    if rows:
        appender = con.appender(table)
        appender.append_rows(rows)
        appender.flush()
