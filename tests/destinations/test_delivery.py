"""Delivery guarantees against real receivers on loopback and a real ``shoal serve``."""

from __future__ import annotations

import random
import threading
import time
from collections import Counter, defaultdict

import pytest

from tests.destinations.conftest import create_webhook, metrics, send, tracks
from tests.destinations.receiver import Received, Receiver, Reply
from tests.server import ShoalServer


def _flaky(seed: int, rate: float) -> tuple[Receiver, threading.Lock]:
    rng = random.Random(seed)
    lock = threading.Lock()

    def respond(_request: Received) -> Reply:
        with lock:
            roll = rng.random()
        if roll < rate / 3:
            return 500, {"error": "internal"}
        if roll < 2 * rate / 3:
            return 503, "unavailable"
        if roll < rate:
            return 429, {"error": "slow down"}
        return 200, {"ok": True}

    return Receiver(respond), lock


def _assert_in_order(messages: list[dict[str, object]]) -> None:
    by_user: dict[object, list[int]] = defaultdict(list)
    for message in messages:
        props = message["properties"]
        assert isinstance(props, dict)
        by_user[message["userId"]].append(int(props["seq"]))
    for user, seqs in by_user.items():
        assert seqs == sorted(seqs), f"{user}'s events arrived out of order"


def test_flaky_then_down_receiver_gets_every_event_once(server: ShoalServer) -> None:
    receiver, _ = _flaky(seed=7, rate=0.3)
    with receiver:
        source = server.create_source("flaky")
        dest = create_webhook(
            server, "flaky hook", receiver.url + "/in", source["id"], settings={"batch_size": 50}
        )
        send(server, source["write_key"], tracks("a", 1000))
        receiver.wait_for(1000, timeout=60)
        # Now the vendor is down (connections refused) while more events arrive.
        receiver.down()
        send(server, source["write_key"], tracks("b", 1000))
        time.sleep(2)
        during = metrics(server, dest["id"])
        assert during["backlog"] > 0 and during["last_error"]
        receiver.up()
        messages = receiver.wait_for(2000, timeout=60)
        time.sleep(1)  # anything sent twice would arrive now
        messages = receiver.messages()
    counts = Counter(str(m["messageId"]) for m in messages)
    assert len(counts) == 2000
    assert [mid for mid, n in counts.items() if n > 1] == []
    _assert_in_order(messages)
    final = metrics(server, dest["id"])
    assert final["delivered"] == 2000 and final["failed"] == 0 and final["backlog"] == 0
    assert final["retries"] > 0


def test_down_destination_does_not_slow_ingestion_or_others(server: ShoalServer) -> None:
    hanging = Receiver()
    hanging.delay = 3.0  # longer than the 2 s request timeout
    with Receiver() as healthy, hanging:
        refused = Receiver()  # never started: connections are refused
        source = server.create_source("isolation")
        create_webhook(server, "hangs", hanging.url, source["id"], settings={"batch": False})
        create_webhook(server, "refuses", refused.url, source["id"])
        good = create_webhook(server, "healthy", healthy.url, source["id"])
        started = time.monotonic()
        slowest = send(server, source["write_key"], tracks("iso", 2000))
        # Stored in write order: once the last one is there, all 2000 are.
        while server.events(source["id"], limit=1)[0]["messageId"] != "iso-1999":
            assert time.monotonic() - started < 15, "ingestion stalled"
            time.sleep(0.05)
        stored_after = time.monotonic() - started
        healthy.wait_for(2000, timeout=15)
        delivered_after = time.monotonic() - started
    assert slowest < 1.0, f"a /v1/batch request took {slowest:.2f}s"
    assert stored_after < 10 and delivered_after < 15
    assert metrics(server, good["id"])["delivered"] == 2000


def test_refused_events_are_dead_lettered_and_replayed(server: ShoalServer) -> None:
    state = {"status": 400}

    def respond(_request: Received) -> Reply:
        return state["status"], {"error": "bad request: field x"}

    with Receiver(respond) as receiver:
        source = server.create_source("refusing")
        dest = create_webhook(server, "refused hook", receiver.url, source["id"])
        send(server, source["write_key"], tracks("dl", 20))
        deadline = time.monotonic() + 15
        while metrics(server, dest["id"])["failed"] < 20 and time.monotonic() < deadline:
            time.sleep(0.1)
        letters = server.api("GET", f"/destinations/{dest['id']}/dead-letters").json()
        assert letters["total"] == 20
        first = letters["dead_letters"][0]
        assert first["status"] == 400 and "bad request" in first["response"]
        assert first["attempts"] == 1  # 400 is not retried
        state["status"] = 200
        replay = server.api("POST", f"/destinations/{dest['id']}/replay", json={})
        assert replay.status_code == 202, replay.text
        messages = receiver.wait_for(20, timeout=15)
    assert sorted(str(m["messageId"]) for m in messages) == sorted(f"dl-{i}" for i in range(20))
    again = server.api("POST", f"/destinations/{dest['id']}/replay", json={})
    assert again.status_code == 422 and again.json()["code"] == "invalid_request"


def test_range_replay_resends_stored_events(server: ShoalServer) -> None:
    with Receiver() as receiver:
        source = server.create_source("ranged")
        dest = create_webhook(server, "ranged hook", receiver.url, source["id"])
        send(server, source["write_key"], tracks("rg", 30))
        receiver.wait_for(30)
        body = {"from": "2000-01-01T00:00:00Z", "to": "2100-01-01T00:00:00Z"}
        job = server.api("POST", f"/destinations/{dest['id']}/replay", json=body)
        assert job.status_code == 202, job.text
        assert job.json()["kind"] == "range"
        messages = receiver.wait_for(60)
    assert Counter(str(m["messageId"]) for m in messages) == {f"rg-{i}": 2 for i in range(30)}
    jobs = server.api("GET", f"/destinations/{dest['id']}/replays").json()["replays"]
    assert jobs[0]["status"] == "done" and jobs[0]["sent"] == 30


@pytest.mark.slow
def test_restart_mid_delivery_sends_nothing_twice(tmp_path_factory: pytest.TempPathFactory) -> None:
    from tests.destinations.conftest import DESTINATION_ENV

    srv = ShoalServer(tmp_path_factory.mktemp("restart") / "data", env=DESTINATION_ENV).start()
    slow = Receiver()
    slow.delay = 0.05
    try:
        with slow:
            source = srv.create_source("restart")
            create_webhook(
                srv,
                "slow hook",
                slow.url,
                source["id"],
                settings={"batch_size": 10},
                max_in_flight=2,
            )
            send(srv, source["write_key"], tracks("rs", 1500))
            time.sleep(1.0)
            assert 0 < len(slow.messages()) < 1500
            srv.stop()
            srv.start()
            messages = slow.wait_for(1500, timeout=60)
            time.sleep(1)
            messages = slow.messages()
    finally:
        srv.stop()
    counts = Counter(str(m["messageId"]) for m in messages)
    assert len(counts) == 1500 and max(counts.values()) == 1
