"""End to end on a real ``shoal serve``: anonymous web events, an identify from the official
Segment SDK and mobile app events become one profile in the Profile API."""

from __future__ import annotations

import time
from typing import Any

import httpx
from segment.analytics import Client  # type: ignore[import-untyped]

from tests.inprocess import basic
from tests.server import ShoalServer

BASE = "/spaces/dev/collections/users/profiles"


def _batch(shoal: ShoalServer, write_key: str, batch: list[dict[str, Any]]) -> None:
    response = httpx.post(
        shoal.url + "/v1/batch", json={"batch": batch}, headers=basic(write_key), timeout=10
    )
    assert response.status_code == 200, response.text


def _wait(shoal: ShoalServer, path: str, ok: Any, timeout: float = 20.0) -> Any:
    deadline = time.monotonic() + timeout
    body: Any = None
    while time.monotonic() < deadline:
        response = shoal.api("GET", path)
        body = response.json()
        if response.status_code == 200 and ok(body):
            return body
        time.sleep(0.1)
    raise AssertionError(f"{path} never satisfied the check; last answer {body}")


def test_one_person_across_web_signup_and_app_is_one_profile(shoal: ShoalServer) -> None:
    web = shoal.create_source("identity web", type="website")
    app = shoal.create_source("identity app", type="mobile")
    server = shoal.create_source("identity server", type="server")
    _batch(
        shoal,
        web["write_key"],
        [
            {"type": "page", "anonymousId": "web-anon-1", "name": "Pricing"},
            {"type": "track", "anonymousId": "web-anon-1", "event": "Signup Started"},
        ],
    )
    shoal.wait_for_events(web["id"], 2)
    sdk = Client(write_key=server["write_key"], host=shoal.url, sync_mode=True, max_retries=1)
    sdk.identify(
        "jane-1",
        {"email": "jane@example.com", "plan": "trial"},
        anonymous_id="web-anon-1",
    )
    sdk.flush()
    shoal.wait_for_events(server["id"], 1)
    device = {"type": "ios", "id": "IOS-DEVICE-1"}
    _batch(
        shoal,
        app["write_key"],
        [
            {"type": "screen", "anonymousId": "app-anon-9", "name": "Home",
             "context": {"device": device}},
            {"type": "identify", "userId": "jane-1", "anonymousId": "app-anon-9",
             "traits": {"plan": "pro", "trial_ends": None}, "context": {"device": device}},
            {"type": "track", "userId": "jane-1", "event": "Order Completed",
             "properties": {"revenue": 42.5}, "context": {"device": device}},
        ],
    )  # fmt: skip
    events = _wait(
        shoal, f"{BASE}/email:jane@example.com/events?limit=100", lambda b: len(b["data"]) >= 6
    )
    names = {e["event"] or e["type"] for e in events["data"]}
    assert names == {"Pricing", "Signup Started", "identify", "Home", "Order Completed"}
    assert {e["source_id"] for e in events["data"]} == {web["id"], app["id"], server["id"]}

    traits = shoal.api("GET", f"{BASE}/user_id:jane-1/traits").json()
    assert traits["traits"] == {"email": "jane@example.com", "plan": "pro"}
    ids = shoal.api("GET", f"{BASE}/ios.id:IOS-DEVICE-1/external_ids?limit=100").json()
    assert {(i["type"], i["id"]) for i in ids["data"]} == {
        ("anonymous_id", "web-anon-1"),
        ("user_id", "jane-1"),
        ("email", "jane@example.com"),
        ("anonymous_id", "app-anon-9"),
        ("ios.id", "IOS-DEVICE-1"),
    }
    meta = shoal.api("GET", f"{BASE}/anonymous_id:app-anon-9/metadata").json()["metadata"]
    assert meta["merges"] == 1
    merges = shoal.api("GET", f"{BASE}/user_id:jane-1/merges").json()["data"]
    assert len(merges) == 1 and merges[0]["into"] == meta["id"]
    assert "app-anon-9" in merges[0]["reason"] or "jane-1" in merges[0]["reason"]

    # Paging through events with the cursor returns each event once.
    seen: list[str] = []
    path = f"{BASE}/user_id:jane-1/events?limit=2&sort=asc"
    while path:
        page = shoal.api("GET", path).json()
        seen += [e["message_id"] for e in page["data"]]
        nxt = page["cursor"]["next"]
        path = f"{BASE}/user_id:jane-1/events?limit=2&sort=asc&next={nxt}" if nxt else ""
    assert len(seen) == len(set(seen)) == 6


def test_computed_traits_follow_the_pipeline(shoal: ShoalServer) -> None:
    src = shoal.create_source("identity shop", type="server")
    for body in (
        {"key": "order_count", "type": "event_counter", "event": "Order Completed"},
        {"key": "lifetime_revenue", "type": "sum", "event": "Order Completed",
         "property": "revenue"},
        {"key": "big_orders", "type": "event_counter", "event": "Order Completed",
         "filters": [{"property": "revenue", "operator": "gte", "value": 100}]},
        {"key": "favorite_color", "type": "most_frequent", "event": "Order Completed",
         "property": "color"},
    ):  # fmt: skip
        response = shoal.api("POST", "/spaces/dev/computed-traits", json=body)
        assert response.status_code == 201, response.text
    orders = [(30, "red"), (120, "blue"), (50, "red")]
    _batch(
        shoal,
        src["write_key"],
        [
            {"type": "track", "userId": "buyer-1", "event": "Order Completed",
             "properties": {"revenue": revenue, "color": color}}
            for revenue, color in orders
        ],
    )  # fmt: skip
    body = _wait(
        shoal,
        f"{BASE}/user_id:buyer-1/traits?class=computed_trait",
        lambda b: b["traits"].get("order_count") == 3,
    )
    assert body["traits"] == {
        "order_count": 3,
        "lifetime_revenue": 200.0,
        "big_orders": 1,
        "favorite_color": "red",
    }


def test_profile_api_errors(shoal: ShoalServer) -> None:
    missing = shoal.api("GET", f"{BASE}/email:nobody@example.com/traits")
    assert missing.status_code == 404
    assert missing.json() == {"code": "not_found", "message": "Profile was not found."}
    space = shoal.api("GET", "/spaces/qa/collections/users/profiles/user_id:x/traits")
    assert space.status_code == 404 and space.json()["code"] == "not_found"
    bad = shoal.api("GET", f"{BASE}/no-colon/traits")
    assert bad.status_code == 400 and bad.json()["code"] == "validation_error"
    collection = shoal.api("GET", "/spaces/dev/collections/things/profiles/user_id:x/traits")
    assert collection.status_code == 422
    limit = shoal.api("GET", f"{BASE}/user_id:x/traits?limit=500")
    assert limit.status_code == 422
    trait = shoal.api(
        "POST", "/spaces/dev/computed-traits", json={"key": "x", "type": "sum", "event": "E"}
    )
    assert trait.status_code == 422 and "property" in trait.json()["message"]
    noauth = httpx.get(shoal.url + f"/api/v1{BASE}/user_id:x/traits")
    assert noauth.status_code == 401


def test_identity_settings_defaults_import_and_replay(shoal: ShoalServer) -> None:
    settings = shoal.api("GET", "/spaces/dev/identity").json()
    assert [i["type"] for i in settings["identifiers"]][:2] == ["user_id", "email"]
    assert len(settings["identifiers"]) == 11 and settings["saved"] is False
    added = shoal.api(
        "POST", "/spaces/dev/identity/identifiers", json={"type": "crm_id", "limit": 1}
    )
    assert added.status_code == 201
    types = [i["type"] for i in added.json()["identifiers"]]
    assert types.index("crm_id") == types.index("anonymous_id") + 1  # alphabetical slot
    bad = shoal.api("POST", "/spaces/dev/identity/identifiers", json={"type": "Bad Type"})
    assert bad.status_code == 422
    regex = shoal.api(
        "PATCH",
        "/spaces/dev/identity/identifiers/email",
        json={"blocked": [{"kind": "regex", "value": "(["}]},
    )
    assert regex.status_code == 422
    imported = shoal.api("POST", "/spaces/prod/identity/import", json={"from_space": "dev"})
    assert imported.status_code == 200
    assert [i["type"] for i in imported.json()["identifiers"]] == types
    replayed = shoal.api("POST", "/spaces/dev/identity/replay")
    assert replayed.status_code == 200, replayed.text
    assert replayed.json()["events"] > 0


def test_replaying_one_profile_applies_new_rules_to_it_alone(shoal: ShoalServer) -> None:
    src = shoal.create_source("identity kiosk", type="server")
    _batch(
        shoal,
        src["write_key"],
        [
            {"type": "identify", "userId": "kiosk-u1", "anonymousId": "kiosk-anon"},
            {"type": "identify", "userId": "kiosk-u2", "anonymousId": "kiosk-anon"},
            {"type": "identify", "userId": "solo-1", "traits": {"email": "solo@example.com"}},
        ],
    )
    shoal.wait_for_events(src["id"], 3)
    solo = _wait(shoal, f"{BASE}/user_id:solo-1/external_ids", lambda b: len(b["data"]) == 2)
    solo_meta = shoal.api("GET", f"{BASE}/user_id:solo-1/metadata").json()
    first = _wait(shoal, f"{BASE}/user_id:kiosk-u1/metadata", lambda b: True)["metadata"]["id"]
    second = _wait(shoal, f"{BASE}/user_id:kiosk-u2/metadata", lambda b: True)["metadata"]["id"]
    assert first != second  # user_id limit 1 kept them apart
    limit = shoal.api("PATCH", "/spaces/dev/identity/identifiers/user_id", json={"limit": 2})
    assert limit.status_code == 200, limit.text

    replayed = shoal.api(
        "POST", "/spaces/dev/identity/replay", json={"profiles": ["user_id:kiosk-u2"]}
    )
    assert replayed.status_code == 200, replayed.text
    body = replayed.json()
    assert body["events"] == 2 and body["profiles"] == 1 and body["merges"] == 0
    assert sorted(body["removed"]) == sorted([first, second])
    assert body["resolved"] == [first] and body["named"] == {"user_id:kiosk-u2": first}
    now = shoal.api("GET", f"{BASE}/user_id:kiosk-u2/metadata").json()["metadata"]
    assert now["id"] == first and now["identities"] == 3
    # The other customer was not re-resolved: same profile, same identities, same times.
    assert shoal.api("GET", f"{BASE}/user_id:solo-1/external_ids").json() == solo
    assert shoal.api("GET", f"{BASE}/user_id:solo-1/metadata").json() == solo_meta
    # No body still replays the whole space.
    everything = shoal.api("POST", "/spaces/dev/identity/replay")
    assert everything.status_code == 200 and "named" not in everything.json()


def test_replay_refusals_are_clear(shoal: ShoalServer) -> None:
    path = "/spaces/dev/identity/replay"
    for body, status, code in (
        ({"profiles": ["no-colon"]}, 400, "validation_error"),
        ({"profiles": []}, 400, "validation_error"),
        ({"profiles": [f"user_id:u{n}" for n in range(101)]}, 400, "too_many_profiles"),
        ({"profiles": ["user_id:nobody-at-all"]}, 404, "not_found"),
        ({"profiles": "user_id:x"}, 422, "invalid_request"),
        ({"profile": ["user_id:x"]}, 422, "invalid_request"),
    ):
        response = shoal.api("POST", path, json=body)
        assert response.status_code == status, (body, response.text)
        assert response.json()["code"] == code and response.json()["message"]
    space = shoal.api("POST", "/spaces/qa/identity/replay", json={"profiles": ["user_id:x"]})
    assert space.status_code == 404
