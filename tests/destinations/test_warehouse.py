"""Warehouse destinations: DuckDB (its own file) and PostgreSQL (the local server)."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from typing import Any

import duckdb
import pytest

from tests.destinations.conftest import metrics, send
from tests.server import ShoalServer

PG_DSN = "postgresql://postgres@127.0.0.1:5432/test"


def _calls(prefix: str) -> list[dict[str, Any]]:
    return [
        {"type": "identify", "userId": "u1", "messageId": f"{prefix}-i1",
         "traits": {"email": "ada@example.com", "plan": "free"},
         "timestamp": "2025-01-01T00:00:00Z"},
        {"type": "track", "userId": "u1", "event": "Order Completed", "messageId": f"{prefix}-t1",
         "properties": {"total": 12.5}},
        {"type": "page", "anonymousId": "a9", "name": "Pricing", "messageId": f"{prefix}-p1",
         "properties": {"path": "/pricing"}},
        {"type": "identify", "userId": "u1", "messageId": f"{prefix}-i2",
         "traits": {"plan": "pro"}, "timestamp": "2025-02-01T00:00:00Z"},
    ]  # fmt: skip


def _wait_delivered(server: ShoalServer, dest_id: str, count: int) -> None:
    deadline = time.monotonic() + 20
    while metrics(server, dest_id)["delivered"] < count:
        assert time.monotonic() < deadline, json.dumps(metrics(server, dest_id))
        time.sleep(0.1)


def test_duckdb_warehouse_tables(server: ShoalServer) -> None:
    source = server.create_source("to duckdb")
    created = server.api(
        "POST",
        "/destinations",
        json={
            "name": "duck",
            "type": "warehouse_duckdb",
            "settings": {"path": "warehouse/analytics.duckdb"},
            "source_ids": [source["id"]],
        },
    )
    assert created.status_code == 201, created.text
    dest = created.json()
    send(server, source["write_key"], _calls("dk"))
    _wait_delivered(server, dest["id"], 4)
    # Disabling closes the file, so this process may open it.
    server.api("POST", f"/destinations/{dest['id']}/disable")
    with duckdb.connect(str(server.data_dir / "warehouse" / "analytics.duckdb")) as con:
        events = con.execute(
            "SELECT message_id, type, event, name FROM events ORDER BY 1"
        ).fetchall()
        assert events == [
            ("dk-p1", "page", None, "Pricing"),
            ("dk-t1", "track", "Order Completed", None),
        ]
        assert con.execute("SELECT count(*) FROM identifies").fetchone() == (2,)
        key, traits, first, last = con.execute(
            "SELECT profile_key, traits, epoch(first_seen), epoch(last_seen) FROM profiles"
        ).fetchone()
    assert key == "u1" and json.loads(traits) == {"email": "ada@example.com", "plan": "pro"}
    assert first < last
    refused = server.api(
        "POST",
        "/destinations",
        json={"name": "bad", "type": "warehouse_duckdb", "settings": {"path": "events.duckdb"}},
    )
    assert refused.status_code == 422 and "Shoal's own files" in refused.text


@pytest.fixture
def pg_schema() -> Iterator[str]:
    psycopg = pytest.importorskip("psycopg")
    schema = f"shoal_test_{uuid.uuid4().hex[:8]}"
    try:
        yield schema
    finally:
        with psycopg.connect(PG_DSN, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")


def test_postgres_warehouse_tables(server: ShoalServer, pg_schema: str) -> None:
    import psycopg

    source = server.create_source("to postgres")
    created = server.api(
        "POST",
        "/destinations",
        json={
            "name": "pg",
            "type": "warehouse_postgres",
            "settings": {"dsn": PG_DSN, "schema": pg_schema},
            "source_ids": [source["id"]],
        },
    )
    assert created.status_code == 201, created.text
    assert created.json()["secrets_set"] == ["dsn"] and "postgres@" not in created.text
    send(server, source["write_key"], _calls("pg"))
    _wait_delivered(server, created.json()["id"], 4)
    # A replay of everything must not duplicate rows (message_id keys).
    body = {"from": "2000-01-01T00:00:00Z", "to": "2100-01-01T00:00:00Z"}
    server.api("POST", f"/destinations/{created.json()['id']}/replay", json=body)
    _wait_delivered(server, created.json()["id"], 8)
    with psycopg.connect(PG_DSN) as conn:
        count = conn.execute(f"SELECT count(*) FROM {pg_schema}.events").fetchone()
        assert count == (2,)
        row = conn.execute(
            f"SELECT traits FROM {pg_schema}.profiles WHERE profile_key = 'u1'"
        ).fetchone()
    assert row == ({"email": "ada@example.com", "plan": "pro"},)
    private = server.api(
        "POST",
        "/destinations",
        json={"name": "pg2", "type": "warehouse_postgres",
              "settings": {"dsn": "postgresql://u@10.1.2.3/db"}},
    )  # fmt: skip
    assert private.status_code == 422 and "private" in private.text
