"""Additive, versioned DDL for event-store backends, recorded in ``schema_migrations``."""

from __future__ import annotations

from typing import Protocol


class _Executes(Protocol):
    def execute(self, sql: str, parameters: object = ..., /) -> object: ...


DUCKDB_MIGRATIONS: list[tuple[int, str]] = [
    (
        1,
        """
        CREATE TABLE events (
            id BIGINT NOT NULL,
            workspace_id VARCHAR NOT NULL,
            source_id VARCHAR NOT NULL,
            environment VARCHAR NOT NULL,
            message_id VARCHAR NOT NULL,
            type VARCHAR NOT NULL,
            event VARCHAR,
            user_id VARCHAR,
            anonymous_id VARCHAR,
            group_id VARCHAR,
            timestamp TIMESTAMP NOT NULL,
            received_at TIMESTAMP NOT NULL,
            status VARCHAR NOT NULL,
            reason VARCHAR,
            properties JSON,
            traits JSON,
            context JSON,
            extra JSON NOT NULL
        );
        CREATE TABLE message_ids (key UHUGEINT PRIMARY KEY, received_at TIMESTAMP NOT NULL);
        """,
    ),
    (2, "ALTER TABLE events ADD COLUMN violations JSON"),
]
"""(version, DDL) pairs; a new version only ever adds."""


def apply_migrations(con: _Executes, migrations: list[tuple[int, str]]) -> int:
    """Apply every migration newer than the recorded version; return the version now."""
    con.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, "
        "applied_at TIMESTAMP DEFAULT current_timestamp)"
    )
    row = con.execute("SELECT coalesce(max(version), 0) FROM schema_migrations")
    current = int(row.fetchone()[0])  # type: ignore[attr-defined]
    for version, ddl in migrations:
        if version <= current:
            continue
        con.execute("BEGIN TRANSACTION")
        for statement in filter(str.strip, ddl.split(";")):
            con.execute(statement)
        con.execute("INSERT INTO schema_migrations (version) VALUES (?)", [version])
        con.execute("COMMIT")
        current = version
    return current
