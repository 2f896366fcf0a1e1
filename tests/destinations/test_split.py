"""A vendor answering 413 Payload Too Large to a batch: halves, recursively, down to one
event; an event refused alone goes to the dead letters. Nothing lost, nothing twice."""

from __future__ import annotations

from collections import Counter, defaultdict
from typing import Any

from tests.destinations.conftest import create_webhook, send, settle
from tests.destinations.receiver import Received, Receiver, Reply
from tests.server import ShoalServer

LIMIT = 6000
"""Bytes the receiver accepts in one body."""


def _sized(prefix: str, count: int, huge: set[int]) -> list[dict[str, Any]]:
    """Events of mixed sizes; the ``huge`` ones are larger than LIMIT on their own."""
    return [
        {
            "type": "track",
            "event": "Document Saved",
            "userId": f"{prefix}-u{i % 7}",
            "messageId": f"{prefix}-{i}",
            "properties": {
                "seq": i // 7,
                "pad": "x" * (9000 if i in huge else 40 + (i * 37) % 900),
            },
        }
        for i in range(count)
    ]


def _refuse_large(request: Received) -> Reply:
    if len(request.body) > LIMIT:
        return 413, {"error": "Payload Too Large"}
    return 200, {"ok": True}


def test_413_splits_batches_and_dead_letters_single_refusals(server: ShoalServer) -> None:
    huge = {5, 77, 140}
    messages = _sized("sp", 200, huge)
    with Receiver(_refuse_large) as receiver:
        source = server.create_source("splitting")
        dest = create_webhook(
            server, "split hook", receiver.url, source["id"], settings={"batch_size": 100}
        )
        send(server, source["write_key"], messages)
        final = settle(server, dest["id"], len(messages))
        delivered = receiver.messages()
        refused = [r for r in receiver.seen if r not in receiver.accepted()]
    counts = Counter(str(m["messageId"]) for m in delivered)
    assert counts == {f"sp-{i}": 1 for i in range(200) if i not in huge}
    assert final["delivered"] == 197 and final["failed"] == 3
    # Batches were refused and split (not sent one by one from the start) ...
    assert refused and all(r.json()["batch"] for r in refused)
    assert max(len(r.json()["batch"]) for r in receiver.accepted()) > 1
    # ... and every profile's events still arrived in order.
    by_user: dict[str, list[int]] = defaultdict(list)
    for message in delivered:
        by_user[message["userId"]].append(message["properties"]["seq"])
    assert all(seqs == sorted(seqs) for seqs in by_user.values())
    letters = server.api("GET", f"/destinations/{dest['id']}/dead-letters").json()
    assert sorted(d["message_id"] for d in letters["dead_letters"]) == sorted(
        f"sp-{i}" for i in huge
    )
    for letter in letters["dead_letters"]:
        assert letter["status"] == 413 and "too large" in letter["reason"]
        assert "Payload Too Large" in letter["response"]


def test_dead_lettered_413s_replay_once_the_vendor_takes_them(server: ShoalServer) -> None:
    state = {"limit": LIMIT}

    def respond(request: Received) -> Reply:
        return (413, "too big") if len(request.body) > state["limit"] else (200, {"ok": True})

    messages = _sized("rp", 30, {3, 4})
    with Receiver(respond) as receiver:
        source = server.create_source("split replay")
        dest = create_webhook(server, "split replay hook", receiver.url, source["id"])
        send(server, source["write_key"], messages)
        settle(server, dest["id"], len(messages))
        assert len(receiver.messages()) == 28
        state["limit"] = 10**6
        replay = server.api("POST", f"/destinations/{dest['id']}/replay", json={})
        assert replay.status_code == 202, replay.text
        everything = receiver.wait_for(30)
    assert Counter(str(m["messageId"]) for m in everything) == {f"rp-{i}": 1 for i in range(30)}
