"""The tables audiences are evaluated over, and how each backend provides them.

Compiled audiences read six logical tables (the "audience schema"). A warehouse (PostgreSQL,
ClickHouse, BigQuery, Snowflake) holds them as real tables with the DDL below; the embedded
DuckDB store provides them as relations over the identity tables (``embedded.py``), so the
same compiled query runs on both. Times are epoch milliseconds (UTC) everywhere, which keeps
date arithmetic out of the dialects; JSON columns hold text.

* ``shoal_profiles(space, collection, profile_id, traits)``: users, accounts and objects.
* ``shoal_events(space, collection, profile_id, type, event, timestamp, properties, context)``:
  ``event`` is the track event's name or the page/screen name.
* ``shoal_computed(space, profile_id, key, value)``: computed-trait values as JSON.
* ``shoal_links(space, user_id, account_id)``: which users belong to which accounts.
* ``shoal_memberships(space, audience, profile_id)``: current members of each audience key.
* ``shoal_lists(space, collection, kind, name, profile_id)``: static lists (``kind`` list)
  and tags (``kind`` tag).
* ``shoal_event_values(space, collection, profile_id, type, event, timestamp, path, value)``:
  optional, materialized event values: for the paths listed in ``Schema.materialized``
  (``properties.revenue``, ``context.consent.categoryPreferences.marketing``), one row per
  event carrying a non-null value there, the value as JSON. Reading these few narrow rows
  instead of every event's JSON is what makes aggregates and consent fast; a backend without
  them leaves ``materialized`` empty and the same definitions read the JSON.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlglot import exp

JSON = "json"
TABLES: dict[str, list[tuple[str, str]]] = {
    "shoal_profiles": [
        ("space", "text"), ("collection", "text"), ("profile_id", "bigint"), ("traits", JSON),
    ],
    "shoal_events": [
        ("space", "text"), ("collection", "text"), ("profile_id", "bigint"), ("type", "text"),
        ("event", "text"), ("timestamp", "bigint"), ("properties", JSON), ("context", JSON),
    ],
    "shoal_computed": [
        ("space", "text"), ("profile_id", "bigint"), ("key", "text"), ("value", JSON),
    ],
    "shoal_links": [("space", "text"), ("user_id", "bigint"), ("account_id", "bigint")],
    "shoal_memberships": [("space", "text"), ("audience", "text"), ("profile_id", "bigint")],
    "shoal_lists": [
        ("space", "text"), ("collection", "text"), ("kind", "text"), ("name", "text"),
        ("profile_id", "bigint"),
    ],
    "shoal_event_values": [
        ("space", "text"), ("collection", "text"), ("profile_id", "bigint"), ("type", "text"),
        ("event", "text"), ("timestamp", "bigint"), ("path", "text"), ("value", JSON),
    ],
}  # fmt: skip
_NULLABLE = {"event", "traits", "properties", "context", "value"}


def ddl(dialect: str) -> list[str]:
    """``CREATE TABLE`` statements of the audience schema for a warehouse dialect."""
    out: list[str] = []
    for name, columns in TABLES.items():
        defs = []
        for column, kind in columns:
            text_json = kind == JSON and dialect not in ("postgres", "duckdb")
            dtype = exp.DataType.build("text" if text_json else kind)
            if dialect == "clickhouse" and column in _NULLABLE:
                dtype = exp.DataType.build(f"Nullable({'String' if kind != 'bigint' else 'Int64'})",
                                           dialect="clickhouse")  # fmt: skip
            defs.append(exp.ColumnDef(this=exp.to_identifier(column), kind=dtype))
        create = exp.Create(
            this=exp.Schema(this=exp.to_table(name), expressions=defs), kind="TABLE"
        )
        sql = create.sql(dialect)
        if dialect == "clickhouse":
            sql += " ENGINE = MergeTree ORDER BY tuple()"
        out.append(sql)
    return out


@dataclass(frozen=True)
class Schema:
    """Where the audience schema's tables are, and the shape of their JSON.

    ``relations`` maps a logical table name to what a query reads instead (a table or a
    subquery); ``event_json`` names the column and key prefix of event properties and
    context (the embedded store reads them out of the whole message). Backends whose
    relations depend on the collection (objects) override ``relation``.
    """

    relations: dict[str, exp.Expr] = field(default_factory=dict)
    event_json: dict[str, tuple[str, tuple[str, ...]]] = field(
        default_factory=lambda: {"properties": ("properties", ()), "context": ("context", ())}
    )
    trait_pairs: bool = False
    """Traits are stored as ``{key: [value, set_at]}`` (the embedded identity tables)."""
    materialized: frozenset[str] = frozenset()
    """Event paths (``properties.revenue``) whose values ``shoal_event_values`` holds."""

    def materialized_path(self, collection: str, part: str, name: str) -> str | None:
        """The ``shoal_event_values`` path of an event property or context value of
        ``collection``'s events, when that table holds it."""
        del collection
        path = f"{part}.{name}"
        return path if path in self.materialized else None

    def relation(self, name: str, alias: str, collection: str) -> exp.Expr:
        """The table or subquery to read a logical table from, under ``alias``."""
        del collection
        found = self.relations.get(name)
        if found is None:
            return exp.to_table(name).as_(alias)
        if isinstance(found, exp.Table):
            return found.copy().as_(alias)
        return exp.Subquery(this=found.copy(), alias=exp.TableAlias(this=exp.to_identifier(alias)))

    def trait_path(self, path: list[str | int]) -> list[str | int]:
        """The JSON path of a (nested) trait inside the traits column."""
        return [path[0], 0, *path[1:]] if self.trait_pairs and path else path


WAREHOUSE = Schema()
"""The audience schema as plain tables named as above (warehouses and tests)."""
