"""Audience test data in plain Python, and loaders that put it into real databases.

A ``Dataset`` is the six tables of the audience schema (``shoal.audiences.schema``) for one
space, as Python values: the reference evaluator (``reference.py``) reads it directly and
the loaders below write it, unchanged, into DuckDB, PostgreSQL and ClickHouse (chDB), so
the compiled SQL and the evaluator see exactly the same rows.

Conventions the loaders follow (and the evaluator relies on):

* JSON columns hold JSON *text* (msgspec's encoding, UTF-8, no ``\\u`` escapes); a Python
  ``None`` for a whole JSON column (traits, properties, context, computed value) is SQL
  ``NULL``, while ``None`` inside a document is JSON ``null``. Both mean "missing".
* ``foreign`` is another space's rows loaded into the same tables: a compiled query must not
  see them, so generated data puts the same profile ids there with other values.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, NamedTuple, Protocol

import msgspec

from shoal.audiences.model import parse_date
from shoal.audiences.schema import TABLES, ddl
from shoal.identity.materialized import keys_of, value_at

NOW_MS = parse_date("2025-06-15T00:00:00Z")
"""The fixed "now" of the audience tests (a midnight, so day windows land on dates)."""

PG_DSN = "postgresql://postgres@127.0.0.1:5432/test"


class Profile(NamedTuple):
    """A row of ``shoal_profiles``; ``traits`` None is a NULL column."""

    collection: str
    profile_id: int
    traits: dict[str, Any] | None


class EventRow(NamedTuple):
    """A row of ``shoal_events``; ``event`` is the track name or page/screen name."""

    collection: str
    profile_id: int
    type: str
    event: str | None
    timestamp: int
    properties: dict[str, Any] | None
    context: dict[str, Any] | None


class ComputedRow(NamedTuple):
    """A row of ``shoal_computed``; ``value`` None is a NULL column."""

    profile_id: int
    key: str
    value: Any


class Link(NamedTuple):
    """A row of ``shoal_links``: the user belongs to the account."""

    user_id: int
    account_id: int


class Membership(NamedTuple):
    """A row of ``shoal_memberships``: a current member of another audience."""

    audience: str
    profile_id: int


class ListEntry(NamedTuple):
    """A row of ``shoal_lists``: ``kind`` is ``list`` or ``tag``."""

    collection: str
    kind: str
    name: str
    profile_id: int


@dataclass(frozen=True)
class Dataset:
    """The audience tables of one space (plus, optionally, another space's rows)."""

    space: str = "main"
    profiles: list[Profile] = field(default_factory=list)
    events: list[EventRow] = field(default_factory=list)
    computed: list[ComputedRow] = field(default_factory=list)
    links: list[Link] = field(default_factory=list)
    memberships: list[Membership] = field(default_factory=list)
    lists: list[ListEntry] = field(default_factory=list)
    foreign: Dataset | None = None
    materialized: frozenset[str] = frozenset()
    """Event paths whose values ``shoal_event_values`` holds, as the identity stage
    writes them (``identity.materialized.value_at``)."""


_ENCODER = msgspec.json.Encoder()


def dumps(value: Any) -> str | None:
    """JSON text of a document; None stays None (a SQL NULL, not the text ``null``)."""
    return None if value is None else _ENCODER.encode(value).decode()


def table_rows(data: Dataset) -> dict[str, list[tuple[Any, ...]]]:
    """Every table's rows in schema column order, JSON dumped, foreign spaces included."""
    out: dict[str, list[tuple[Any, ...]]] = {name: [] for name in TABLES}
    current: Dataset | None = data
    while current is not None:
        s = current.space
        out["shoal_profiles"] += [
            (s, p.collection, p.profile_id, dumps(p.traits)) for p in current.profiles
        ]
        out["shoal_events"] += [
            (s, e.collection, e.profile_id, e.type, e.event, e.timestamp,
             dumps(e.properties), dumps(e.context))
            for e in current.events
        ]  # fmt: skip
        out["shoal_computed"] += [
            (s, c.profile_id, c.key, dumps(c.value)) for c in current.computed
        ]
        out["shoal_links"] += [(s, x.user_id, x.account_id) for x in current.links]
        out["shoal_memberships"] += [(s, m.audience, m.profile_id) for m in current.memberships]
        out["shoal_lists"] += [
            (s, x.collection, x.kind, x.name, x.profile_id) for x in current.lists
        ]
        for e in current.events:
            message = {"properties": e.properties, "context": e.context}
            for path in sorted(data.materialized):
                value = value_at(message, keys_of(path))
                if value is not None:
                    out["shoal_event_values"].append(
                        (s, e.collection, e.profile_id, e.type, e.event, e.timestamp, path, value)
                    )
        current = current.foreign
    return out


def _literal(value: Any) -> str:
    """A standard SQL literal (DuckDB: no backslash escapes, quotes doubled)."""
    if value is None:
        return "NULL"
    if isinstance(value, int):
        return str(value)
    return "'" + str(value).replace("'", "''") + "'"


class Backend(Protocol):
    """A real database holding the audience tables, reloaded for every example."""

    dialect: str

    def load(self, data: Dataset) -> None:
        """Replace the tables' contents with ``data``."""

    def rows(self, sql: str) -> list[int]:
        """The first column of every row ``sql`` returns, as ints (duplicates kept)."""


class DuckDBBackend:
    """An in-memory DuckDB database."""

    dialect = "duckdb"

    def __init__(self) -> None:
        import duckdb

        self.conn = duckdb.connect(":memory:")
        for statement in ddl("duckdb"):
            self.conn.execute(statement)

    def load(self, data: Dataset) -> None:
        # One literal multi-row INSERT per table: DuckDB's executemany costs ~1 ms a row.
        for name, rows in table_rows(data).items():
            self.conn.execute(f"DELETE FROM {name}")
            if rows:
                values = ", ".join("(" + ", ".join(map(_literal, row)) + ")" for row in rows)
                self.conn.execute(f"INSERT INTO {name} VALUES {values}")

    def rows(self, sql: str) -> list[int]:
        return [int(r[0]) for r in self.conn.execute(sql).fetchall()]

    def close(self) -> None:
        self.conn.close()


class PostgresBackend:
    """A fresh schema in the test PostgreSQL, dropped on close; the session runs in UTC so
    any timestamp arithmetic the SQL does is not shifted by the server's zone."""

    dialect = "postgres"

    def __init__(self, dsn: str = PG_DSN) -> None:
        import psycopg

        self.schema = f"shoal_aud_{uuid.uuid4().hex[:10]}"
        self.conn = psycopg.connect(dsn, autocommit=True)
        self.conn.execute(f"CREATE SCHEMA {self.schema}")
        self.conn.execute(f"SET search_path TO {self.schema}")
        self.conn.execute("SET TimeZone TO 'UTC'")
        for statement in ddl("postgres"):
            self.conn.execute(statement)

    def load(self, data: Dataset) -> None:
        # DELETE, not TRUNCATE: on tables this small it is several times faster.
        with self.conn.transaction(), self.conn.cursor() as cur:
            for name, rows in table_rows(data).items():
                cur.execute(f"DELETE FROM {name}")
                if rows:
                    marks = ", ".join(["%s"] * len(TABLES[name]))
                    cur.executemany(f"INSERT INTO {name} VALUES ({marks})", rows)

    def rows(self, sql: str) -> list[int]:
        # autocommit: a failing query leaves no aborted transaction behind for the next one.
        return [int(r[0]) for r in self.conn.execute(sql).fetchall()]

    def close(self) -> None:
        try:
            self.conn.execute(f"DROP SCHEMA IF EXISTS {self.schema} CASCADE")
        finally:
            self.conn.close()


class ChdbBackend:
    """A database of its own in a chDB (embedded ClickHouse) session, dropped on close; rows
    are inserted as ``JSONEachRow`` so no ClickHouse string escaping is hand-written here."""

    dialect = "clickhouse"

    def __init__(self) -> None:
        from chdb import session

        self.db = f"shoal_aud_{uuid.uuid4().hex[:10]}"
        make: Any = session.Session  # chDB has no type hints
        self.session: Any = make()
        self.session.query(f"CREATE DATABASE {self.db}")
        self.session.query(f"USE {self.db}")
        self.filled: dict[str, bool] = {}
        for statement in ddl("clickhouse"):
            # The schema's columns and types as given; the Memory engine instead of MergeTree
            # only because each MergeTree insert writes a part (~30 ms against ~7 ms), and
            # the engine does not change what a query returns.
            self.session.query(
                statement.replace("ENGINE = MergeTree ORDER BY tuple()", "ENGINE = Memory")
            )

    def load(self, data: Dataset) -> None:
        # Every statement costs a few ms in chDB: skip tables that are and stay empty.
        for name, rows in table_rows(data).items():
            if self.filled.pop(name, False):
                self.session.query(f"TRUNCATE TABLE {name}")
            if rows:
                self.filled[name] = True
                columns = [c for c, _ in TABLES[name]]
                lines = "\n".join(
                    _ENCODER.encode(dict(zip(columns, row, strict=True))).decode() for row in rows
                )
                self.session.query(f"INSERT INTO {name} FORMAT JSONEachRow\n{lines}\n")

    def rows(self, sql: str) -> list[int]:
        out = str(self.session.query(sql, "TabSeparated"))
        return [int(line.split("\t")[0]) for line in out.splitlines() if line]

    def close(self) -> None:
        try:
            self.session.query(f"DROP DATABASE IF EXISTS {self.db}")
        finally:
            self.session.close()


@contextmanager
def backend(dialect: str) -> Iterator[DuckDBBackend | PostgresBackend | ChdbBackend]:
    """A loaded-on-demand backend of the dialect, cleaned up afterwards."""
    made: DuckDBBackend | PostgresBackend | ChdbBackend
    if dialect == "duckdb":
        made = DuckDBBackend()
    elif dialect == "postgres":
        made = PostgresBackend()
    elif dialect == "clickhouse":
        made = ChdbBackend()
    else:
        raise ValueError(f"no test backend for {dialect!r}")
    try:
        yield made
    finally:
        made.close()
