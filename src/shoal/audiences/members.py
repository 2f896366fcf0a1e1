"""Memberships, history, sizes, lists, tags and objects in the embedded DuckDB store.

A refresh computes its changes (who entered, who exited) with one query on a reader cursor,
so the long part never holds the single writer that ingestion needs; the writer then applies
only the changes, in one short transaction.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import duckdb
import msgspec

from shoal.audiences.embedded import MIGRATIONS
from shoal.store.duckdb import DuckDBStore


@dataclass(frozen=True)
class Applied:
    """One audience's changes to record: ``key`` at ``version``."""

    key: str
    version: int
    entered: Sequence[int]
    exited: Sequence[int]


_ENCODE = msgspec.json.Encoder().encode
_DECODE = msgspec.json.Decoder().decode


@dataclass(frozen=True)
class Change:
    """One membership change."""

    profile_id: int
    change: str
    at: int
    version: int
    audience: str = ""


def object_pk(space: str, collection: str, object_id: str) -> int:
    """The stable 63-bit id of an object (like identity's profile keys)."""
    digest = hashlib.blake2b(f"{space}\x1f{collection}\x1f{object_id}".encode(), digest_size=8)
    return int.from_bytes(digest.digest(), "big") >> 1


def _temp_ids(con: duckdb.DuckDBPyConnection, name: str, ids: Sequence[int]) -> None:
    con.execute(f"CREATE OR REPLACE TEMP TABLE {name} (profile_id BIGINT)")
    if ids:
        appender = con.appender(name)
        appender.append_rows([(i,) for i in ids])
        appender.flush()


class MembershipStore:
    """The audiences' own tables; see the module docstring."""

    def __init__(self, store: DuckDBStore) -> None:
        self.store = store

    async def start(self) -> None:
        """Create or upgrade the tables."""
        await self.store.migrate("audiences", MIGRATIONS)

    async def changes(self, sql: str) -> tuple[list[int], list[int]]:
        """Run a compiled changes query: ``(entered, exited)`` profile ids."""

        def run(cur: duckdb.DuckDBPyConnection) -> tuple[list[int], list[int]]:
            entered: list[int] = []
            exited: list[int] = []
            for pk, entering in cur.execute(sql).fetchall():
                (entered if entering else exited).append(pk)
            return entered, exited

        return await self.store.run_read(run)

    async def query(self, sql: str) -> list[tuple[Any, ...]]:
        """Rows of a compiled query (preview, explain, live counts)."""
        return await self.store.run_read(lambda cur: cur.execute(sql).fetchall())

    async def apply(
        self,
        space: str,
        key: str,
        version: int,
        entered: Sequence[int],
        exited: Sequence[int],
        at: int,
        full: bool,
    ) -> int:
        """Record one audience's changes (members, history, a size point); its new size."""
        sizes = await self.apply_many(space, [Applied(key, version, entered, exited)], at, full)
        return sizes[key]

    async def apply_many(
        self, space: str, changes: Sequence[Applied], at: int, full: bool = False
    ) -> dict[str, int]:
        """Record the changes of several audiences in one transaction: members, history,
        and a size point for each that changed (each, after a ``full`` refresh); their new
        sizes by key."""
        moved = [c for c in changes if c.entered or c.exited]

        def run(con: duckdb.DuckDBPyConnection) -> dict[str, int]:
            con.execute("BEGIN TRANSACTION")
            try:
                exited = [(c.key, pk) for c in moved for pk in c.exited]
                if exited:
                    con.execute(
                        "CREATE OR REPLACE TEMP TABLE audience_exited_pairs "
                        "(audience VARCHAR, profile_id BIGINT)"
                    )
                    appender = con.appender("audience_exited_pairs")
                    appender.append_rows(exited)
                    appender.flush()
                    con.execute(
                        "DELETE FROM audience_members AS m WHERE m.space = ? AND EXISTS (SELECT 1 "
                        "FROM audience_exited_pairs AS x WHERE x.audience = m.audience "
                        "AND x.profile_id = m.profile_id)",
                        [space],
                    )
                entered = [(space, c.key, pk, at, c.version) for c in moved for pk in c.entered]
                if entered:
                    appender = con.appender("audience_members")
                    appender.append_rows(entered)
                    appender.flush()
                if moved:
                    # ``seq`` orders every change of every audience: activations read the
                    # history after the last seq they delivered.
                    # fetchall: an unfinished result would block the appender below.
                    last = con.execute("SELECT coalesce(max(seq), 0) FROM audience_history")
                    seq = int(last.fetchall()[0][0])
                    rows = []
                    for c in moved:
                        for change, pks in (("entered", c.entered), ("exited", c.exited)):
                            for pk in pks:
                                seq += 1
                                rows.append((space, c.key, pk, change, at, c.version, seq))
                    appender = con.appender("audience_history")
                    appender.append_rows(rows)
                    appender.flush()
                keys = sorted({c.key for c in changes})
                counted = con.execute(
                    "SELECT audience, count(*) FROM audience_members WHERE space = ? AND "
                    "audience IN (SELECT unnest(?::VARCHAR[])) GROUP BY audience",
                    [space, keys],
                ).fetchall()
                sizes = {key: 0 for key in keys} | {str(k): int(n) for k, n in counted}
                sized = changes if full else moved
                if sized:
                    appender = con.appender("audience_sizes")
                    appender.append_rows(
                        [
                            (space, c.key, at, sizes[c.key], len(c.entered), len(c.exited),
                             c.version, full)
                            for c in sized
                        ]
                    )  # fmt: skip
                    appender.flush()
                con.execute("COMMIT")
            except Exception:
                con.execute("ROLLBACK")
                raise
            return sizes

        return await self.store.run_write(run)

    async def forget(self, space: str, key: str) -> None:
        """Drop an audience's members (its history stays, for audit)."""
        await self.store.run_write(
            lambda con: con.execute(
                "DELETE FROM audience_members WHERE space = ? AND audience = ?", [space, key]
            )
        )

    async def members(self, space: str, key: str, limit: int, after: int | None) -> list[int]:
        """A page of member ids, in id order (``after`` continues a page)."""
        sql = "SELECT profile_id FROM audience_members WHERE space = ? AND audience = ?"
        params: list[Any] = [space, key]
        if after is not None:
            sql += " AND profile_id > ?"
            params.append(after)
        sql += " ORDER BY profile_id LIMIT ?"
        params.append(limit)
        rows = await self.store.run_read(lambda cur: cur.execute(sql, params).fetchall())
        return [int(r[0]) for r in rows]

    async def is_member(self, space: str, key: str, profile_id: int) -> bool:
        """Whether a profile is currently a member."""
        rows = await self.store.run_read(
            lambda cur: cur.execute(
                "SELECT 1 FROM audience_members WHERE space = ? AND audience = ? "
                "AND profile_id = ?",
                [space, key, profile_id],
            ).fetchall()
        )
        return bool(rows)

    async def memberships_of(self, space: str, profile_id: int) -> list[tuple[str, int]]:
        """``(audience key, entered_at)`` of the audiences a profile is in."""
        rows = await self.store.run_read(
            lambda cur: cur.execute(
                "SELECT audience, entered_at FROM audience_members WHERE space = ? AND "
                "profile_id = ? ORDER BY audience",
                [space, profile_id],
            ).fetchall()
        )
        return [(str(a), int(t)) for a, t in rows]

    async def history(
        self, space: str, key: str | None, profile_id: int | None, limit: int
    ) -> list[Change]:
        """Membership changes, newest first, of an audience and/or a profile."""
        sql = (
            "SELECT profile_id, change, changed_at, version, audience FROM audience_history "
            "WHERE space = ?"
        )
        params: list[Any] = [space]
        if key is not None:
            sql += " AND audience = ?"
            params.append(key)
        if profile_id is not None:
            sql += " AND profile_id = ?"
            params.append(profile_id)
        sql += " ORDER BY changed_at DESC, change, profile_id LIMIT ?"
        params.append(limit)
        rows = await self.store.run_read(lambda cur: cur.execute(sql, params).fetchall())
        return [Change(int(p), str(c), int(a), int(v), str(k)) for p, c, a, v, k in rows]

    async def changes_after(
        self, space: str, key: str, after_seq: int, limit: int
    ) -> list[tuple[int, int, str, int]]:
        """``(seq, profile_id, change, changed_at)`` of an audience after ``after_seq``, in
        order: what an activation has not delivered yet."""
        rows = await self.store.run_read(
            lambda cur: cur.execute(
                "SELECT seq, profile_id, change, changed_at FROM audience_history "
                "WHERE space = ? AND audience = ? AND seq > ? ORDER BY seq LIMIT ?",
                [space, key, after_seq, limit],
            ).fetchall()
        )
        return [(int(s), int(p), str(c), int(t)) for s, p, c, t in rows]

    async def all_identifiers(self, pks: Sequence[int]) -> dict[int, dict[str, list[str]]]:
        """Every identifier of canonical profiles by type (``email``, ``user_id``, …),
        newest last: what list syncs match people on."""
        if not pks:
            return {}

        def run(cur: duckdb.DuckDBPyConnection) -> list[tuple[Any, ...]]:
            return cur.execute(
                "SELECT p.canonical, i.id_type, i.id_value FROM identity_ids i "
                "JOIN identity_profiles p ON p.pk = i.pk WHERE p.canonical IN "
                "(SELECT unnest(?::BIGINT[])) ORDER BY i.added_at",
                [list(pks)],
            ).fetchall()

        out: dict[int, dict[str, list[str]]] = {}
        for pk, kind, value in await self.store.run_read(run):
            out.setdefault(int(pk), {}).setdefault(str(kind), []).append(str(value))
        return out

    async def sizes(self, space: str, key: str, limit: int) -> list[dict[str, Any]]:
        """Size over time, oldest first (the newest ``limit`` points)."""
        rows = await self.store.run_read(
            lambda cur: cur.execute(
                "SELECT measured_at, size, entered, exited, version, full_refresh FROM ("
                "SELECT * FROM audience_sizes WHERE space = ? AND audience = ? "
                "ORDER BY measured_at DESC LIMIT ?) ORDER BY measured_at",
                [space, key, limit],
            ).fetchall()
        )
        names = ("at", "size", "entered", "exited", "version", "full_refresh")
        return [dict(zip(names, row, strict=True)) for row in rows]

    async def identifiers(self, pks: Sequence[int]) -> dict[int, dict[str, str]]:
        """Each canonical profile's newest ``user_id``/``anonymous_id``/``group_id`` (to
        address the events emitted about it)."""
        if not pks:
            return {}

        def run(cur: duckdb.DuckDBPyConnection) -> list[tuple[Any, ...]]:
            return cur.execute(
                "SELECT p.canonical, i.id_type, i.id_value FROM identity_ids i "
                "JOIN identity_profiles p ON p.pk = i.pk WHERE p.canonical IN "
                "(SELECT unnest(?::BIGINT[])) AND i.id_type IN "
                "('user_id', 'anonymous_id', 'group_id') ORDER BY i.added_at",
                [list(pks)],
            ).fetchall()

        out: dict[int, dict[str, str]] = {}
        for pk, kind, value in await self.store.run_read(run):
            out.setdefault(int(pk), {})[str(kind)] = str(value)
        return out

    async def traits(self, pks: Sequence[int]) -> dict[int, dict[str, Any]]:
        """Current traits of canonical profiles (removed traits left out)."""
        if not pks:
            return {}
        rows = await self.store.run_read(
            lambda cur: cur.execute(
                "SELECT pk, traits FROM identity_profiles WHERE pk IN (SELECT unnest(?::BIGINT[]))",
                [list(pks)],
            ).fetchall()
        )
        return {
            int(pk): {k: v[0] for k, v in _DECODE(raw).items() if v[0] is not None}
            for pk, raw in rows
        }

    async def linked(self, space: str, pks: Sequence[int]) -> set[int]:
        """Canonical users and accounts linked to any of ``pks`` (both directions)."""

        def run(cur: duckdb.DuckDBPyConnection) -> list[tuple[Any, ...]]:
            return cur.execute(
                "WITH l AS (SELECT u.canonical AS user_id, a.canonical AS account_id "
                "FROM identity_links AS il JOIN identity_profiles AS u ON u.pk = il.user_pk "
                "JOIN identity_profiles AS a ON a.pk = il.account_pk WHERE il.space = ?), "
                "t AS (SELECT unnest(?::BIGINT[]) AS pk) "
                "SELECT user_id, account_id FROM l WHERE user_id IN (SELECT pk FROM t) "
                "OR account_id IN (SELECT pk FROM t)",
                [space, list(pks)],
            ).fetchall()

        out: set[int] = set()
        for user_id, account_id in await self.store.run_read(run):
            out.update((int(user_id), int(account_id)))
        return out

    # -- static lists and tags --------------------------------------------------------

    async def set_list(
        self, space: str, collection: str, kind: str, name: str, add: Sequence[int],
        remove: Sequence[int], at: int,
    ) -> int:  # fmt: skip
        """Add and remove profiles of a static list or tag; returns its size."""

        def run(con: duckdb.DuckDBPyConnection) -> int:
            con.execute("BEGIN TRANSACTION")
            try:
                where = "space = ? AND collection = ? AND kind = ? AND name = ?"
                params = [space, collection, kind, name]
                for ids in (add, remove):
                    if ids:
                        _temp_ids(con, "audience_list_ids", ids)
                        con.execute(
                            f"DELETE FROM audience_lists WHERE {where} AND profile_id IN "
                            "(SELECT profile_id FROM audience_list_ids)",
                            params,
                        )
                if add:
                    appender = con.appender("audience_lists")
                    appender.append_rows([(*params, pk, at) for pk in dict.fromkeys(add)])
                    appender.flush()
                row = con.execute(f"SELECT count(*) FROM audience_lists WHERE {where}", params)
                size = int(row.fetchone()[0])  # type: ignore[index]
                con.execute("COMMIT")
            except Exception:
                con.execute("ROLLBACK")
                raise
            return size

        return await self.store.run_write(run)

    async def lists_of(self, space: str, profile_id: int) -> list[tuple[str, str]]:
        """``(kind, name)`` of the lists and tags a profile is in."""
        rows = await self.store.run_read(
            lambda cur: cur.execute(
                "SELECT kind, name FROM audience_lists WHERE space = ? AND profile_id = ? "
                "ORDER BY kind, name",
                [space, profile_id],
            ).fetchall()
        )
        return [(str(k), str(n)) for k, n in rows]

    # -- objects ----------------------------------------------------------------------------

    async def upsert_objects(
        self, space: str, collection: str, objects: Sequence[tuple[str, dict[str, Any]]], at: int
    ) -> list[int]:
        """Create or update objects (attributes merge; ``null`` removes one); their ids."""
        pks = [object_pk(space, collection, oid) for oid, _ in objects]

        def run(con: duckdb.DuckDBPyConnection) -> list[int]:
            con.execute("BEGIN TRANSACTION")
            try:
                _temp_ids(con, "audience_object_ids", pks)
                existing = {
                    int(pk): (_DECODE(traits), int(created))
                    for pk, traits, created in con.execute(
                        "SELECT pk, traits, created_at FROM audience_objects WHERE pk IN "
                        "(SELECT profile_id FROM audience_object_ids)"
                    ).fetchall()
                }
                con.execute(
                    "DELETE FROM audience_objects WHERE pk IN "
                    "(SELECT profile_id FROM audience_object_ids)"
                )
                rows: dict[int, tuple[Any, ...]] = {}
                for pk, (oid, attributes) in zip(pks, objects, strict=True):
                    traits, created = existing.get(pk, ({}, at))
                    if pk in rows:  # the same object twice in one call: later wins
                        traits = _DECODE(rows[pk][4])
                    for name, value in attributes.items():
                        traits[name] = [value, at]
                    existing[pk] = (traits, created)
                    rows[pk] = (space, collection, oid, pk, _ENCODE(traits).decode(), created, at)
                appender = con.appender("audience_objects")
                appender.append_rows(list(rows.values()))
                appender.flush()
                con.execute("COMMIT")
            except Exception:
                con.execute("ROLLBACK")
                raise
            return pks

        return await self.store.run_write(run)

    async def get_object(
        self, space: str, collection: str, object_id: str
    ) -> dict[str, Any] | None:
        """An object's attributes (``None`` if unknown)."""
        pk = object_pk(space, collection, object_id)
        rows = await self.store.run_read(
            lambda cur: cur.execute(
                "SELECT traits, created_at, updated_at FROM audience_objects WHERE pk = ?", [pk]
            ).fetchall()
        )
        if not rows:
            return None
        traits, created, updated = rows[0]
        return {
            "id": object_id,
            "collection": collection,
            "attributes": {k: v[0] for k, v in _DECODE(traits).items() if v[0] is not None},
            "created_at": created,
            "updated_at": updated,
        }

    async def object_ids(self, pks: Sequence[int]) -> dict[int, str]:
        """Object ids of object pks."""
        if not pks:
            return {}
        rows = await self.store.run_read(
            lambda cur: cur.execute(
                "SELECT pk, object_id FROM audience_objects WHERE pk IN "
                "(SELECT unnest(?::BIGINT[]))",
                [list(pks)],
            ).fetchall()
        )
        return {int(pk): str(oid) for pk, oid in rows}
