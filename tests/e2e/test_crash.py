"""Crash safety: an acknowledged event survives ``kill -9`` and is stored exactly once.

A client thread posts ``/v1/batch`` requests of 100 uniquely identified events while the
server is killed with SIGKILL mid-stream and restarted on the same data dir (twice in a
row). Proves: every messageId the server answered 200 for is in the store after restart;
no messageId is ever stored twice (neither from redelivery after the crash nor from
re-sending acknowledged batches, which the pipeline counts as duplicates); the same server
address accepts events again right after the restart.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.server import ShoalServer

pytestmark = pytest.mark.slow

BATCH = 100
SEND_SECONDS = 2.0
DRAIN_TIMEOUT = 30.0
JSON = {"Content-Type": "application/json"}


@dataclass
class Ledger:
    """What the client sent, and which batches the server acknowledged (answered 200)."""

    acked: list[tuple[bytes, list[str]]] = field(default_factory=list)
    sent_ids: set[str] = field(default_factory=set)
    failures: int = 0

    def acked_ids(self) -> list[str]:
        return [m for _, ids in self.acked for m in ids]


class Sender:
    """Posts batches on a thread until stopped; a connection error means not acknowledged."""

    def __init__(self, url: str, write_key: str, ledger: Ledger) -> None:
        self.url = url
        self.write_key = write_key
        self.ledger = ledger
        self.halt = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True, name="crash-sender")

    @staticmethod
    def body() -> tuple[bytes, list[str]]:
        ids = [f"crash-{uuid.uuid4().hex}" for _ in range(BATCH)]
        batch = [
            {
                "type": "track",
                "event": "Crash Test",
                "userId": f"u{i}",
                "messageId": m,
                "properties": {"i": i},
            }
            for i, m in enumerate(ids)
        ]
        return json.dumps({"batch": batch}).encode(), ids

    def run(self) -> None:
        with httpx.Client(base_url=self.url, auth=(self.write_key, ""), timeout=5) as client:
            while not self.halt.is_set():
                content, ids = self.body()
                self.ledger.sent_ids.update(ids)
                try:
                    response = client.post("/v1/batch", content=content, headers=JSON)
                except httpx.HTTPError:
                    self.ledger.failures += 1
                    time.sleep(0.02)
                    continue
                if response.status_code == 200:
                    self.ledger.acked.append((content, ids))
                else:
                    self.ledger.failures += 1

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.halt.set()
        self.thread.join(timeout=30)
        assert not self.thread.is_alive()


def status(server: ShoalServer) -> dict[str, Any]:
    response = server.api("GET", "/status")
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


def drained(server: ShoalServer, at_least: int, duplicates: int = 0) -> dict[str, Any]:
    """Wait until the queue is empty, the store holds ``at_least`` events and the pipeline
    has counted ``duplicates`` duplicates (since the server started)."""
    deadline = time.monotonic() + DRAIN_TIMEOUT
    current = status(server)
    while time.monotonic() < deadline:
        current = status(server)
        if (
            current["queue"]["lag"] == 0
            and current["store"]["events"] >= at_least
            and current["pipeline"]["duplicates"] >= duplicates
        ):
            return current
        time.sleep(0.1)
    raise AssertionError(f"not drained within {DRAIN_TIMEOUT}s (need {at_least}): {current}")


def stored_message_ids(server: ShoalServer, source_id: str) -> list[str]:
    """Every stored messageId of the source, paging the debugger feed back with before_id."""
    ids: list[str] = []
    before: int | None = None
    while True:
        params = {} if before is None else {"before_id": before}
        page = server.events(source_id, limit=1000, **params)
        if not page:
            return ids
        ids.extend(event["messageId"] for event in page)
        assert all(event["status"] == "accepted" for event in page)
        before = page[-1]["id"]


def assert_exactly_once(server: ShoalServer, source_id: str, ledger: Ledger) -> list[str]:
    """Every acknowledged messageId is stored, and no messageId is stored twice."""
    acked = ledger.acked_ids()
    drained(server, len(acked))
    stored = stored_message_ids(server, source_id)
    twice = [m for m, n in Counter(stored).items() if n > 1]
    assert twice == [], f"{len(twice)} messageIds stored more than once, e.g. {twice[:3]}"
    missing = set(acked) - set(stored)
    assert not missing, f"{len(missing)} of {len(acked)} acknowledged events lost after kill -9"
    assert set(stored) <= ledger.sent_ids
    return stored


def crash_round(server: ShoalServer, source: dict[str, Any], ledger: Ledger) -> None:
    """Send, kill -9 mid-stream, restart while the client keeps sending, then stop it."""
    sender = Sender(server.url, source["write_key"], ledger)
    acked_at_start, failures_at_start = len(ledger.acked), ledger.failures
    sender.start()
    time.sleep(SEND_SECONDS)
    acked_before_kill = len(ledger.acked)
    assert acked_before_kill > acked_at_start, server.log()
    server.kill()
    time.sleep(0.3)
    assert sender.thread.is_alive()
    assert ledger.failures > failures_at_start, "the kill did not interrupt the client"
    server.start()
    deadline = time.monotonic() + 10
    while len(ledger.acked) == acked_before_kill and time.monotonic() < deadline:
        time.sleep(0.05)
    sender.stop()
    assert len(ledger.acked) > acked_before_kill, "no batch was accepted after the restart"


def test_acknowledged_events_survive_kill_9_exactly_once(fresh_dir: Path) -> None:
    server = ShoalServer(fresh_dir).start()
    try:
        source = server.create_source("crash")
        ledger = Ledger()
        for _ in range(2):
            acked_before = len(ledger.acked)
            crash_round(server, source, ledger)
            stored = assert_exactly_once(server, source["id"], ledger)

            # Re-sending acknowledged batches is answered 200, counted as duplicates by the
            # pipeline, and stores nothing.
            duplicates = status(server)["pipeline"]["duplicates"]
            this_round = ledger.acked[acked_before:]
            resent = this_round[:: max(1, len(this_round) // 5)][:5]
            for content, _ in resent:
                response = httpx.post(
                    server.url + "/v1/batch",
                    content=content,
                    auth=(source["write_key"], ""),
                    headers=JSON,
                    timeout=10,
                )
                assert response.status_code == 200, response.text
            after = drained(server, len(stored), duplicates + BATCH * len(resent))
            assert after["pipeline"]["duplicates"] - duplicates == BATCH * len(resent)
            # Nothing new was stored, so the full check above still holds.
            assert after["store"]["events"] == len(stored)
    finally:
        server.kill()
