"""The debugger feed: newest first, filters, paging, and the live stream."""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import httpx

from tests.inprocess import App, basic
from tests.server import ShoalServer


def send(app: App, key: str, *messages: dict[str, Any]) -> None:
    body = {"batch": list(messages)}
    assert app.client.post("/v1/batch", json=body, headers=basic(key)).status_code == 200


def test_feed_is_newest_first_with_status_and_paging(app: App) -> None:
    source = app.source("feed")
    for i in range(5):
        send(app, source["write_key"], {"type": "track", "event": f"E{i}", "userId": "u"})
    events = app.events(source["id"], 5)
    assert [e["event"] for e in events] == ["E4", "E3", "E2", "E1", "E0"]
    page = app.client.get(
        f"/api/v1/sources/{source['id']}/events",
        params={"limit": 2, "before_id": events[1]["id"]},
        headers=app.auth,
    ).json()["events"]
    assert [e["event"] for e in page] == ["E2", "E1"]
    assert all(e["status"] == "accepted" and e["violations"] == [] for e in events)


def test_feed_filters_by_status_type_and_event(app: App) -> None:
    source = app.source("filters")
    send(
        app,
        source["write_key"],
        {"type": "track", "event": "Keep", "userId": "u"},
        {"type": "track", "userId": "u"},
        {"type": "page", "anonymousId": "a", "name": "Home"},
    )
    app.events(source["id"], 3)

    def fetch(**params: Any) -> list[dict[str, Any]]:
        url = f"/api/v1/sources/{source['id']}/events"
        found: list[dict[str, Any]] = app.client.get(url, params=params, headers=app.auth).json()[
            "events"
        ]
        return found

    rejected = fetch(status="rejected")
    assert len(rejected) == 1 and rejected[0]["reason"]["code"] == "track_missing_event"
    assert [e["name"] for e in fetch(type="page")] == ["Home"]
    assert [e["event"] for e in fetch(event="Keep")] == ["Keep"]
    bad = app.client.get(
        f"/api/v1/sources/{source['id']}/events", params={"limit": 0}, headers=app.auth
    )
    assert bad.status_code == 422


def test_live_stream_delivers_events_as_they_arrive(shoal: ShoalServer) -> None:
    """Against a real server: SSE over a real socket, including the backlog."""
    source = shoal.create_source("stream")
    auth = {"Authorization": f"Basic {_b64(source['write_key'])}"}
    httpx.post(shoal.url + "/v1/track", json={"event": "Before", "userId": "u"}, headers=auth)
    shoal.wait_for_events(source["id"], 1)
    received: list[dict[str, Any]] = []

    def listen() -> None:
        url = f"{shoal.url}/api/v1/sources/{source['id']}/events/stream?backlog=1"
        headers = {"Authorization": f"Bearer {shoal.token}"}
        with httpx.stream("GET", url, headers=headers, timeout=20) as response:
            assert response.headers["content-type"].startswith("text/event-stream")
            for line in response.iter_lines():
                if line.startswith("data:"):
                    received.append(json.loads(line[5:]))
                    if len(received) == 3:
                        return

    listener = threading.Thread(target=listen, daemon=True)
    listener.start()
    time.sleep(0.5)
    httpx.post(shoal.url + "/v1/track", json={"event": "Live 1", "userId": "u"}, headers=auth)
    httpx.post(shoal.url + "/v1/track", json={"userId": "u"}, headers=auth)
    listener.join(20)
    assert [e.get("event") for e in received] == ["Before", "Live 1", None]
    assert received[2]["status"] == "rejected"
    assert received[1]["id"] > received[0]["id"]


def _b64(key: str) -> str:
    import base64

    return base64.b64encode(f"{key}:".encode()).decode()
