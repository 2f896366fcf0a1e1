"""Each vendor adapter against a local fake that checks the documented request and answers
as the vendor does (successes, partial failures and errors)."""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import pytest

from shoal.destinations.base import Context, ListMember, Outcome
from shoal.destinations.http import HttpClient
from shoal.destinations.mappings import Mapper
from shoal.destinations.registry import get_factory
from shoal.destinations.safety import AddressPolicy
from tests.destinations.receiver import Received, Receiver, Reply

TRACK: dict[str, Any] = {
    "type": "track",
    "event": "Order Completed",
    "userId": "user-1",
    "anonymousId": "anon-1",
    "messageId": "msg-1",
    "timestamp": "2025-03-14T09:26:53.589Z",
    "properties": {"revenue": 19.99, "currency": "EUR", "order_id": "o-7"},
    "context": {
        "ip": "203.0.113.9",
        "userAgent": "Mozilla/5.0",
        "page": {"url": "https://shop.example/checkout"},
        "traits": {"email": " Ada@Example.com ", "phone": "+1 (555) 555-0100"},
    },
}
IDENTIFY: dict[str, Any] = {
    "type": "identify",
    "userId": "user-1",
    "messageId": "msg-2",
    "timestamp": "2025-03-14T09:27:00.000Z",
    "traits": {"email": "ada@example.com", "plan": "pro", "created_at": "2024-01-01T00:00:00Z"},
}


def _basic(request: Received) -> tuple[str, str]:
    scheme, _, value = request.headers.get("Authorization", "").partition(" ")
    assert scheme == "Basic"
    user, _, password = base64.b64decode(value).decode().partition(":")
    return user, password


def _sha(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


@pytest.fixture
async def http() -> AsyncIterator[HttpClient]:
    client = HttpClient(AddressPolicy.of(False, ["127.0.0.0/8"]), timeout=5)
    yield client
    await client.close()


async def _send(
    http: HttpClient, name: str, settings: dict[str, Any], messages: list[dict[str, Any]]
) -> list[Outcome]:
    """Map messages with the adapter's default mappings and send each action's batch."""
    factory = get_factory(name)
    client = await factory.create(
        factory.settings_model.model_validate(settings), Context(http, Path("."))
    )
    grouped: dict[str, list[dict[str, Any]]] = {}
    for message in messages:
        for action, payload in Mapper(factory, []).map(message):
            grouped.setdefault(action, []).append(payload)
    try:
        return [await client.send(action, payloads) for action, payloads in grouped.items()]
    finally:
        await client.close()


async def test_mixpanel_import_and_engage(http: HttpClient) -> None:
    def mixpanel(request: Received) -> Reply:
        if request.path == "/import":
            assert request.query == {"strict": "1"} and _basic(request) == ("s3cret", "")
            events = request.json()
            bad = [
                {
                    "index": i,
                    "insert_id": e["properties"]["$insert_id"],
                    "field": "event",
                    "message": "'event' must not be empty",
                }
                for i, e in enumerate(events)
                if not e["event"]
            ]
            if bad:
                body = {
                    "code": 400,
                    "error": "some data points in the request failed validation",
                    "status": "Bad Request",
                    "num_records_imported": len(events) - len(bad),
                    "failed_records": bad,
                }
                return 400, body
            return 200, {"code": 200, "num_records_imported": len(events), "status": "OK"}
        assert request.path == "/engage" and "Authorization" not in request.headers
        return 200, "1"

    with Receiver(mixpanel) as fake:
        settings = {"project_token": "tok", "api_secret": "s3cret", "base_url": fake.url}
        empty = {**TRACK, "messageId": "msg-3", "event": ""}
        outcomes = await _send(http, "mixpanel", settings, [TRACK, empty, IDENTIFY])
    imported, profile = fake.seen[0].json(), fake.seen[1].json()
    assert imported[0] == {
        "event": "Order Completed",
        "properties": {
            "revenue": 19.99,
            "currency": "EUR",
            "order_id": "o-7",
            "time": 1741944413589,
            "distinct_id": "user-1",
            "$insert_id": "msg-1",
            "ip": "203.0.113.9",
        },
    }
    assert outcomes[0].ok and dict(outcomes[0].rejected) == {1: "event: 'event' must not be empty"}
    assert profile == [
        {
            "$token": "tok",
            "$distinct_id": "user-1",
            "$set": IDENTIFY["traits"],
        }
    ]
    assert outcomes[1].ok


async def test_meta_conversions_and_custom_audience(http: HttpClient) -> None:
    def graph(request: Received) -> Reply:
        if request.query.get("access_token") != "EAAB":
            return 400, {
                "error": {
                    "message": "Invalid OAuth access token.",
                    "type": "OAuthException",
                    "code": 190,
                }
            }
        if request.path == "/v21.0/1234/events":
            return 200, {
                "events_received": len(request.json()["data"]),
                "messages": [],
                "fbtrace_id": "A1",
            }
        assert request.path == "/v21.0/6000/users"
        rows = request.json()["payload"]["data"]
        return 200, {
            "audience_id": "6000",
            "session_id": "1",
            "num_received": len(rows),
            "num_invalid_entries": 0,
            "invalid_entry_samples": {},
        }

    with Receiver(graph) as fake:
        settings = {"pixel_id": "1234", "access_token": "EAAB", "base_url": fake.url}
        outcomes = await _send(http, "meta_conversions", settings, [TRACK, IDENTIFY])
        wrong = await _send(http, "meta_conversions", {**settings, "access_token": "x"}, [TRACK])
        factory = get_factory("meta_conversions")
        client = await factory.create(
            factory.settings_model.model_validate(settings), Context(http, Path("."))
        )
        member = ListMember(
            "p1", {"email": "Ada@Example.com", "phone": "+1 555 555 0100", "user_id": "user-1"}
        )
        synced = await client.sync_list("6000", add=[member], remove=[member])  # type: ignore[attr-defined]
    assert [o.ok for o in outcomes] == [True]  # identify is not a conversion
    event = fake.accepted()[0].json()["data"][0]
    assert event == {
        "event_name": "Order Completed",
        "event_time": 1741944413,
        "event_id": "msg-1",
        "action_source": "website",
        "event_source_url": "https://shop.example/checkout",
        "user_data": {
            "em": [_sha("ada@example.com")],
            "ph": [_sha("15555550100")],
            "external_id": [_sha("user-1")],
            "client_ip_address": "203.0.113.9",
            "client_user_agent": "Mozilla/5.0",
        },
        "custom_data": {"value": 19.99, "currency": "EUR", "order_id": "o-7"},
    }
    assert not wrong[0].ok and wrong[0].status == 400 and not wrong[0].retryable
    assert "OAuthException" in wrong[0].body
    add, remove = fake.accepted()[1], fake.accepted()[2]
    assert (add.method, remove.method) == ("POST", "DELETE") and synced.ok
    assert add.json() == {
        "payload": {
            "schema": ["EMAIL", "PHONE", "EXTERN_ID"],
            "data": [[_sha("ada@example.com"), _sha("15555550100"), _sha("user-1")]],
        }
    }


async def test_customerio_track_api(http: HttpClient) -> None:
    def track_api(request: Received) -> Reply:
        if _basic(request) != ("site1", "key1"):
            return 401, {"meta": {"error": "Unauthorized request"}}
        return 200, {}

    with Receiver(track_api) as fake:
        settings = {"site_id": "site1", "api_key": "key1", "base_url": fake.url}
        anon = {**TRACK, "userId": None, "messageId": "m9"}
        outcomes = await _send(http, "customerio", settings, [IDENTIFY])
        outcomes += await _send(http, "customerio", settings, [TRACK])
        outcomes += await _send(http, "customerio", settings, [anon])
        denied = await _send(http, "customerio", {**settings, "api_key": "bad"}, [TRACK])
    person, event, anonymous = fake.accepted()
    assert (person.method, person.path) == ("PUT", "/api/v1/customers/user-1")
    assert person.json() == {"email": "ada@example.com", "plan": "pro", "created_at": 1704067200}
    assert (event.method, event.path) == ("POST", "/api/v1/customers/user-1/events")
    assert event.json() == {
        "name": "Order Completed",
        "data": TRACK["properties"],
        "timestamp": 1741944413,
    }
    assert anonymous.path == "/api/v1/events" and anonymous.json()["anonymous_id"] == "anon-1"
    assert all(o.ok for o in outcomes)
    assert denied[0].status == 401 and not denied[0].retryable


async def test_twilio_messages(http: HttpClient) -> None:
    sid = "AC" + "0" * 32

    def twilio(request: Received) -> Reply:
        assert request.path == f"/2010-04-01/Accounts/{sid}/Messages.json"
        assert request.headers["Content-Type"] == "application/x-www-form-urlencoded"
        assert _basic(request) == (sid, "tok")
        form = {k: v[0] for k, v in parse_qs(request.body.decode()).items()}
        if not form["To"].startswith("+"):
            return 400, {
                "code": 21211,
                "message": f"The 'To' number {form['To']} is not a valid phone number.",
                "more_info": "https://www.twilio.com/docs/errors/21211",
                "status": 400,
            }
        if form["Body"] == "slow down":
            return 429, {"code": 20429, "message": "Too Many Requests", "status": 429}
        return 201, {
            "sid": "SM" + "1" * 32,
            "status": "queued",
            "to": form["To"],
            "body": form["Body"],
        }

    text = {**TRACK, "properties": {"sms_body": "Your order shipped"}}
    with Receiver(twilio) as fake:
        settings = {
            "account_sid": sid,
            "auth_token": "tok",
            "from_number": "+15005550006",
            "base_url": fake.url,
        }
        sent = await _send(http, "twilio_sms", settings, [text])
        bad_to = {**text, "context": {"traits": {"phone": "555"}}}
        refused = await _send(http, "twilio_sms", settings, [bad_to])
        limited = await _send(
            http, "twilio_sms", settings, [{**text, "properties": {"sms_body": "slow down"}}]
        )
        nothing = await _send(http, "twilio_sms", settings, [TRACK])  # no sms_body: not triggered
    form = parse_qs(fake.accepted()[0].body.decode())
    assert form == {
        "To": ["+1 (555) 555-0100"],
        "Body": ["Your order shipped"],
        "From": ["+15005550006"],
    }
    assert sent[0].ok and sent[0].status == 201
    assert refused[0].status == 400 and not refused[0].retryable and "21211" in refused[0].body
    assert limited[0].retryable and nothing == []


async def test_braze_users_track(http: HttpClient) -> None:
    def braze(request: Received) -> Reply:
        assert request.path == "/users/track"
        if request.headers.get("Authorization") != "Bearer rest-key":
            return 401, {"message": "Invalid API key: rest-key"}
        body = request.json()
        errors = [
            {
                "type": "'external_id' or 'braze_id' or 'user_alias' is required",
                "input_array": "events",
                "index": i,
            }
            for i, e in enumerate(body.get("events", []))
            if not e.get("external_id")
        ]
        answer: dict[str, Any] = {"message": "success"}
        if errors:
            answer["errors"] = errors
        return 201, answer

    with Receiver(braze) as fake:
        settings = {"api_key": "rest-key", "rest_endpoint": fake.url}
        anon = {**TRACK, "userId": None, "messageId": "m5"}
        outcomes = await _send(http, "braze", settings, [IDENTIFY, TRACK, anon])
    attributes, events = fake.accepted()[0].json(), fake.accepted()[1].json()
    assert attributes == {"attributes": [{**IDENTIFY["traits"], "external_id": "user-1"}]}
    assert events["events"][0] == {
        "external_id": "user-1",
        "name": "Order Completed",
        "time": "2025-03-14T09:26:53.589Z",
        "properties": TRACK["properties"],
    }
    assert outcomes[0].ok and outcomes[1].ok and list(outcomes[1].rejected) == [1]


def test_every_builtin_loads_and_declares_a_category() -> None:
    from shoal.destinations.registry import BUILTINS

    categories = {get_factory(name).category for name in BUILTINS}
    # The catalog's destination types, except Reverse ETL: Shoal cannot sync warehouse
    # tables out to tools; its warehouse adapters load events into a warehouse.
    assert categories == {
        "Analytics",
        "Advertising",
        "Email Marketing",
        "SMS & Push Notifications",
        "Personalization",
        "Raw Data",
        "Warehouses",
    }
    assert json.dumps([get_factory(n).settings_model.model_json_schema() for n in BUILTINS])
