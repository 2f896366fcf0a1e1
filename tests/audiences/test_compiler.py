"""Golden SQL per dialect: one definition compiles to each engine's SQL, which must stay as
reviewed (``SHOAL_UPDATE_GOLDEN=1`` rewrites the files after a deliberate change) and parse
back in its own dialect. That the SQL gives the right members is checked by executing it
(test_agreement.py); these catch unintended changes and dialect syntax errors, including
for BigQuery and Snowflake, which cannot run here."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import sqlglot

from shoal.audiences.compiler import compile_changes, compile_explain, compile_members
from shoal.audiences.dialects import DIALECTS
from shoal.audiences.embedded import embedded_schema
from shoal.audiences.model import from_json
from shoal.audiences.text import parse

GOLDEN = Path(__file__).parent / "golden"
NOW = 1_767_225_600_000  # 2026-01-01T00:00:00Z
DEFINITIONS = {
    "reference": (
        "users",
        "event('Order Completed').count() > 1 and page().within(40 days).count() = 0 "
        "and event('Order Completed').sum('revenue') > 800 and consent('marketing')",
    ),
    "cart_abandonment": (
        "users",
        "event('Product Added').within(7 days) then not event('Order Completed') within 1 hour",
    ),
    "account": (
        "users",
        "account(trait('plan') in ['enterprise', 'business'] and trait('seats') >= 50) "
        "and not bucket(0, 10)",
    ),
    "accounts_with_admins": (
        "accounts",
        "users(trait('role') = 'admin').count() >= 2 or trait('name') starts with 'Acme'",
    ),
    "traits": (
        "users",
        "trait('signup_date') within last 30 days and trait('email') ends with '@example.com' "
        "and computed('lifetime_revenue') between 100 and 500 and trait('nick') matches '^j'",
    ),
    "products": (
        "products",
        "trait('category') = 'shoes' and event('Product Viewed').within(7 days).count() >= 100",
    ),
}


def _check(name: str, sql: str) -> None:
    path = GOLDEN / name
    if os.environ.get("SHOAL_UPDATE_GOLDEN") or not path.exists():
        path.write_text(sql + "\n")
    assert sql + "\n" == path.read_text(), f"{name} changed; review and SHOAL_UPDATE_GOLDEN=1"


@pytest.mark.parametrize("dialect", sorted(DIALECTS))
@pytest.mark.parametrize("name", sorted(DEFINITIONS))
def test_golden_sql(name: str, dialect: str) -> None:
    collection, text = DEFINITIONS[name]
    sql = compile_members(parse(text), collection, "ws:dev", NOW, dialect)
    _check(f"{name}.{dialect}.sql", sql)
    # The SQL is valid in its own dialect (sqlglot reads it back as that dialect).
    assert sqlglot.parse_one(sql, read=dialect) is not None


def test_embedded_schema_and_changes_query() -> None:
    collection, text = DEFINITIONS["reference"]
    sql = compile_changes(
        parse(text), collection, "ws:dev", NOW, "duckdb", "high_value", embedded_schema()
    )
    _check("reference.changes.embedded.sql", sql)


def test_json_and_text_compile_alike() -> None:
    tree = from_json(
        {"kind": "event", "event": "Order Completed", "measure": "sum", "property": "revenue",
         "op": "gt", "value": 800}
    )  # fmt: skip
    text = "event('Order Completed').sum('revenue') > 800"
    assert compile_members(tree, "users", "s", NOW, "duckdb") == compile_members(
        parse(text), "users", "s", NOW, "duckdb"
    )


def test_values_are_literals_not_sql() -> None:
    hostile = "x'; DROP TABLE shoal_events; --"
    sql = compile_members(parse(f"trait('name') = \"{hostile}\""), "users", "s", NOW, "duckdb")
    assert "'x''; DROP TABLE shoal_events; --'" in sql
    assert len(sqlglot.parse(sql, read="duckdb")) == 1


def test_materialized_values_replace_the_json() -> None:
    """With the revenue and consent paths materialized, the embedded reference segment reads
    them from the value rows; the JSON message is not parsed at all."""
    collection, text = DEFINITIONS["reference"]
    paths = frozenset({"properties.revenue", "context.consent.categoryPreferences.marketing"})
    sql = compile_members(
        parse(text), collection, "ws:dev", NOW, "duckdb", embedded_schema(materialized=paths)
    )
    _check("reference.materialized.embedded.sql", sql)
    assert "identity_event_values" in sql and "message ->" not in sql
    # Objects' events have no value rows: their definitions keep reading the JSON.
    products = compile_members(
        parse("event('Product Viewed').sum('price') > 5"), "products", "ws:dev", NOW, "duckdb",
        embedded_schema({"products": "product_id"}, frozenset({"properties.price"})),
    )  # fmt: skip
    assert "identity_event_values" not in products


def test_candidates_restrict_only_the_costly_leaves() -> None:
    """The cheap conjuncts form the candidates; costly leaves scan candidates' events;
    a root without both kinds, and explain, compile without candidates."""
    both = compile_members(parse(DEFINITIONS["reference"][1]), "users", "s", NOW, "duckdb")
    assert both.count("IN (SELECT profile_id FROM cand") == 3  # revenue, consent, profiles
    cheap = "event('Order Completed').count() > 1 and trait('plan') = 'pro'"
    assert "cand" not in compile_members(parse(cheap), "users", "s", NOW, "duckdb")
    costly = "event('Order Completed').sum('revenue') > 800 and consent('marketing')"
    assert "cand" not in compile_members(parse(costly), "users", "s", NOW, "duckdb")
    explain, _ = compile_explain(parse(DEFINITIONS["reference"][1]), "users", "s", NOW, "duckdb", 7)
    assert "cand" not in explain
