"""Identity tables in the event store's DuckDB file: the write path and the stage's lookups.

Keys are 63-bit BIGINT hashes (ART-indexed point lookups take well under a millisecond
where VARCHAR keys cost several). A round's changes go in as columns in one
transaction (``duckdb_write``). Reads for the Profile API live in ``duckdb_reads``.
"""

from __future__ import annotations

from collections.abc import Sequence

import duckdb

from shoal.identity import materialized
from shoal.identity.duckdb_reads import DuckDBIdentityReads, profile_from_row
from shoal.identity.duckdb_write import TEMP_TABLES, write_round
from shoal.identity.graph import Mapping, Profile, RoundChanges
from shoal.identity.materialized import MaterializedValues
from shoal.identity.profile_tables import PROFILE_TABLES
from shoal.store.duckdb import DuckDBStore

MIGRATIONS: list[tuple[int, str]] = [
    (
        1,
        """
        CREATE TABLE identity_ids (
            space VARCHAR NOT NULL, key BIGINT NOT NULL, collection VARCHAR NOT NULL,
            id_type VARCHAR NOT NULL, id_value VARCHAR NOT NULL, pk BIGINT NOT NULL,
            added_at BIGINT NOT NULL, message_id VARCHAR NOT NULL, source_id VARCHAR NOT NULL,
            created_at BIGINT NOT NULL
        );
        CREATE INDEX identity_ids_key ON identity_ids (key);
        CREATE INDEX identity_ids_pk ON identity_ids (pk);
        CREATE TABLE identity_profiles (
            space VARCHAR NOT NULL, pk BIGINT NOT NULL, collection VARCHAR NOT NULL,
            canonical BIGINT NOT NULL, created_at BIGINT NOT NULL,
            first_message_id VARCHAR NOT NULL, first_source_id VARCHAR NOT NULL,
            last_seen BIGINT NOT NULL, last_message_id VARCHAR NOT NULL,
            last_source_id VARCHAR NOT NULL, merges INTEGER NOT NULL, traits VARCHAR NOT NULL,
            updated_at BIGINT NOT NULL
        );
        CREATE INDEX identity_profiles_pk ON identity_profiles (pk);
        CREATE INDEX identity_profiles_canonical ON identity_profiles (canonical);
        CREATE TABLE identity_merges (
            space VARCHAR NOT NULL, collection VARCHAR NOT NULL, from_pk BIGINT NOT NULL,
            into_pk BIGINT NOT NULL, message_id VARCHAR NOT NULL, source_id VARCHAR NOT NULL,
            timestamp BIGINT NOT NULL, reason VARCHAR NOT NULL, created_at BIGINT NOT NULL
        );
        CREATE TABLE identity_links (
            space VARCHAR NOT NULL, user_pk BIGINT NOT NULL, account_pk BIGINT NOT NULL,
            message_id VARCHAR NOT NULL, source_id VARCHAR NOT NULL, timestamp BIGINT NOT NULL
        );
        CREATE TABLE identity_events (
            space VARCHAR NOT NULL, pk BIGINT NOT NULL, seq BIGINT NOT NULL,
            timestamp BIGINT NOT NULL, source_id VARCHAR NOT NULL, message_id VARCHAR NOT NULL,
            type VARCHAR NOT NULL, event VARCHAR, message VARCHAR NOT NULL
        );
        CREATE INDEX identity_events_pk ON identity_events (pk);
        CREATE TABLE identity_computed (
            space VARCHAR NOT NULL, pk BIGINT NOT NULL, key VARCHAR NOT NULL,
            value VARCHAR, updated_at BIGINT NOT NULL
        );
        CREATE INDEX identity_computed_pk ON identity_computed (pk)
        """,
    ),
    (2, materialized.MIGRATION),
]


def message_key(source_id: str, message_id: str) -> str:
    """How the stage remembers recently resolved messages."""
    return f"{source_id}\x1f{message_id}"


class DuckDBIdentityStore(DuckDBIdentityReads):
    """``IdentityStore`` on the event store's DuckDB database."""

    def __init__(self, store: DuckDBStore) -> None:
        super().__init__(store)
        self._seq = 0
        self.values = MaterializedValues(store)
        """Event values kept as narrow rows for audiences (``materialized``)."""

    async def start(self) -> None:
        await self.store.migrate("identity", MIGRATIONS)

        def init(con: duckdb.DuckDBPyConnection) -> int:
            for statement in TEMP_TABLES.split(";"):
                con.execute(statement)
            row = con.execute("SELECT coalesce(max(seq), 0) FROM identity_events").fetchone()
            return int(row[0]) if row else 0

        self._seq = await self.store.run_write(init)
        await self.values.start()

    async def fetch(
        self, keys: Sequence[int], pks: Sequence[int]
    ) -> tuple[list[tuple[Mapping, int]], list[Profile]]:
        return await self.store.run_read(lambda cur: _fetch(cur, list(keys), list(pks)))

    async def write(self, changes: RoundChanges) -> None:
        first = self._seq + 1
        paths = self.values.paths
        count = await self.store.run_write(lambda con: write_round(con, changes, first, paths))
        self._seq += count

    async def known_keys(self) -> list[int]:
        def run(cur: duckdb.DuckDBPyConnection) -> list[int]:
            return [row[0] for row in cur.execute("SELECT key FROM identity_ids").fetchall()]

        return await self.store.run_read(run)

    async def recent_message_keys(self, limit: int) -> list[str]:
        def run(cur: duckdb.DuckDBPyConnection) -> list[str]:
            sql = "SELECT source_id, message_id FROM identity_events ORDER BY seq DESC LIMIT ?"
            return [message_key(*row) for row in cur.execute(sql, [limit]).fetchall()]

        return await self.store.run_read(run)

    async def clear_space(self, space: str) -> None:
        def run(con: duckdb.DuckDBPyConnection) -> None:
            con.execute("BEGIN TRANSACTION")
            try:
                # The materialized paths' registry stays: the replay writes values again.
                for table, _ in PROFILE_TABLES:
                    con.execute(f"DELETE FROM {table} WHERE space = ?", [space])
                con.execute("COMMIT")
            except Exception:
                con.execute("ROLLBACK")
                raise

        await self.store.run_write(run)


def _fetch(
    cur: duckdb.DuckDBPyConnection, keys: list[int], pks: list[int]
) -> tuple[list[tuple[Mapping, int]], list[Profile]]:
    found: list[tuple[Mapping, int]] = []
    canon: set[int] = set(pks)
    if keys:
        rows = cur.execute(
            "SELECT i.space, i.key, i.collection, i.id_type, i.id_value, i.pk, i.added_at, "
            "i.message_id, i.source_id, p.canonical FROM identity_ids i "
            "JOIN identity_profiles p ON p.pk = i.pk "
            "WHERE i.key IN (SELECT unnest(?::BIGINT[]))",
            [keys],
        ).fetchall()
        for row in rows:
            found.append((Mapping(*row[:9]), row[9]))
            canon.add(row[9])
    if not canon:
        return found, []
    wanted = list(canon)
    profiles = {
        row[1]: profile_from_row(row)
        for row in cur.execute(
            "SELECT space, pk, collection, created_at, first_message_id, first_source_id, "
            "last_seen, last_message_id, last_source_id, merges, traits, updated_at "
            "FROM identity_profiles WHERE pk IN (SELECT unnest(?::BIGINT[])) AND canonical = pk",
            [wanted],
        ).fetchall()
    }
    for row in cur.execute(
        "SELECT i.space, i.key, i.collection, i.id_type, i.id_value, i.pk, i.added_at, "
        "i.message_id, i.source_id, p.canonical FROM identity_ids i "
        "JOIN identity_profiles p ON p.pk = i.pk "
        "WHERE p.canonical IN (SELECT unnest(?::BIGINT[])) ORDER BY i.added_at, i.key",
        [wanted],
    ).fetchall():
        owner = profiles.get(row[9])
        if owner is not None:
            owner.mappings.append(Mapping(*row[:9]))
    return found, list(profiles.values())
