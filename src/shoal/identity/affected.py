"""The affected set of a per-profile re-resolution (``replay_profiles``), on a reader cursor.

**The affected set** is the smallest set of whole user profiles, closed under "shares an
identifier", that contains the named ones. Starting from the named
canonical profiles, repeat until nothing is added:

* the *members*: every profile merged into a profile of the set;
* the *events*: the stored accepted events of the space resolved to a member
  (``events.profile_id``), plus every stored accepted event, resolved or not, that
  carries (under the **current** rules) a users identifier ``(type, value)`` that an
  event of the set carries. These are found by one scan of the space's events per
  round: a regular expression over the stored JSON finds candidates (the value as a
  JSON string or number token), and extracting their identifiers with the current
  rules confirms them, so the text search only narrows and never decides;
* the *profiles*: the canonical profile of each such event, and of each stored
  identifier (``identity_ids``) equal to one the set's events carry under the current
  rules (a profile may hold it through an older rule).

The set's events are then a union of connected components of the graph "events that
carry a common identifier under the current rules". Resolution only ever looks at
profiles that hold one of an event's identifiers, so replaying exactly these events,
in stored order, gives them the profiles, identities, traits, merges, links and
timelines a full replay under the same rules would give. (Exceptions, documented in
docs/identity.md: accounts are not re-resolved, and a number stored in a JSON spelling
other than its text or msgspec's, say ``1.0E16``, is not found by the text search.)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import duckdb

from shoal.identity.identifiers import extract, identifier_key, parse_profile_id, profile_id
from shoal.identity.replay import STORED_COLUMNS, stored_event
from shoal.identity.rules import CompiledSettings
from shoal.identity.search import patterns

MAX_PROFILES = 10_000
"""Canonical profiles the affected set may reach (beyond this, replay the whole space)."""
MAX_EVENTS = 100_000
"""Stored events the affected set may hold (they are kept in memory while replaying)."""


class ReplayRefused(ValueError):
    """A per-profile replay that cannot run as asked; ``code`` is the API error code."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass
class Affected:
    """The affected set: its profiles and the stored events to replay."""

    canonical: set[int] = field(default_factory=set)
    members: set[int] = field(default_factory=set)
    rows: dict[int, tuple[Any, ...]] = field(default_factory=dict)
    """``events.id`` → the stored row (``STORED_COLUMNS`` then ``profile_id``)."""
    idents: set[tuple[str, str]] = field(default_factory=set)
    """Users identifiers ``(type, value)`` the set's events carry under the current rules."""
    unconfirmed: dict[int, tuple[tuple[Any, ...], set[tuple[str, str]]]] = field(
        default_factory=dict
    )
    """Rows the text search found that share no identifier with the set (yet)."""


def affected_set(
    cur: duckdb.DuckDBPyConnection,
    workspace_id: str,
    environment: str,
    space: str,
    rules: CompiledSettings,
    seeds: set[int],
) -> Affected:
    """The affected set of the canonical profiles ``seeds`` (see the module docstring)."""
    closure = Affected()
    todo_profiles, todo_values = set(seeds), set[str]()
    searched: set[str] = set()
    while todo_profiles or todo_values:
        if len(closure.canonical) + len(todo_profiles) > MAX_PROFILES:
            raise ReplayRefused(
                "too_many_profiles",
                f"the profiles share identifiers with more than {MAX_PROFILES:,} others; "
                "replay the whole space instead",
            )
        fresh = _members(cur, space, todo_profiles)
        closure.canonical |= todo_profiles
        closure.members |= fresh
        searched |= todo_values
        found = _scan(
            cur, workspace_id, environment, [profile_id("users", pk) for pk in fresh],
            sorted(todo_values),
        )  # fmt: skip
        owned = {profile_id("users", pk) for pk in fresh}
        before = set(closure.idents)
        for row in found:
            if row[0] in closure.rows or row[0] in closure.unconfirmed:
                continue
            users = extract(space, stored_event(workspace_id, environment, row).message, rules)[0]
            pairs = {(i.type, i.value) for i in users}
            if row[14] in owned:
                _take(closure, row, pairs)
            else:
                closure.unconfirmed[row[0]] = (row, pairs)
        _confirm(closure)
        if len(closure.rows) > MAX_EVENTS or len(closure.unconfirmed) > MAX_EVENTS:
            # Unconfirmed hits are kept too (a later identifier may confirm them): bound both.
            raise ReplayRefused(
                "too_many_events",
                f"the profiles' history, or the events that mention their identifiers, "
                f"hold more than {MAX_EVENTS:,} events; replay the whole space instead",
            )
        new = closure.idents - before
        todo_values = {value for _type, value in new} - searched
        todo_profiles = (
            _holders(cur, space, new) | _owners(cur, space, closure)
        ) - closure.canonical
    return closure


def _take(closure: Affected, row: tuple[Any, ...], pairs: set[tuple[str, str]]) -> None:
    closure.rows[row[0]] = row
    closure.idents |= pairs


def _confirm(closure: Affected) -> None:
    """Move text-search hits that share an identifier with the set into it (a hit taken in
    may connect another, so repeat until none moves)."""
    moved = True
    while moved:
        moved = False
        for event_id, (row, pairs) in list(closure.unconfirmed.items()):
            if pairs & closure.idents:
                del closure.unconfirmed[event_id]
                _take(closure, row, pairs)
                moved = True


def _members(cur: duckdb.DuckDBPyConnection, space: str, canonical: set[int]) -> set[int]:
    return _users(cur, space, "pk", "canonical", canonical) | canonical


def _scan(
    cur: duckdb.DuckDBPyConnection,
    workspace_id: str,
    environment: str,
    owned: list[str],
    values: list[str],
) -> list[tuple[Any, ...]]:
    """Stored accepted events resolved to one of ``owned`` or whose JSON may carry one of
    ``values`` (one scan of the space's events)."""
    where: list[str] = []
    params: list[Any] = [workspace_id, environment]
    if owned:
        where.append("profile_id IN (SELECT unnest(?::VARCHAR[]))")
        params.append(owned)
    for pattern in patterns(values):
        for column in ("extra", "properties", "traits", "context"):
            where.append(f"regexp_matches({column}::VARCHAR, ?)")
            params.append(pattern)
    if not where:
        return []
    rows: list[tuple[Any, ...]] = cur.execute(
        f"SELECT {STORED_COLUMNS}, profile_id FROM events WHERE workspace_id = ? "
        f"AND environment = ? AND status = 'accepted' AND ({' OR '.join(where)})",
        params,
    ).fetchall()
    return rows


def _holders(cur: duckdb.DuckDBPyConnection, space: str, pairs: set[tuple[str, str]]) -> set[int]:
    """Canonical user profiles holding one of the identifiers ``pairs`` (``identity_ids``)."""
    if not pairs:
        return set()
    keys = {identifier_key(space, "users", t, v): (t, v) for t, v in pairs}
    rows = cur.execute(
        "SELECT i.key, i.id_type, i.id_value, i.space, i.collection, p.canonical "
        "FROM identity_ids i JOIN identity_profiles p ON p.pk = i.pk "
        "WHERE i.key IN (SELECT unnest(?::BIGINT[]))",
        [sorted(keys)],
    ).fetchall()
    # Keys are hashes: the stored type and value confirm the match.
    return {
        int(r[5]) for r in rows if keys.get(r[0]) == (r[1], r[2]) and r[3:5] == (space, "users")
    }


def _owners(cur: duckdb.DuckDBPyConnection, space: str, closure: Affected) -> set[int]:
    """Canonical profiles of the set's events that were resolved outside the set."""
    pks = set()
    for row in closure.rows.values():
        parsed = None if row[14] is None else parse_profile_id(row[14])
        if parsed is not None and parsed[1] not in closure.members:
            pks.add(parsed[1])
    return _canonical_of(cur, space, pks)


def _canonical_of(cur: duckdb.DuckDBPyConnection, space: str, pks: set[int]) -> set[int]:
    return _users(cur, space, "canonical", "pk", pks)


def _users(
    cur: duckdb.DuckDBPyConnection, space: str, column: str, by: str, pks: set[int]
) -> set[int]:
    """``column`` of the space's user profiles whose ``by`` is one of ``pks``."""
    if not pks:
        return set()
    rows = cur.execute(
        f"SELECT {column}, space, collection FROM identity_profiles "
        f"WHERE {by} IN (SELECT unnest(?::BIGINT[]))",
        [sorted(pks)],
    ).fetchall()
    return {int(r[0]) for r in rows if r[1] == space and r[2] == "users"}


def canonical_now(
    cur: duckdb.DuckDBPyConnection, space: str, outcome: list[tuple[int, str | None]]
) -> set[int]:
    """The canonical user profiles now of the profile ids replayed events were given."""
    pks = set()
    for _event_id, found in outcome:
        parsed = None if found is None else parse_profile_id(found)
        if parsed is not None:
            pks.add(parsed[1])
    return _canonical_of(cur, space, pks)
