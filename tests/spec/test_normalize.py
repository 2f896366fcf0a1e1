"""Normalization follows Segment's rules: ids, clock skew, batch context, rejections."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest

from shoal.spec.envelope import NO_VALUE, Envelope
from shoal.spec.normalize import REJECT_REASONS, normalize
from shoal.spec.timestamps import parse_ms

RECEIVED = parse_ms("2026-03-01T12:00:10Z") or 0


def envelope(message: Any, **fields: Any) -> Envelope:
    raw = message if isinstance(message, bytes) else msgspec.json.encode(message)
    base: dict[str, Any] = {
        "source_id": "src_1",
        "workspace_id": "ws_1",
        "environment": "dev",
        "received_at": RECEIVED,
        "request_id": "req",
        "index": 3,
        "message": msgspec.Raw(raw),
    }
    for key in ("context", "integrations"):
        if key in fields:
            fields[key] = msgspec.Raw(msgspec.json.encode(fields[key]))
    return Envelope(**{**base, **fields})


def test_track_is_accepted_with_its_columns() -> None:
    ev = normalize(envelope({"type": "track", "event": "Signed Up", "userId": 42}))
    assert ev.status == "accepted" and ev.reason is None
    assert (ev.type, ev.event, ev.user_id) == ("track", "Signed Up", "42")
    assert ev.message["userId"] == "42", "numeric ids are stringified like the SDKs do"


def test_missing_message_id_gets_a_stable_one() -> None:
    first = normalize(envelope({"type": "track", "event": "E", "userId": "u"}))
    again = normalize(envelope({"type": "track", "event": "E", "userId": "u"}))
    assert first.message_id == again.message_id == "req-3"


def test_given_message_id_is_kept() -> None:
    ev = normalize(envelope({"type": "track", "event": "E", "userId": "u", "messageId": "m-1"}))
    assert ev.message_id == "m-1"


def test_clock_skew_is_corrected_from_sent_at() -> None:
    # The device clock is 1 hour fast: it says it sent at 13:00:10, we received at 12:00:10.
    ev = normalize(
        envelope(
            {"type": "track", "event": "E", "userId": "u", "timestamp": "2026-03-01T13:00:00Z"},
            sent_at="2026-03-01T13:00:10Z",
        )
    )
    assert ev.message["originalTimestamp"] == "2026-03-01T13:00:00.000Z"
    assert ev.message["timestamp"] == "2026-03-01T12:00:00.000Z"
    assert ev.message["receivedAt"] == "2026-03-01T12:00:10.000Z"
    assert ev.message["sentAt"] == "2026-03-01T13:00:10Z"


def test_historical_timestamp_without_sent_at_is_kept() -> None:
    ev = normalize(
        envelope(
            {"type": "track", "event": "E", "userId": "u", "timestamp": "2020-01-01T00:00:00Z"}
        )
    )
    assert ev.message["timestamp"] == "2020-01-01T00:00:00.000Z"


def test_without_timestamps_the_receipt_time_is_used() -> None:
    ev = normalize(envelope({"type": "track", "event": "E", "userId": "u", "timestamp": "soon"}))
    assert ev.timestamp == RECEIVED
    assert "originalTimestamp" not in ev.message


def test_batch_context_and_integrations_are_defaults() -> None:
    ev = normalize(
        envelope(
            {"type": "track", "event": "E", "userId": "u", "context": {"locale": "fr-FR"}},
            context={"locale": "en-US", "library": {"name": "analytics-python"}},
            integrations={"All": False},
        )
    )
    assert ev.message["context"] == {"locale": "fr-FR", "library": {"name": "analytics-python"}}
    assert ev.message["integrations"] == {"All": False}
    assert ev.message["channel"] == "server"


def test_client_ip_fills_context_ip_for_client_libraries_only() -> None:
    browser = normalize(
        envelope(
            {"type": "page", "anonymousId": "a", "context": {"library": {"name": "analytics.js"}}},
            ip="203.0.113.9",
        )
    )
    server = normalize(
        envelope(
            {"type": "track", "event": "E", "userId": "u"},
            context={"library": {"name": "analytics-node"}},
            ip="203.0.113.9",
        )
    )
    assert browser.message["context"]["ip"] == "203.0.113.9"
    assert browser.message["channel"] == "browser"
    assert "ip" not in server.message["context"]


def test_path_type_wins_and_write_key_is_not_stored() -> None:
    ev = normalize(
        envelope({"type": "identify", "userId": "u", "writeKey": "secret"}, path_type="group")
    )
    assert ev.type == "group" and "writeKey" not in ev.message
    assert ev.reason == "group_missing_group_id"


@pytest.mark.parametrize(
    ("message", "reason"),
    [
        ({"type": "track", "event": "E"}, "no_user_anon_id"),
        ({"type": "track", "userId": "u"}, "track_missing_event"),
        ({"type": "track", "userId": "u", "event": "  "}, "track_missing_event"),
        ({"type": "group", "userId": "u"}, "group_missing_group_id"),
        ({"type": "alias", "userId": "u"}, "alias_missing_ids"),
        ({"userId": "u"}, "missing_type"),
        ({"type": "purchase", "userId": "u"}, "invalid_type"),
        ({"type": "track", "userId": "u", "event": "E", "properties": [1]}, "invalid_properties"),
        ({"type": "identify", "userId": "u", "traits": "x"}, "invalid_traits"),
        ({"type": "track", "userId": "u", "event": "E", "context": 1}, "invalid_context"),
        (
            {"type": "track", "userId": "u", "event": "E", "messageId": "m" * 101},
            "message_id_too_long",
        ),
        ([1, 2], "not_an_object"),
        ("text", "not_an_object"),
    ],
)
def test_unusable_messages_are_rejected_with_a_reason(message: Any, reason: str) -> None:
    ev = normalize(envelope(message))
    assert (ev.status, ev.reason) == ("rejected", reason)
    assert reason in REJECT_REASONS


def test_non_objects_are_kept_whole() -> None:
    ev = normalize(envelope([1, 2]))
    assert ev.message["value"] == [1, 2]


def test_edge_rejection_is_kept() -> None:
    ev = normalize(
        envelope({"type": "track", "event": "E", "userId": "u"}, reject="event_too_large")
    )
    assert (ev.status, ev.reason) == ("rejected", "event_too_large")


def test_alias_with_both_ids_and_page_name_column() -> None:
    alias = normalize(envelope({"type": "alias", "userId": "u", "previousId": "a"}))
    page = normalize(envelope({"type": "page", "anonymousId": "a", "name": "Pricing"}))
    assert alias.status == "accepted"
    assert (page.status, page.event) == ("accepted", "Pricing")


def test_group_id_column_comes_from_group_calls_or_context() -> None:
    group = normalize(envelope({"type": "group", "userId": "u", "groupId": 7}))
    track = normalize(
        envelope({"type": "track", "event": "E", "userId": "u", "context": {"groupId": "g"}})
    )
    assert group.group_id == "7" and track.group_id == "g"


def test_unparseable_raw_bytes_are_rejected_not_raised() -> None:
    ev = normalize(envelope(b"{not json"))
    assert ev.reason == "not_an_object"
    assert msgspec.Raw(b"null") == NO_VALUE
