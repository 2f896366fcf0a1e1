"""Warehouses through dlt: a real dlt pipeline loading into a real DuckDB file from a real
server; the BigQuery, Snowflake and ClickHouse types are configured and checked, but
cannot load from here (no such services reachable)."""

from __future__ import annotations

import importlib.util
import json
import time
from collections import Counter
from typing import Any

import duckdb
import pytest

from tests.destinations.conftest import metrics, send, settle, tracks
from tests.server import ShoalServer

pytest.importorskip("dlt")


def _identifies(prefix: str, count: int) -> list[dict[str, Any]]:
    return [
        {
            "type": "identify",
            "userId": f"{prefix}-user-{i}",
            "messageId": f"{prefix}-id-{i}",
            "traits": {"plan": "pro" if i % 2 else "free", "seats": i},
        }
        for i in range(count)
    ]


def _rows(path: str, query: str) -> list[tuple[Any, ...]]:
    with duckdb.connect(path, read_only=True) as con:
        return con.execute(query).fetchall()


def _replayed(server: ShoalServer, destination_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + 60
    while True:
        jobs = server.api("GET", f"/destinations/{destination_id}/replays").json()["replays"]
        if jobs and jobs[0]["status"] == "done":
            return dict(jobs[0])
        assert time.monotonic() < deadline, jobs
        time.sleep(0.1)


def test_dlt_loads_events_and_identifies_into_duckdb_once(server: ShoalServer) -> None:
    source = server.create_source("dlt source")
    created = server.api(
        "POST",
        "/destinations",
        json={
            "name": "dlt duckdb",
            "type": "warehouse_dlt_duckdb",
            "settings": {"path": "dlt-warehouse.duckdb", "dataset": "analytics"},
            "source_ids": [source["id"]],
        },
    )
    assert created.status_code == 201, created.text
    dest = created.json()
    assert dest["category"] == "Warehouses"
    messages = tracks("dl", 30) + _identifies("dl", 10)
    send(server, source["write_key"], messages)
    final = settle(server, dest["id"], len(messages), timeout=120)
    assert final["delivered"] == 40 and final["failed"] == 0, final
    path = str(server.data_dir / "dlt-warehouse.duckdb")
    events = _rows(path, "SELECT message_id, event, properties FROM analytics.events")
    assert sorted(r[0] for r in events) == sorted(f"dl-{i}" for i in range(30))
    assert {r[1] for r in events} == {"Order Completed"}
    assert json.loads(events[0][2]).keys() == {"n", "seq", "total"}
    identifies = _rows(path, "SELECT message_id, user_id, traits FROM analytics.identifies")
    assert sorted(r[0] for r in identifies) == sorted(f"dl-id-{i}" for i in range(10))
    assert {json.loads(r[2])["plan"] for r in identifies} == {"pro", "free"}
    # Loading the same events again (a replay) merges on message_id: no duplicate rows.
    body = {"from": "2000-01-01T00:00:00Z", "to": "2100-01-01T00:00:00Z"}
    replay = server.api("POST", f"/destinations/{dest['id']}/replay", json=body)
    assert replay.status_code == 202, replay.text
    assert _replayed(server, dest["id"])["sent"] == 40
    again = _rows(path, "SELECT message_id FROM analytics.events")
    assert Counter(r[0] for r in again) == {f"dl-{i}": 1 for i in range(30)}
    assert metrics(server, dest["id"])["failed"] == 0


def test_dlt_warehouse_types_and_their_checks(server: ShoalServer) -> None:
    types = {t["name"]: t for t in server.api("GET", "/destination-types").json()["types"]}
    expected_secrets = {
        "warehouse_dlt_duckdb": [],
        "warehouse_bigquery": ["credentials_json"],
        "warehouse_snowflake": ["password"],
        "warehouse_clickhouse": ["password"],
    }
    for name, secrets in expected_secrets.items():
        assert types[name]["category"] == "Warehouses"
        assert types[name]["capabilities"]["batching"] is True
        assert types[name]["secret_settings"] == secrets

    def create(type_name: str, settings: dict[str, Any]) -> tuple[int, str]:
        body = {"name": "wh", "type": type_name, "settings": settings}
        response = server.api("POST", "/destinations", json=body)
        return response.status_code, str(response.json()["message"])

    status, message = create("warehouse_clickhouse", {"host": "10.0.0.8"})
    assert status == 422 and "private" in message
    if importlib.util.find_spec("clickhouse_connect") is None:
        # As here: a type whose dlt drivers are missing says what to install.
        status, message = create("warehouse_clickhouse", {"host": "example.com"})
        assert status == 422 and "dlt[clickhouse]" in message
    key = '{"client_email": "x"}'
    status, message = create("warehouse_bigquery", {"project_id": "p", "credentials_json": key})
    assert status == 422 and "private_key" in message
    status, message = create("warehouse_dlt_duckdb", {"path": "events.duckdb"})
    assert status == 422 and "Shoal's own files" in message
    status, message = create("warehouse_dlt_duckdb", {"path": "x.duckdb", "dataset": "a-b"})
    assert status == 422 and "dataset" in message
