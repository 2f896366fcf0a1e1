"""The identity stage's write on DuckDB: a round's changes, as columns, in one transaction.

Each table's rows go in as one Arrow table: pyarrow turns the Python lists into columns in
native code and DuckDB inserts them without holding the GIL, so the next round's resolution
runs meanwhile (the Appender converts value by value under the GIL, about three times
slower). The order inside the transaction: new mappings, rewritten profile rows (delete +
insert), canonical pointers of merged profiles (one set-based UPDATE), merges, links,
timeline rows and their materialized values.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import duckdb
import msgspec
import pyarrow as pa

from shoal.identity import materialized
from shoal.identity.graph import RoundChanges, wall_ms

_ENCODE = msgspec.json.Encoder().encode
_S, _I = pa.string(), pa.int64()

SCHEMAS: dict[str, pa.Schema] = {
    name: pa.schema(columns)
    for name, columns in {
        "identity_ids": [
            ("space", _S), ("key", _I), ("collection", _S), ("id_type", _S), ("id_value", _S),
            ("pk", _I), ("added_at", _I), ("message_id", _S), ("source_id", _S),
            ("created_at", _I),
        ],
        "identity_profiles": [
            ("space", _S), ("pk", _I), ("collection", _S), ("canonical", _I), ("created_at", _I),
            ("first_message_id", _S), ("first_source_id", _S), ("last_seen", _I),
            ("last_message_id", _S), ("last_source_id", _S), ("merges", pa.int32()),
            ("traits", _S), ("updated_at", _I),
        ],
        "identity_merges": [
            ("space", _S), ("collection", _S), ("from_pk", _I), ("into_pk", _I),
            ("message_id", _S), ("source_id", _S), ("timestamp", _I), ("reason", _S),
            ("created_at", _I),
        ],
        "identity_links": [
            ("space", _S), ("user_pk", _I), ("account_pk", _I), ("message_id", _S),
            ("source_id", _S), ("timestamp", _I),
        ],
        "identity_events": [
            ("space", _S), ("pk", _I), ("seq", _I), ("timestamp", _I), ("source_id", _S),
            ("message_id", _S), ("type", _S), ("event", _S), ("message", _S),
        ],
        "identity_event_values": [
            ("space", _S), ("pk", _I), ("seq", _I), ("timestamp", _I), ("type", _S),
            ("event", _S), ("path", _S), ("value", _S),
        ],
        "identity_touched": [("pk", _I)],
        "identity_moved": [("from_pk", _I), ("into_pk", _I)],
    }.items()
}  # fmt: skip
"""Column names and Arrow types of every table the write inserts into, in table order."""

TEMP_TABLES = (
    "CREATE TEMP TABLE IF NOT EXISTS identity_touched (pk BIGINT);"
    "CREATE TEMP TABLE IF NOT EXISTS identity_moved (from_pk BIGINT, into_pk BIGINT)"
)


def insert(con: duckdb.DuckDBPyConnection, table: str, columns: Sequence[Sequence[Any]]) -> None:
    """Insert rows given as ``columns`` (in the table's order) into ``table``."""
    schema = SCHEMAS[table]
    arrays = [pa.array(col, type) for col, type in zip(columns, schema.types, strict=True)]
    con.from_arrow(pa.Table.from_arrays(arrays, schema=schema)).insert_into(table)


def insert_rows(
    con: duckdb.DuckDBPyConnection, table: str, rows: Sequence[tuple[Any, ...]]
) -> None:
    """Insert row tuples (few of them: profiles, merges) into ``table``."""
    if rows:
        insert(con, table, list(zip(*rows, strict=True)))


def write_round(
    con: duckdb.DuckDBPyConnection,
    changes: RoundChanges,
    first_seq: int,
    paths: dict[str, tuple[tuple[str, list[str]], ...]],
) -> int:
    """Write a round's changes in one transaction; returns the timeline rows written."""
    now = wall_ms()
    moved = changes.merged()
    timeline = changes.timeline
    events = [ev for _, _, ev in timeline]
    count = len(timeline)
    # Built before BEGIN: the transaction stays short and the GIL-bound work is done first.
    timeline_cols: list[Sequence[Any]] = [
        [space for space, _, _ in timeline],
        [pk for _, pk, _ in timeline],
        range(first_seq, first_seq + count),
        [ev.timestamp for ev in events],
        [ev.source_id for ev in events],
        [ev.message_id for ev in events],
        [ev.type for ev in events],
        [ev.event for ev in events],
        [_ENCODE(ev.message) for ev in events],
    ]
    profile_rows = [(*row, now) for row in changes.rows.values()]
    values: list[tuple[Any, ...]] = []
    if paths and count:
        rows = zip(*timeline_cols[:8], strict=True)
        values = materialized.rows_for(paths, rows, [ev.message for ev in events])
    con.execute("BEGIN TRANSACTION")
    try:
        if changes.mappings:
            # Mappings are tuples in table order, less the write time.
            cols = list(zip(*changes.mappings, strict=True))
            insert(con, "identity_ids", [*cols, [now] * len(changes.mappings)])
        if profile_rows:
            existing = [row[1] for row in profile_rows if row[1] not in changes.created]
            if existing:
                con.execute("DELETE FROM identity_touched")
                insert(con, "identity_touched", [existing])
                con.execute(
                    "DELETE FROM identity_profiles WHERE pk IN (SELECT pk FROM identity_touched)"
                )
            insert_rows(con, "identity_profiles", profile_rows)
        if moved:
            # Profiles merged earlier into the ones merged now follow them.
            con.execute("DELETE FROM identity_moved")
            insert(con, "identity_moved", [list(moved), list(moved.values())])
            con.execute(
                "UPDATE identity_profiles SET canonical = m.into_pk FROM identity_moved m "
                "WHERE identity_profiles.canonical = m.from_pk"
            )
            insert_rows(
                con,
                "identity_merges",
                [
                    (m.space, m.collection, m.from_pk, m.into_pk, m.message_id, m.source_id,
                     m.timestamp, m.reason, now)
                    for m in changes.merges
                ],
            )  # fmt: skip
        insert_rows(con, "identity_links", changes.links)
        if count:
            insert(con, "identity_events", timeline_cols)
        insert_rows(con, "identity_event_values", values)
        con.execute("COMMIT")
    except Exception:
        con.execute("ROLLBACK")
        raise
    return count
