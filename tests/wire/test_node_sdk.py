"""The official ``@segment/analytics-node`` SDK works against a real Shoal unchanged.

Drives ``tests/wire/node/send.mjs`` (the pinned SDK from ``package.json``) and proves: every
call type is stored once, accepted, with the fields, messageId and timestamp the SDK sent;
the SDK's batching path (50 tracks, ``flushAt`` 20, so several requests) delivers every
event exactly once; an unknown write key is reported by the SDK as a 401 ``error`` event
and stores nothing.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.server import ShoalServer

pytestmark = pytest.mark.sdk

Message = dict[str, Any]
NODE_DIR = Path(__file__).parent / "node"
LIBRARY = "@segment/analytics-node"
NODE = shutil.which("node")


@pytest.fixture(scope="module", autouse=True)
def node_sdk() -> None:
    """Skip without node; fail (never skip) when the SDK was not installed."""
    if NODE is None:
        pytest.skip("node is not installed; the Node SDK wire tests need Node.js 20+")
    if not (NODE_DIR / "node_modules" / "@segment" / "analytics-node").is_dir():
        pytest.fail("run: npm ci --prefix tests/wire/node", pytrace=False)


def send(shoal: ShoalServer, write_key: str, calls: list[Message], **settings: Any) -> Message:
    """Run the plan through the Node SDK and return its report."""
    assert NODE is not None
    plan = {"host": shoal.url, "writeKey": write_key, "settings": settings, "calls": calls}
    done = subprocess.run(
        [NODE, str(NODE_DIR / "send.mjs")],
        input=json.dumps(plan),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    report: Message = json.loads(done.stdout)
    return report


def parse_time(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def stored_by_message_id(events: list[Message]) -> dict[str, Message]:
    """Index the feed by messageId, failing on any messageId stored twice."""
    found: dict[str, Message] = {}
    for event in events:
        assert event["messageId"] not in found, f"stored twice: {event['messageId']}"
        found[event["messageId"]] = event
    return found


def assert_common(stored: Message, kind: str, message_id: str) -> None:
    assert stored["status"] == "accepted", stored["reason"]
    assert stored["reason"] is None
    assert stored["type"] == kind
    assert stored["messageId"] == message_id
    assert stored["context"]["library"]["name"] == LIBRARY
    assert parse_time(stored["timestamp"])
    assert parse_time(stored["receivedAt"])


def test_every_call_type_is_stored_as_sent(shoal: ShoalServer, source: dict[str, Any]) -> None:
    stamp = "2024-05-06T07:08:09.123Z"
    prefix = f"node-{source['id']}"
    calls: list[Message] = [
        {
            "method": "identify",
            "params": {
                "userId": "user-1",
                "traits": {"email": "ada@example.com", "plan": "pro", "logins": 3},
                "messageId": f"{prefix}-identify",
                "timestamp": stamp,
            },
        },
        {
            "method": "track",
            "params": {
                "userId": "user-1",
                "event": "Order Completed",
                "properties": {"revenue": 42.5, "items": [{"sku": "X1", "qty": 2}]},
                "integrations": {"All": False, "Mixpanel": True},
                "messageId": f"{prefix}-track",
                "timestamp": stamp,
            },
        },
        {
            "method": "page",
            "params": {
                "anonymousId": "anon-7",
                "category": "Docs",
                "name": "Getting Started",
                "properties": {"path": "/docs/start"},
                "messageId": f"{prefix}-page",
            },
        },
        {
            "method": "screen",
            "params": {
                "userId": "user-1",
                "name": "Home",
                "properties": {"variant": "b"},
                "messageId": f"{prefix}-screen",
            },
        },
        {
            "method": "group",
            "params": {
                "userId": "user-1",
                "groupId": "group-9",
                "traits": {"name": "Initech", "employees": 120},
                "messageId": f"{prefix}-group",
            },
        },
        {
            "method": "alias",
            "params": {"userId": "user-1", "previousId": "anon-7", "messageId": f"{prefix}-alias"},
        },
    ]
    report = send(shoal, source["write_key"], calls)
    assert report["errors"] == []
    assert [c["error"] for c in report["calls"]] == [None] * len(calls)
    assert [c["messageId"] for c in report["calls"]] == [c["params"]["messageId"] for c in calls]
    assert {r["status"] for r in report["responses"]} == {200}

    stored = stored_by_message_id(shoal.wait_for_events(source["id"], len(calls)))
    assert len(stored) == len(calls)
    for call in calls:
        params = call["params"]
        event = stored[params["messageId"]]
        assert_common(event, call["method"], params["messageId"])
        assert event.get("userId") == params.get("userId")
        assert event.get("anonymousId") == params.get("anonymousId")

    identify, track, page, screen, group, alias = (
        stored[f"{prefix}-{kind}"]
        for kind in ("identify", "track", "page", "screen", "group", "alias")
    )
    assert identify["traits"] == {"email": "ada@example.com", "plan": "pro", "logins": 3}
    assert track["event"] == "Order Completed"
    assert track["properties"] == {"revenue": 42.5, "items": [{"sku": "X1", "qty": 2}]}
    assert track["integrations"] == {"All": False, "Mixpanel": True}
    for event in (identify, track):
        assert parse_time(event["originalTimestamp"]) == parse_time(stamp)
        skew = parse_time(event["timestamp"]) - parse_time(stamp)
        assert timedelta(0) <= skew < timedelta(seconds=30)
    assert page["name"] == "Getting Started"
    assert page["category"] == "Docs"
    # analytics-core copies a page's category into its properties before sending.
    assert page["properties"] == {"path": "/docs/start", "category": "Docs"}
    assert screen["name"] == "Home"
    assert screen["properties"] == {"variant": "b"}
    assert group["groupId"] == "group-9"
    assert group["traits"] == {"name": "Initech", "employees": 120}
    assert alias["previousId"] == "anon-7"


def test_batches_of_flush_at_arrive_exactly_once(
    shoal: ShoalServer, source: dict[str, Any]
) -> None:
    total, flush_at = 50, 20
    calls: list[Message] = [
        {
            "method": "track",
            "params": {"userId": f"user-{i % 5}", "event": "Bulk", "properties": {"n": i}},
        }
        for i in range(total)
    ]
    report = send(shoal, source["write_key"], calls, flushAt=flush_at)
    assert report["errors"] == []
    message_ids = [c["messageId"] for c in report["calls"]]
    assert len(set(message_ids)) == total

    batches = [r["messageIds"] for r in report["requests"]]
    assert len(batches) >= 3, [len(b) for b in batches]
    assert all(len(b) <= flush_at for b in batches)
    assert sorted(m for b in batches for m in b) == sorted(message_ids)
    assert {r["status"] for r in report["responses"]} == {200}

    stored = stored_by_message_id(shoal.wait_for_events(source["id"], total))
    assert stored.keys() == set(message_ids)
    by_n = {event["properties"]["n"]: event for event in stored.values()}
    assert sorted(by_n) == list(range(total))
    for n, event in by_n.items():
        assert_common(event, "track", message_ids[n])
        assert event["event"] == "Bulk"
        assert event["userId"] == f"user-{n % 5}"


def test_unknown_write_key_is_an_error_event(shoal: ShoalServer, source: dict[str, Any]) -> None:
    calls: list[Message] = [{"method": "track", "params": {"userId": "u", "event": "Nope"}}]
    report = send(shoal, "no-such-write-key", calls, maxRetries=0)
    assert [r["status"] for r in report["responses"]] == [401]
    assert len(report["errors"]) == 1
    assert "401" in report["errors"][0]["reason"]
    assert "401" in report["calls"][0]["error"]
    assert shoal.events(source["id"]) == []
