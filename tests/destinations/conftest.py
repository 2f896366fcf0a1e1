"""Fixtures for destination tests: a real server that may reach loopback receivers."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.inprocess import basic
from tests.server import ShoalServer

# Loopback is allowed explicitly; backoff is short so retries happen within a test.
DESTINATION_ENV = {
    "SHOAL_DESTINATIONS_ALLOWED_NETWORKS": '["127.0.0.0/8"]',
    "SHOAL_DESTINATIONS_BACKOFF_MIN_SECONDS": "0.05",
    "SHOAL_DESTINATIONS_BACKOFF_MAX_SECONDS": "0.5",
    "SHOAL_DESTINATIONS_REQUEST_TIMEOUT_SECONDS": "2",
    "SHOAL_DESTINATIONS_POLL_SECONDS": "0.5",
}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ShoalServer]:
    """A real ``shoal serve`` whose destinations may reach 127.0.0.0/8."""
    srv = ShoalServer(tmp_path_factory.mktemp("dest") / "data", env=DESTINATION_ENV).start()
    try:
        yield srv
    finally:
        srv.stop()


def send(server: ShoalServer, write_key: str, messages: list[dict[str, Any]]) -> float:
    """POST messages to /v1/batch in batches of 100; returns the slowest request's seconds."""
    slowest = 0.0
    for start in range(0, len(messages), 100):
        began = time.monotonic()
        response = httpx.post(
            server.url + "/v1/batch",
            json={"batch": messages[start : start + 100]},
            headers=basic(write_key),
            timeout=30,
        )
        assert response.status_code == 200, response.text
        slowest = max(slowest, time.monotonic() - began)
    return slowest


def tracks(prefix: str, count: int, users: int = 10) -> list[dict[str, Any]]:
    """``count`` track calls spread over ``users`` profiles, numbered per profile."""
    return [
        {
            "type": "track",
            "event": "Order Completed",
            "userId": f"{prefix}-user-{i % users}",
            "messageId": f"{prefix}-{i}",
            "properties": {"n": i, "seq": i // users, "total": 10 + i},
        }
        for i in range(count)
    ]


def create_webhook(
    server: ShoalServer, name: str, url: str, source_id: str, **extra: Any
) -> dict[str, Any]:
    """A webhook destination connected to one source."""
    settings = {"url": url, **extra.pop("settings", {})}
    body = {"name": name, "type": "webhook", "settings": settings, "source_ids": [source_id]}
    response = server.api("POST", "/destinations", json={**body, **extra})
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


def metrics(server: ShoalServer, destination_id: str) -> dict[str, Any]:
    response = server.api("GET", f"/destinations/{destination_id}/metrics")
    assert response.status_code == 200, response.text
    data: dict[str, Any] = response.json()
    return data


def settle(
    server: ShoalServer, destination_id: str, handled: int, timeout: float = 30.0
) -> dict[str, Any]:
    """Wait until ``handled`` events were delivered, filtered out or dead-lettered (one
    payload per event), then return the metrics. Nothing more can arrive after that."""
    deadline = time.monotonic() + timeout
    while True:
        found = metrics(server, destination_id)
        if found["delivered"] + found["filtered"] + found["failed"] >= handled:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"{handled} events not handled in {timeout}s: {found}")
        time.sleep(0.05)
