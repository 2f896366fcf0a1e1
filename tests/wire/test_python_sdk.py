"""The official ``segment-analytics-python`` SDK works against a real Shoal unchanged.

Proves, over the SDK's own batching consumer (plain and gzip bodies): every call type
(identify, track, page, screen, group, alias) is stored once, accepted, with the fields the
SDK sent and the messageId it generated; a queue bigger than the SDK's upload size goes out
as several requests and arrives exactly once; an unknown write key reaches the SDK's
``on_error`` as a 401 and stores nothing.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from segment.analytics import Client, consumer  # type: ignore[import-untyped]
from segment.analytics.request import APIError  # type: ignore[import-untyped]

from tests.server import ShoalServer

pytestmark = pytest.mark.sdk

Message = dict[str, Any]
Errors = list[tuple[Exception, list[Message]]]
LIBRARY = "analytics-python"
CUSTOM_TIMESTAMP = datetime(2024, 3, 4, 5, 6, 7, 890000, tzinfo=UTC)


def parse_time(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


@pytest.fixture
def posts(monkeypatch: pytest.MonkeyPatch) -> list[list[Message]]:
    """The batch of every HTTP request the SDK's consumer makes (the real post still runs)."""
    sent: list[list[Message]] = []
    real_post: Callable[..., Any] = consumer.post

    def spy(*args: Any, **kwargs: Any) -> Any:
        sent.append(list(kwargs["batch"]))
        return real_post(*args, **kwargs)

    monkeypatch.setattr(consumer, "post", spy)
    return sent


@pytest.fixture
def errors() -> Errors:
    return []


@pytest.fixture
def make_client(shoal: ShoalServer, errors: Errors) -> Iterator[Callable[..., Any]]:
    """Build SDK clients that report failures into ``errors``; all are shut down after."""
    clients: list[Any] = []

    def build(write_key: str, **options: Any) -> Any:
        client = Client(
            write_key=write_key,
            host=shoal.url,
            sync_mode=False,
            max_retries=1,
            on_error=lambda exc, batch: errors.append((exc, batch)),
            **options,
        )
        clients.append(client)
        return client

    yield build
    for client in clients:
        client.shutdown()


def stored_by_message_id(events: list[Message]) -> dict[str, Message]:
    """Index the feed by messageId, failing on any messageId stored twice."""
    found: dict[str, Message] = {}
    for event in events:
        assert event["messageId"] not in found, f"stored twice: {event['messageId']}"
        found[event["messageId"]] = event
    return found


def assert_stored_as_sent(stored: Message, sent: Message) -> None:
    """What every stored message must keep of what the SDK sent."""
    assert stored["status"] == "accepted", stored["reason"]
    assert stored["reason"] is None
    assert stored["type"] == sent["type"]
    assert stored["messageId"] == sent["messageId"]
    assert stored.get("userId") == sent.get("userId")
    assert stored.get("anonymousId") == sent.get("anonymousId")
    assert stored["context"]["library"]["name"] == LIBRARY
    assert stored["context"]["library"]["version"] == sent["context"]["library"]["version"]
    assert parse_time(stored["originalTimestamp"]) == parse_time(sent["timestamp"])
    # timestamp is corrected for clock skew (receivedAt - (sentAt - originalTimestamp)),
    # which on one machine moves it by the request's latency at most.
    skew = parse_time(stored["timestamp"]) - parse_time(sent["timestamp"])
    assert timedelta(0) <= skew < timedelta(seconds=30)
    assert parse_time(stored["receivedAt"])


@pytest.mark.parametrize("gzip", [False, True], ids=["plain", "gzip"])
def test_every_call_type_is_stored_as_sent(
    shoal: ShoalServer,
    source: dict[str, Any],
    make_client: Callable[..., Any],
    errors: Errors,
    gzip: bool,
) -> None:
    client = make_client(source["write_key"], gzip=gzip)
    calls: list[tuple[bool, Message]] = [
        client.identify(
            "user-1",
            {"email": "ada@example.com", "plan": "pro", "logins": 3, "tags": ["a", "b"]},
        ),
        client.track(
            "user-1",
            "Order Completed",
            {"revenue": 42.5, "currency": "EUR", "items": [{"sku": "X1", "qty": 2}]},
            timestamp=CUSTOM_TIMESTAMP,
            integrations={"All": False, "Mixpanel": True},
            message_id=f"py-track-{source['id']}",
        ),
        client.page(
            "user-1",
            category="Docs",
            name="Getting Started",
            properties={"path": "/docs/start", "title": "Start"},
        ),
        client.screen(anonymous_id="anon-7", name="Home", properties={"variant": "b"}),
        client.group("user-1", "group-9", {"name": "Initech", "employees": 120}),
        client.alias("anon-7", "user-1"),
    ]
    client.flush()
    assert all(ok for ok, _ in calls)
    assert errors == []

    sent = {msg["messageId"]: msg for _, msg in calls}
    assert f"py-track-{source['id']}" in sent
    stored = stored_by_message_id(shoal.wait_for_events(source["id"], len(calls)))
    assert stored.keys() == sent.keys()
    for message_id, msg in sent.items():
        assert_stored_as_sent(stored[message_id], msg)

    identify, track, page, screen, group, alias = (stored[msg["messageId"]] for _, msg in calls)
    assert identify["traits"] == {
        "email": "ada@example.com",
        "plan": "pro",
        "logins": 3,
        "tags": ["a", "b"],
    }
    assert track["event"] == "Order Completed"
    assert track["properties"] == {
        "revenue": 42.5,
        "currency": "EUR",
        "items": [{"sku": "X1", "qty": 2}],
    }
    assert parse_time(track["originalTimestamp"]) == CUSTOM_TIMESTAMP
    assert track["integrations"] == {"All": False, "Mixpanel": True}
    assert page["name"] == "Getting Started"
    assert page["category"] == "Docs"
    assert page["properties"] == {"path": "/docs/start", "title": "Start"}
    assert screen["name"] == "Home"
    assert screen["anonymousId"] == "anon-7"
    assert screen.get("userId") is None
    assert screen["properties"] == {"variant": "b"}
    assert group["groupId"] == "group-9"
    assert group["traits"] == {"name": "Initech", "employees": 120}
    assert alias["previousId"] == "anon-7"
    assert alias["userId"] == "user-1"


def test_queue_larger_than_upload_size_goes_out_in_several_requests(
    shoal: ShoalServer,
    source: dict[str, Any],
    make_client: Callable[..., Any],
    errors: Errors,
    posts: list[list[Message]],
) -> None:
    upload_size = 40
    total = 130
    client = make_client(source["write_key"], upload_size=upload_size)
    sent = [client.track(f"user-{i % 7}", "Bulk", {"n": i})[1] for i in range(total)]
    client.flush()
    assert errors == []

    assert len(posts) >= 4, [len(batch) for batch in posts]
    assert all(len(batch) <= upload_size for batch in posts)
    posted_ids = [msg["messageId"] for batch in posts for msg in batch]
    assert sorted(posted_ids) == sorted(msg["messageId"] for msg in sent)

    stored = stored_by_message_id(shoal.wait_for_events(source["id"], total))
    assert len(stored) == total
    for msg in sent:
        event = stored[msg["messageId"]]
        assert_stored_as_sent(event, msg)
        assert event["event"] == "Bulk"
        assert event["properties"] == msg["properties"]


def test_unknown_write_key_reaches_on_error_and_stores_nothing(
    shoal: ShoalServer, source: dict[str, Any], make_client: Callable[..., Any], errors: Errors
) -> None:
    before = shoal.api("GET", "/status").json()["store"]["events"]
    client = make_client("no-such-write-key")
    _, msg = client.track("user-1", "Should Not Land", {"x": 1})
    client.flush()

    assert len(errors) == 1
    error, batch = errors[0]
    assert isinstance(error, APIError)
    assert error.status == 401
    assert [m["messageId"] for m in batch] == [msg["messageId"]]

    time.sleep(0.5)  # anything wrongly queued would be stored by now
    status = shoal.api("GET", "/status").json()
    assert status["queue"]["lag"] == 0
    assert status["store"]["events"] == before
    assert shoal.events(source["id"]) == []
