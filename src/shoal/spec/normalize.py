"""Turn a received message into the message as stored, the way Segment's API does.

Each message ends ``accepted`` or ``rejected`` with a reason code. Rejected messages are
the ones Segment answers 200 and then drops ("failed on ingest"); Shoal keeps them so the
debugger can show why.
"""

from __future__ import annotations

from typing import Any

import msgspec

from shoal.spec.envelope import Envelope, present
from shoal.spec.limits import MAX_MESSAGE_ID_CHARS, MESSAGE_TYPES
from shoal.spec.timestamps import format_ms, parse_ms

_DECODER = msgspec.json.Decoder()

SERVER_LIBRARIES = frozenset(
    {
        "analytics-python",
        "analytics-node",
        "@segment/analytics-node",
        "analytics-go",
        "analytics-ruby",
        "analytics-java",
        "analytics-php",
        "analytics.NET",
        "analytics-dotnet",
        "http",
    }
)
MOBILE_LIBRARIES = frozenset(
    {
        "analytics-ios",
        "analytics-android",
        "analytics-kotlin",
        "analytics-swift",
        "analytics-react-native",
        "analytics-flutter",
    }
)

REJECT_REASONS = {
    "not_an_object": "the message is not a JSON object",
    "missing_type": "batch items need a 'type'",
    "invalid_type": "'type' must be one of identify, track, page, screen, group, alias",
    "no_user_anon_id": "the message has neither 'userId' nor 'anonymousId'",
    "track_missing_event": "a track call needs a non-empty 'event' string",
    "group_missing_group_id": "a group call needs a 'groupId'",
    "alias_missing_ids": "an alias call needs 'userId' and 'previousId'",
    "message_id_too_long": f"'messageId' is longer than {MAX_MESSAGE_ID_CHARS} characters",
    "invalid_properties": "'properties' must be a JSON object",
    "invalid_traits": "'traits' must be a JSON object",
    "invalid_context": "'context' must be a JSON object",
    "event_too_large": "the message is larger than 32 KB",
    "batch_too_many_events": "the batch has more than 2,500 messages; this one is past the limit",
    "plan_unplanned_event": "the event is not in the source's tracking plan, which blocks "
    "unplanned events",
    "plan_invalid_properties": "the event's properties break the source's tracking plan, which "
    "blocks invalid events",
}
"""Every reason code the pipeline may store, with the explanation shown to users."""


class NormalizedEvent(msgspec.Struct):
    """A message as stored, plus the columns the store indexes."""

    source_id: str
    workspace_id: str
    environment: str
    message_id: str
    type: str
    status: str
    reason: str | None
    received_at: int
    timestamp: int
    message: dict[str, Any]
    event: str | None = None
    user_id: str | None = None
    anonymous_id: str | None = None
    group_id: str | None = None
    violations: list[dict[str, Any]] | None = None
    """Tracking-plan findings: ``{"type", "field", "message"}`` each (set by plan stages)."""
    profile_id: str | None = None
    """The profile identity resolution attached the event to (set by the identity stage)."""


def _as_id(value: object) -> str | None:
    """Identifiers may arrive as numbers; Segment's libraries stringify them."""
    if value is None or value == "" or isinstance(value, bool):
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, int | float):
        return str(value)
    return None


def _merge(batch: msgspec.Raw, own: object) -> object:
    """Batch-level objects are defaults: the message's own keys win."""
    if not present(batch):
        return own
    try:
        base = _DECODER.decode(batch)
    except msgspec.DecodeError:
        return own
    if not isinstance(base, dict):
        return own
    if isinstance(own, dict):
        return {**base, **own}
    return base if own is None else own


def _check(msg: dict[str, Any]) -> str | None:
    """The first reason this message cannot be used, or ``None``."""
    kind = msg.get("type")
    if kind is None:
        return "missing_type"
    if kind not in MESSAGE_TYPES:
        return "invalid_type"
    for key, reason in (
        ("properties", "invalid_properties"),
        ("traits", "invalid_traits"),
        ("context", "invalid_context"),
    ):
        if msg.get(key) is not None and not isinstance(msg[key], dict):
            return reason
    if len(msg["messageId"]) > MAX_MESSAGE_ID_CHARS:
        return "message_id_too_long"
    if kind == "alias":
        if msg.get("userId") is None or _as_id(msg.get("previousId")) is None:
            return "alias_missing_ids"
    elif msg.get("userId") is None and msg.get("anonymousId") is None:
        return "no_user_anon_id"
    if kind == "track" and not (isinstance(msg.get("event"), str) and msg["event"].strip()):
        return "track_missing_event"
    if kind == "group" and _as_id(msg.get("groupId")) is None:
        return "group_missing_group_id"
    return None


def _timestamps(msg: dict[str, Any], env: Envelope) -> int:
    """Stamp receivedAt, originalTimestamp and a skew-corrected timestamp; return it.

    timestamp = receivedAt - (sentAt - originalTimestamp): the device's clock error is the
    gap between when it says it sent the request and when the server received it.
    """
    received = env.received_at
    original = parse_ms(msg.get("timestamp"))
    if original is None:
        original = parse_ms(msg.get("originalTimestamp"))
    sent = parse_ms(msg.get("sentAt")) if msg.get("sentAt") is not None else None
    if sent is None and env.sent_at is not None:
        sent = parse_ms(env.sent_at)
        if sent is not None:
            msg["sentAt"] = env.sent_at
    if original is None:
        timestamp = received
    elif sent is None:
        timestamp = original
    else:
        timestamp = received - (sent - original)
    if original is not None:
        msg["originalTimestamp"] = format_ms(original)
    msg["receivedAt"] = format_ms(received)
    msg["timestamp"] = format_ms(timestamp)
    return timestamp


def _enrich_context(msg: dict[str, Any], env: Envelope) -> None:
    context = msg.get("context")
    if not isinstance(context, dict):
        return
    library = context.get("library")
    name = library.get("name") if isinstance(library, dict) else None
    client_side = name not in SERVER_LIBRARIES or context.get("direct") is True
    if env.ip and "ip" not in context and client_side:
        context["ip"] = env.ip
    if "channel" not in msg and isinstance(name, str):
        if name in SERVER_LIBRARIES:
            msg["channel"] = "server"
        elif name in MOBILE_LIBRARIES:
            msg["channel"] = "mobile"
        elif name.startswith("analytics.js") or name.startswith("analytics-next"):
            msg["channel"] = "browser"


def normalize(env: Envelope) -> NormalizedEvent:
    """Normalize one queued message into the event to store (never raises on bad input)."""
    try:
        decoded = _DECODER.decode(env.message)
    except msgspec.DecodeError:
        decoded = None
    if not isinstance(decoded, dict):
        # Keep the value itself so nothing the client sent is lost.
        decoded = {"value": decoded} if decoded is not None else {}
        reject: str | None = env.reject or "not_an_object"
    else:
        reject = env.reject
    msg: dict[str, Any] = decoded
    msg.pop("writeKey", None)
    if env.path_type is not None:
        msg["type"] = env.path_type
    msg["context"] = _merge(env.context, msg.get("context"))
    if msg["context"] is None:
        msg["context"] = {}
    if present(env.integrations):
        msg["integrations"] = _merge(env.integrations, msg.get("integrations"))
    message_id = _as_id(msg.get("messageId")) or f"{env.request_id}-{env.index}"
    msg["messageId"] = message_id
    for key in ("userId", "anonymousId"):
        if key in msg:
            msg[key] = _as_id(msg[key])
    timestamp = _timestamps(msg, env)
    _enrich_context(msg, env)
    if reject is None:
        reject = _check(msg)
    kind = msg.get("type")
    kind = kind if isinstance(kind, str) else "unknown"
    if kind == "track":
        event = msg.get("event")
    elif kind in ("page", "screen"):
        event = msg.get("name")
    else:
        event = None
    context = msg["context"]
    group_id = msg.get("groupId") if kind == "group" else None
    if group_id is None and isinstance(context, dict):
        group_id = context.get("groupId")
    return NormalizedEvent(
        source_id=env.source_id,
        workspace_id=env.workspace_id,
        environment=env.environment,
        message_id=message_id,
        type=kind,
        status="rejected" if reject else "accepted",
        reason=reject,
        received_at=env.received_at,
        timestamp=timestamp,
        message=msg,
        event=event if isinstance(event, str) else None,
        user_id=_as_id(msg.get("userId")),
        anonymous_id=_as_id(msg.get("anonymousId")),
        group_id=_as_id(group_id),
    )
