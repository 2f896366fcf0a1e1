"""Computed traits: per-profile values over a profile's events, kept current by the pipeline.

A definition names an event, an aggregation of one of its properties (or a count), a window
(all time or the last N days) and property filters. Values are computed in SQL over the
identity timeline (which holds the events of merged profiles too) for the profiles a round
touched, right after the round is written, and stored in ``identity_computed``.
"""

from __future__ import annotations

import re
from typing import Any, Literal

import duckdb
import msgspec
from pydantic import BaseModel, ConfigDict, Field, model_validator

_DECODE = msgspec.json.Decoder().decode
_ENCODE = msgspec.json.Encoder().encode
DAY_MS = 86_400_000

TraitType = Literal[
    "event_counter", "sum", "average", "min", "max", "first", "last",
    "most_frequent", "unique_count", "unique_list",
]  # fmt: skip
Operator = Literal[
    "equals", "not_equals", "gt", "lt", "gte", "lte", "contains", "not_contains",
    "starts_with", "ends_with", "exists", "not_exists", "one_of", "before", "after",
]  # fmt: skip
_NUMERIC = {"sum": "sum", "average": "avg", "min": "min", "max": "max"}


class PropertyFilter(BaseModel):
    """Only events whose property matches count."""

    model_config = ConfigDict(extra="forbid")

    property: str = Field(min_length=1, max_length=200)
    operator: Operator
    value: Any = None

    @model_validator(mode="after")
    def _needs_value(self) -> PropertyFilter:
        if self.operator not in ("exists", "not_exists") and self.value is None:
            raise ValueError(f"operator {self.operator!r} needs a value")
        if self.operator == "one_of" and not isinstance(self.value, list):
            raise ValueError("operator 'one_of' needs a list of values")
        return self


class ComputedTrait(BaseModel):
    """A computed-trait definition, e.g. ``order_count`` = count of Order Completed."""

    model_config = ConfigDict(extra="forbid")

    key: str = Field(pattern=r"^[a-z][a-z0-9_]{0,99}$", description="snake_case trait key")
    type: TraitType
    event: str = Field(min_length=1, max_length=200, description="Track event or page name.")
    property: str | None = Field(default=None, max_length=200)
    window_days: int | None = Field(default=None, ge=1, le=3650)
    filters: list[PropertyFilter] = Field(default_factory=list, max_length=20)
    description: str = Field(default="", max_length=2000)
    collection: Literal["users", "accounts"] = Field(
        default="users",
        description="users: over the user's events; accounts: over the events of every user "
        "linked to the account (as Segment's account-level computed traits).",
    )

    @model_validator(mode="after")
    def _needs_property(self) -> ComputedTrait:
        if self.type != "event_counter" and not self.property:
            raise ValueError(f"a {self.type} trait needs the 'property' to aggregate")
        return self


def _path(prop: str) -> str:
    return '$.properties."' + prop.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _filter_sql(flt: PropertyFilter, params: list[Any]) -> str:
    path = _path(flt.property)
    text = "json_extract_string(ev.message, ?)"
    num = f"TRY_CAST({text} AS DOUBLE)"
    op, value = flt.operator, flt.value
    if op in ("exists", "not_exists"):
        params.append(path)
        return f"json_extract(ev.message, ?) IS {'NOT ' if op == 'exists' else ''}NULL"
    if op in ("gt", "lt", "gte", "lte"):
        sign = {"gt": ">", "lt": "<", "gte": ">=", "lte": "<="}[op]
        params.extend([path, float(value)])
        return f"{num} {sign} ?"
    if op in ("before", "after"):
        params.extend([path, str(value)])
        sign = "<" if op == "before" else ">"
        return f"TRY_CAST({text} AS TIMESTAMP) {sign} TRY_CAST(? AS TIMESTAMP)"
    if op == "one_of":
        params.extend([path, [_text(v) for v in value]])
        return f"list_contains(?::VARCHAR[], {text})"
    if (
        op in ("equals", "not_equals")
        and isinstance(value, int | float)
        and not isinstance(value, bool)
    ):
        params.extend([path, float(value)])
        return f"{num} {'=' if op == 'equals' else 'IS DISTINCT FROM'} ?"
    params.extend([path, _text(value)])
    return {
        "equals": f"{text} = ?",
        "not_equals": f"{text} IS DISTINCT FROM ?",
        "contains": f"contains({text}, ?)",
        "not_contains": f"NOT contains(coalesce({text}, ''), ?)",
        "starts_with": f"starts_with({text}, ?)",
        "ends_with": f"ends_with({text}, ?)",
    }[op]


def compute_sql(
    trait: ComputedTrait, space: str, pks: list[int] | None, now_ms: int
) -> tuple[str, list[Any]]:
    """SQL returning ``(canonical_pk, value_json)`` for the given profiles (all if ``None``)."""
    params: list[Any] = [space]
    if trait.collection == "accounts":
        # Every profile merged into a user linked to the account counts for the account.
        members = (
            "SELECT DISTINCT m.pk AS member, a.canonical FROM identity_links l "
            "JOIN identity_profiles u ON u.pk = l.user_pk "
            "JOIN identity_profiles m ON m.canonical = u.canonical "
            "JOIN identity_profiles a ON a.pk = l.account_pk WHERE l.space = ?"
        )
        if pks is not None:
            members += " AND a.canonical IN (SELECT unnest(?::BIGINT[]))"
            params.append(pks)
    else:
        members = (
            "SELECT pk AS member, canonical FROM identity_profiles "
            "WHERE space = ? AND collection = 'users'"
        )
        if pks is not None:
            members += " AND canonical IN (SELECT unnest(?::BIGINT[]))"
            params.append(pks)
    value = "NULL"
    if trait.property:
        fn = "json_extract_string" if trait.type not in ("first", "last") else "json_extract"
        value = f"{fn}(ev.message, ?)"
        params.append(_path(trait.property))
    where = ["ev.space = ?", "coalesce(ev.event, ev.type) = ?"]
    params.extend([space, trait.event])
    if trait.window_days is not None:
        where.append("ev.timestamp >= ?")
        params.append(now_ms - trait.window_days * DAY_MS)
    for flt in trait.filters:
        where.append(_filter_sql(flt, params))
    base = (
        f"WITH m AS ({members}), e AS (SELECT m.canonical AS pk, ev.timestamp AS ts, ev.seq, "
        f"{value} AS v FROM identity_events ev JOIN m ON ev.pk = m.member "
        f"WHERE {' AND '.join(where)} "
        "QUALIFY row_number() OVER (PARTITION BY ev.source_id, ev.message_id ORDER BY ev.seq) = 1) "
    )
    kind = trait.type
    if kind == "event_counter":
        agg = "to_json(count(*))"
    elif kind in _NUMERIC:
        agg = f"to_json({_NUMERIC[kind]}(TRY_CAST(v AS DOUBLE)))"
    elif kind == "first":
        agg = "first(v ORDER BY ts, seq) FILTER (WHERE v IS NOT NULL)"
    elif kind == "last":
        agg = "first(v ORDER BY ts DESC, seq DESC) FILTER (WHERE v IS NOT NULL)"
    elif kind == "unique_count":
        agg = "to_json(count(DISTINCT v))"
    elif kind == "unique_list":
        agg = "to_json(list(DISTINCT v ORDER BY v) FILTER (WHERE v IS NOT NULL))"
    else:
        # Most frequent: at least two occurrences; ties go to the alphabetically first.
        return (
            base + "SELECT pk, to_json(v) FROM (SELECT pk, v, count(*) AS n FROM e "
            "WHERE v IS NOT NULL GROUP BY pk, v HAVING count(*) >= 2) "
            "QUALIFY row_number() OVER (PARTITION BY pk ORDER BY n DESC, v) = 1",
            params,
        )
    return base + f"SELECT pk, {agg}::VARCHAR FROM e GROUP BY pk", params


def compute(
    cur: duckdb.DuckDBPyConnection,
    trait: ComputedTrait,
    space: str,
    pks: list[int] | None,
    now_ms: int,
) -> dict[int, Any]:
    """Values of one trait: ``canonical pk → value`` (profiles without events omitted)."""
    sql, params = compute_sql(trait, space, pks, now_ms)
    out: dict[int, Any] = {}
    for pk, raw in cur.execute(sql, params).fetchall():
        out[pk] = None if raw is None else _DECODE(raw)
    return out


def empty_value(trait: ComputedTrait) -> Any:
    """The value of a profile without matching events (a count is 0, the rest absent)."""
    return 0 if trait.type in ("event_counter", "unique_count") else None


def encode(value: Any) -> str | None:
    """How a value is stored."""
    return None if value is None else _ENCODE(value).decode()


def snake(name: str) -> str:
    """Segment's trait key for a display name ("Order Count" → ``order_count``)."""
    return re.sub(r"[^a-z0-9]+", "_", name.strip().lower()).strip("_")
