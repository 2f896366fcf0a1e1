"""Audience changes reach event destinations: a webhook connected to the space's Audiences
source receives ``Audience Entered``/``Audience Exited`` and the identify setting the
audience's trait, exactly once each, as Segment Engage sends them."""

from __future__ import annotations

import time
from typing import Any

from tests.destinations.conftest import create_webhook, send
from tests.destinations.receiver import Receiver
from tests.server import ShoalServer


def _audiences_source(server: ShoalServer) -> dict[str, Any]:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        sources = server.api("GET", "/sources?environment=dev").json()["sources"]
        found = [s for s in sources if s["type"] == "audiences"]
        if found:
            return found[0]
        time.sleep(0.1)
    raise AssertionError("the Audiences source was never created")


def test_audience_changes_reach_a_webhook_once(server: ShoalServer) -> None:
    source = server.create_source("audience events app")
    key = source["write_key"]
    send(server, key, [
        {"type": "track", "userId": f"ae-{i}", "event": "Plan Chosen",
         "properties": {"plan": "pro" if i < 3 else "free"}}
        for i in range(5)
    ])  # fmt: skip
    server.wait_for_events(source["id"], 5)
    # The first audience creates the space's Audiences source; a destination connected to
    # it receives the changes from then on.
    nobody = server.api("POST", "/audiences", json={"name": "Nobody", "definition": "nobody"})
    assert nobody.status_code == 201, nobody.text
    with Receiver() as receiver:
        create_webhook(server, "audience hook", receiver.url, _audiences_source(server)["id"])
        created = server.api("POST", "/audiences", json={
            "name": "Chose pro",
            "definition": "event('Plan Chosen').where(property('plan') = 'pro')",
        })  # fmt: skip
        assert created.status_code == 201, created.text
        entered = receiver.wait_for(6)  # an identify and a track per member
        tracks = [m for m in entered if m["type"] == "track"]
        assert sorted(m["userId"] for m in tracks) == ["ae-0", "ae-1", "ae-2"]
        assert {m["event"] for m in tracks} == {"Audience Entered"}
        assert all(m["properties"]["audience_key"] == "chose_pro" for m in tracks)
        identifies = [m for m in entered if m["type"] == "identify"]
        assert all(m["traits"] == {"chose_pro": True} for m in identifies)

        # ae-0 changes plan: with a redefined audience it exits, in real time.
        response = server.api(
            "PATCH", "/audiences/chose_pro",
            json={"definition": "event('Plan Chosen').where(property('plan') = 'pro') "
                                "and not event('Plan Cancelled')"},
        )  # fmt: skip
        assert response.status_code == 200, response.text
        deadline = time.monotonic() + 20
        while server.api("GET", "/audiences/chose_pro").json()["version"] != 2 or (
            server.api("GET", "/audiences/chose_pro").json()["status"] != "ready"
        ):
            assert time.monotonic() < deadline
            time.sleep(0.1)
        send(server, key, [{"type": "track", "userId": "ae-0", "event": "Plan Cancelled"}])
        everything = receiver.wait_for(8)
        exits = [m for m in everything if m.get("event") == "Audience Exited"]
        assert [m["userId"] for m in exits] == ["ae-0"]
        assert exits[0]["properties"]["chose_pro"] is False
        # Exactly once: no messageId twice, even with the pipeline's replays and retries.
        ids = [m["messageId"] for m in everything]
        assert len(ids) == len(set(ids)) == 8
