"""The audience schema inside the embedded DuckDB store, and the audience tables kept there.

The logical tables of ``schema.py`` are relations over what identity resolution writes:
canonical profiles, their timelines (events of merged profiles follow their canonical
profile), computed traits and user-account links. Objects (products, deals, tickets, …)
live in ``audience_objects``; their events are the users' events that carry the object's id
in a property (``product_id`` for products, set per collection). Memberships, history,
sizes, static lists and tags are the audiences' own tables.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field

import sqlglot
from sqlglot import exp

from shoal.audiences.model import ACCOUNTS, USERS
from shoal.audiences.schema import Schema

MIGRATIONS: list[tuple[int, str]] = [
    (
        1,
        """
        CREATE TABLE audience_members (
            space VARCHAR NOT NULL, audience VARCHAR NOT NULL, profile_id BIGINT NOT NULL,
            entered_at BIGINT NOT NULL, version INTEGER NOT NULL
        );
        CREATE INDEX audience_members_key ON audience_members (audience);
        CREATE TABLE audience_history (
            space VARCHAR NOT NULL, audience VARCHAR NOT NULL, profile_id BIGINT NOT NULL,
            change VARCHAR NOT NULL, changed_at BIGINT NOT NULL, version INTEGER NOT NULL,
            seq BIGINT NOT NULL
        );
        CREATE INDEX audience_history_profile ON audience_history (profile_id);
        CREATE INDEX audience_history_seq ON audience_history (seq);
        CREATE TABLE audience_sizes (
            space VARCHAR NOT NULL, audience VARCHAR NOT NULL, measured_at BIGINT NOT NULL,
            size BIGINT NOT NULL, entered BIGINT NOT NULL, exited BIGINT NOT NULL,
            version INTEGER NOT NULL, full_refresh BOOLEAN NOT NULL
        );
        CREATE TABLE audience_lists (
            space VARCHAR NOT NULL, collection VARCHAR NOT NULL, kind VARCHAR NOT NULL,
            name VARCHAR NOT NULL, profile_id BIGINT NOT NULL, added_at BIGINT NOT NULL
        );
        CREATE TABLE audience_objects (
            space VARCHAR NOT NULL, collection VARCHAR NOT NULL, object_id VARCHAR NOT NULL,
            pk BIGINT NOT NULL, traits VARCHAR NOT NULL, created_at BIGINT NOT NULL,
            updated_at BIGINT NOT NULL
        );
        CREATE INDEX audience_objects_pk ON audience_objects (pk)
        """,
    ),
]

_PROFILES = (
    "SELECT space, collection, pk AS profile_id, traits FROM identity_profiles WHERE canonical = pk"
)
_EVENTS = (
    "SELECT e.space, p.collection, p.canonical AS profile_id, e.type, e.event, e.timestamp, "
    "e.message FROM identity_events AS e JOIN identity_profiles AS p ON p.pk = e.pk"
)
_VALUES = (
    "SELECT v.space, p.collection, p.canonical AS profile_id, v.type, v.event, v.timestamp, "
    "v.path, v.value FROM identity_event_values AS v JOIN identity_profiles AS p ON p.pk = v.pk"
)
_COMPUTED = "SELECT space, pk AS profile_id, key, value FROM identity_computed"
_LINKS = (
    "SELECT DISTINCT l.space, u.canonical AS user_id, a.canonical AS account_id "
    "FROM identity_links AS l JOIN identity_profiles AS u ON u.pk = l.user_pk "
    "JOIN identity_profiles AS a ON a.pk = l.account_pk"
)
_MEMBERS = "SELECT space, audience, profile_id FROM audience_members"
_LISTS = "SELECT space, collection, kind, name, profile_id FROM audience_lists"
_OBJECTS = "SELECT space, collection, pk AS profile_id, traits FROM audience_objects"
_OBJECT_EVENTS = (
    "SELECT e.space, o.collection, o.pk AS profile_id, e.type, e.event, e.timestamp, e.message "
    "FROM identity_events AS e JOIN audience_objects AS o ON o.space = e.space "
    "AND o.collection = :coll AND o.object_id = json_extract_string(e.message, :path)"
)


def _parse(sql: str) -> exp.Expr:
    return sqlglot.parse_one(sql, dialect="duckdb")


@dataclass(frozen=True)
class EmbeddedSchema(Schema):
    """The audience schema over the embedded store; ``objects`` maps an object collection
    to the event property that carries its id."""

    objects: dict[str, str] = field(default_factory=dict)

    def relation(self, name: str, alias: str, collection: str) -> exp.Expr:
        if collection not in (USERS, ACCOUNTS) and name in ("shoal_profiles", "shoal_events"):
            query = (
                _parse(_OBJECTS) if name == "shoal_profiles" else self._object_events(collection)
            )
            return exp.Subquery(this=query, alias=exp.TableAlias(this=exp.to_identifier(alias)))
        return super().relation(name, alias, collection)

    def materialized_path(self, collection: str, part: str, name: str) -> str | None:
        # Objects' events are found through a property, not a profile: no values for them.
        if collection not in (USERS, ACCOUNTS):
            return None
        return super().materialized_path(collection, part, name)

    def _object_events(self, collection: str) -> exp.Expr:
        prop = self.objects.get(collection, f"{collection.rstrip('s')}_id")
        path = "$.properties." + '"' + prop.replace("\\", "\\\\").replace('"', '\\"') + '"'
        return exp.replace_placeholders(_parse(_OBJECT_EVENTS), coll=collection, path=path)


@functools.cache
def _relations() -> dict[str, exp.Expr]:
    # Parsed once: ``Schema.relation`` hands out copies.
    return {
        "shoal_profiles": _parse(_PROFILES),
        "shoal_events": _parse(_EVENTS),
        "shoal_event_values": _parse(_VALUES),
        "shoal_computed": _parse(_COMPUTED),
        "shoal_links": _parse(_LINKS),
        "shoal_memberships": _parse(_MEMBERS),
        "shoal_lists": _parse(_LISTS),
    }


def embedded_schema(
    objects: dict[str, str] | None = None, materialized: frozenset[str] = frozenset()
) -> EmbeddedSchema:
    """The schema compiled audiences use on the embedded store; ``materialized`` are the
    space's event paths whose values are complete in ``identity_event_values``."""
    return EmbeddedSchema(
        relations=_relations(),
        event_json={
            "properties": ("message", ("properties",)),
            "context": ("message", ("context",)),
        },
        trait_pairs=True,
        materialized=materialized,
        objects=dict(objects or {}),
    )


# A real-time pass evaluates every real-time audience of a space for the profiles a round
# touched: their events and profile rows are copied once into temporary tables of the
# pass's cursor, so each audience's query reads a few rows instead of the whole store.
REALTIME_SETUP = (
    "CREATE OR REPLACE TEMP TABLE realtime_events AS SELECT e.space, p.collection, "
    "p.canonical AS profile_id, e.type, e.event, e.timestamp, e.message "
    "FROM identity_events AS e JOIN identity_profiles AS p ON p.pk = e.pk "
    "WHERE p.canonical IN (SELECT profile_id FROM realtime_only)",
    "CREATE OR REPLACE TEMP TABLE realtime_profiles AS SELECT space, collection, "
    "pk AS profile_id, traits FROM identity_profiles "
    "WHERE canonical = pk AND pk IN (SELECT profile_id FROM realtime_only)",
    "CREATE OR REPLACE TEMP TABLE realtime_values AS SELECT v.space, p.collection, "
    "p.canonical AS profile_id, v.type, v.event, v.timestamp, v.path, v.value "
    "FROM identity_event_values AS v JOIN identity_profiles AS p ON p.pk = v.pk "
    "WHERE p.canonical IN (SELECT profile_id FROM realtime_only)",
)


def realtime_schema(materialized: frozenset[str] = frozenset()) -> EmbeddedSchema:
    """The embedded schema of a real-time pass (see ``REALTIME_SETUP``)."""
    base = embedded_schema()
    relations = {
        **base.relations,
        "shoal_events": exp.to_table("realtime_events"),
        "shoal_profiles": exp.to_table("realtime_profiles"),
        "shoal_event_values": exp.to_table("realtime_values"),
    }
    return EmbeddedSchema(
        relations=relations,
        event_json=base.event_json,
        trait_pairs=True,
        materialized=materialized,
        objects={},
    )
