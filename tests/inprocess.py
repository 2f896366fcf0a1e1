"""An in-process Shoal app (real SQLite queue and DuckDB store in a temp dir)."""

from __future__ import annotations

import base64
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from starlette.testclient import TestClient

from shoal.runtime import Runtime
from shoal.settings import Settings
from shoal.web.app import create_app

TOKEN = "edge-test-token"


class App:
    """A TestClient plus the helpers edge tests need."""

    def __init__(self, client: TestClient) -> None:
        self.client = client
        self.auth = {"Authorization": f"Bearer {TOKEN}"}

    def source(self, name: str, **extra: Any) -> dict[str, Any]:
        body = {"name": name, "type": "server", "environment": "dev", **extra}
        response = self.client.post("/api/v1/sources", json=body, headers=self.auth)
        assert response.status_code == 201, response.text
        source: dict[str, Any] = response.json()
        return source

    def events(self, source_id: str, count: int, timeout: float = 10.0) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        found: list[dict[str, Any]] = []
        while time.monotonic() < deadline:
            response = self.client.get(
                f"/api/v1/sources/{source_id}/events", params={"limit": 1000}, headers=self.auth
            )
            found = response.json()["events"]
            if len(found) >= count:
                return found
            time.sleep(0.05)
        raise AssertionError(f"expected {count} events, found {len(found)}")


def basic(write_key: str, colon: bool = True) -> dict[str, str]:
    user = f"{write_key}:" if colon else write_key
    return {"Authorization": "Basic " + base64.b64encode(user.encode()).decode()}


@contextmanager
def running_app(data: Path) -> Iterator[App]:
    """Start the app's lifespan on ``data`` and yield a client for it."""
    runtime = Runtime(Settings(data_dir=data, admin_token=TOKEN))
    with TestClient(create_app(runtime), raise_server_exceptions=False) as client:
        yield App(client)
