"""FQL filters end to end: the API takes and shows them, bad FQL is a 400, and a
destination filtered with FQL receives only the matching events at a real receiver."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

from tests.destinations.conftest import create_webhook, send, settle
from tests.destinations.receiver import Receiver
from tests.server import ShoalServer

ONLY_BIG_ORDERS = '!(type = "track" and event = "Order Completed" and properties.total > 100)'


def _mixed(prefix: str, count: int) -> list[dict[str, Any]]:
    """Orders big and small, other tracks, identifies and pages."""
    out: list[dict[str, Any]] = []
    for i in range(count):
        base = {"messageId": f"{prefix}-{i}", "userId": f"{prefix}-u{i % 5}"}
        kind = i % 4
        if kind == 0:
            out.append({**base, "type": "track", "event": "Order Completed",
                        "properties": {"total": 50 + 10 * i}})  # fmt: skip
        elif kind == 1:
            out.append({**base, "type": "track", "event": "Product Viewed",
                        "properties": {"total": 500}})  # fmt: skip
        elif kind == 2:
            out.append({**base, "type": "identify", "traits": {"plan": "pro"}})
        else:
            out.append({**base, "type": "page", "name": "Home"})
    return out


def _big_order(message: dict[str, Any]) -> bool:
    # The same rule as ONLY_BIG_ORDERS, written in Python, to check the FQL against.
    return (
        message["type"] == "track"
        and message.get("event") == "Order Completed"
        and message["properties"]["total"] > 100
    )


def test_fql_filter_delivers_only_matching_events(server: ShoalServer) -> None:
    with Receiver() as receiver:
        source = server.create_source("fql e2e")
        dest = create_webhook(
            server,
            "fql hook",
            receiver.url,
            source["id"],
            filters=[
                {"title": "only big orders", "fql": ONLY_BIG_ORDERS, "actions": [{"type": "drop"}]}
            ],
        )
        (shown,) = dest["filters"]
        assert shown["fql"] == ONLY_BIG_ORDERS
        assert shown["if"]["conditions"][0]["not"]["match"] == "all"
        messages = _mixed("fq", 80)
        send(server, source["write_key"], messages)
        final = settle(server, dest["id"], len(messages))
        delivered = receiver.messages()
    expected = sorted(m["messageId"] for m in messages if _big_order(m))
    assert 0 < len(expected) < len(messages)
    assert sorted(m["messageId"] for m in delivered) == expected
    assert final["delivered"] == len(expected)
    assert final["filtered"] == len(messages) - len(expected)


def test_bad_fql_is_a_400_with_the_column(server: ShoalServer) -> None:
    source = server.create_source("fql errors")
    base = {"name": "bad fql", "type": "webhook", "settings": {"url": "http://example.com/"}}
    cases = [
        ({"filters": [{"title": "t", "fql": 'type = "track" and', "actions": [{"type": "drop"}]}]},
         "filters[0]: invalid FQL at column 19"),
        ({"filters": [{"title": "t", "if": "event == 'x'", "actions": [{"type": "drop"}]}]},
         "filters[0].if: invalid FQL at column 8"),
        ({"mappings": [{"name": "m", "action": "send", "fql": "contains(event)"}]},
         "mappings[0]: invalid FQL at column 15"),
    ]  # fmt: skip
    for extra, message in cases:
        response = server.api("POST", "/destinations", json={**base, **extra})
        assert response.status_code == 400, response.text
        assert response.json() == {"code": "invalid_fql", "message": response.json()["message"]}
        assert response.json()["message"].startswith(message), response.json()
    dest = create_webhook(server, "good fql", "http://example.com/", source["id"])
    patched = server.api(
        "PATCH",
        f"/destinations/{dest['id']}",
        json={"filters": [{"title": "t", "fql": "(a = 1", "actions": [{"type": "drop"}]}]},
    )
    assert patched.status_code == 400 and "column 7" in patched.json()["message"]
    # A tree and a text that disagree are a plain validation error (422), not a crash.
    disagree = {"title": "t", "if": "a = 1", "fql": "a = 2", "actions": [{"type": "drop"}]}
    response = server.api("PATCH", f"/destinations/{dest['id']}", json={"filters": [disagree]})
    assert response.status_code == 422 and "different conditions" in response.json()["message"]
    # What the API shows can be sent back as it is.
    ok = {"title": "t", "fql": "userId != null", "actions": [{"type": "drop"}]}
    first = server.api("PATCH", f"/destinations/{dest['id']}", json={"filters": [ok]})
    assert first.status_code == 200, first.text
    again = server.api(
        "PATCH", f"/destinations/{dest['id']}", json={"filters": first.json()["filters"]}
    )
    assert again.status_code == 200 and again.json()["filters"] == first.json()["filters"]


def test_cli_adds_lists_and_removes_fql_filters(server: ShoalServer) -> None:
    env = {**os.environ, "SHOAL_URL": server.url, "SHOAL_TOKEN": server.token, "COLUMNS": "200"}

    def shoal(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "shoal", *args], env=env, capture_output=True, text=True,
            timeout=60,
        )  # fmt: skip

    with Receiver() as receiver:
        source = server.create_source("fql cli")
        dest = create_webhook(server, "fql cli hook", receiver.url, source["id"])
        added = shoal(
            "destinations", "filter", "add", "fql cli hook", "--title", "tracks only",
            "--only", "type = 'track'", "--json",
        )  # fmt: skip
        assert added.returncode == 0, added.stderr
        (flt,) = json.loads(added.stdout)["filters"]
        assert flt["fql"] == 'type != "track"'  # "only tracks" drops the rest
        sampled = shoal(
            "destination", "filter", "add", dest["id"], "--title", "half of pages",
            "--if", "type = 'page'", "--action", "sample", "--percent", "0.5",
        )  # fmt: skip
        assert sampled.returncode == 0, sampled.stderr
        assert "filter 'half of pages': sample if type = \"page\"" in sampled.stdout
        listed = shoal("destination", "filter", "list", "fql cli hook")
        assert "tracks only" in listed.stdout and 'type != "track"' in listed.stdout
        bad = shoal("destination", "filter", "add", "fql cli hook", "--title", "x", "--if", "a ==")
        assert bad.returncode == 1
        assert "invalid FQL at column 4" in bad.stderr and "   ^" in bad.stderr
        removed = shoal(
            "destination", "filter", "remove", "fql cli hook", "half of pages", "--json"
        )
        assert removed.returncode == 0, removed.stderr
        assert [f["title"] for f in json.loads(removed.stdout)["filters"]] == ["tracks only"]
        messages = [
            {"type": "page", "name": "Home", "userId": "c1", "messageId": "cli-page"},
            {"type": "track", "event": "Signed Up", "userId": "c1", "messageId": "cli-track"},
        ]
        send(server, source["write_key"], messages)
        settle(server, dest["id"], 2)
        assert [m["messageId"] for m in receiver.messages()] == ["cli-track"]
    checked = shoal("destination", "fql", "match(event, 'Order*') and !(x in [1, 2])", "--json")
    assert checked.returncode == 0, checked.stderr
    assert json.loads(checked.stdout)["if"]["conditions"] == [
        {"field": "event", "op": "starts_with", "value": "Order"},
        {"field": "x", "op": "not_in", "value": [1, 2]},
    ]
