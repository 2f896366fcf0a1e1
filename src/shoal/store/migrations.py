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
    (3, "ALTER TABLE events ADD COLUMN profile_id VARCHAR"),
]
"""(version, DDL) pairs; a new version only ever adds."""


def apply_migrations(
    con: _Executes, migrations: list[tuple[int, str]], component: str = "events"
) -> int:
    """Apply ``component``'s migrations newer than its recorded version; return the version.

    Each component that keeps tables in the store (the events themselves, identity,
    audiences, …) numbers its own migrations, so they never collide.
    """
    con.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations (component VARCHAR NOT NULL, "
        "version INTEGER NOT NULL, applied_at TIMESTAMP DEFAULT current_timestamp, "
        "PRIMARY KEY (component, version))"
    )
    row = con.execute(
        "SELECT coalesce(max(version), 0) FROM schema_migrations WHERE component = ?",
        [component],
    )
    current = int(row.fetchone()[0])  # type: ignore[attr-defined]
    for version, ddl in migrations:
        if version <= current:
            continue
        con.execute("BEGIN TRANSACTION")
        for statement in filter(str.strip, ddl.split(";")):
            con.execute(statement)
        con.execute(
            "INSERT INTO schema_migrations (component, version) VALUES (?, ?)",
            [component, version],
        )
        con.execute("COMMIT")
        current = version
    return current
