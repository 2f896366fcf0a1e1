"""Engage (create an audience) and republishing audiences to prod, on a real ``shoal serve``.

The suggested audience follows the use case's events in the catalog; Engage opens after
Unify, creates the suggested (or a typed) audience in dev through the audience service,
refuses members and bad definitions with clear answers, and is done once dev has an
audience, whose members are really computed from events sent over the HTTP API.
Republishing then imports the dev audiences into prod, leaves alone what prod already has
by key, records what it imported and never duplicates.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from shoal.audiences.service import parse_definition
from tests.server import ShoalServer


@pytest.fixture(scope="module")
def shoal(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ShoalServer]:
    """A real ``shoal serve`` with one workspace, whose owner walks the setup."""
    server = ShoalServer(tmp_path_factory.mktemp("engage") / "data")
    try:
        yield server.start()
    finally:
        server.stop()


def ok(response: httpx.Response, status: int = 200) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    return body


def refused(response: httpx.Response, status: int, code: str) -> str:
    """The message of a refusal with ``status`` and ``code``."""
    assert response.status_code == status, response.text
    body = response.json()
    assert body["code"] == code, body
    message: str = body["message"]
    return message


def step(state: dict[str, Any], step_id: str) -> dict[str, Any]:
    found: dict[str, Any] = next(s for s in state["steps"] if s["id"] == step_id)
    return found


def catalog_events(shoal: ShoalServer, goal: str, use_case: str) -> list[dict[str, Any]]:
    """The use case's suggested events, as the catalog API lists them."""
    path = f"/catalog/business-goals/{goal}/use-cases/{use_case}"
    events: list[dict[str, Any]] = ok(shoal.api("GET", path))["events"]
    return events


def choose(shoal: ShoalServer, goal: str, use_case: str) -> dict[str, Any]:
    ok(shoal.api("POST", "/setup/goal", json={"goal_id": goal}))
    return ok(shoal.api("POST", "/setup/use-case", json={"use_case_id": use_case}))


def send(shoal: ShoalServer, write_key: str, *events: tuple[str, str, datetime]) -> None:
    """Track ``(user, event, when)`` through the HTTP API in one batch."""
    batch = [
        {"type": "track", "userId": user, "event": name, "timestamp": when.isoformat()}
        for user, name, when in events
    ]
    response = httpx.post(
        shoal.url + "/v1/batch", json={"batch": batch}, auth=(write_key, ""), timeout=30
    )
    assert response.status_code == 200, response.text


def ago(**delta: float) -> datetime:
    return datetime.now(UTC) - timedelta(**delta)


def computed(shoal: ShoalServer, audience_id: str, timeout: float = 30.0) -> dict[str, Any]:
    """The audience once its first computation finished (it runs in the background)."""
    deadline = time.monotonic() + timeout
    found = ok(shoal.api("GET", f"/audiences/{audience_id}"))
    while found["status"] == "pending" and time.monotonic() < deadline:
        time.sleep(0.1)
        found = ok(shoal.api("GET", f"/audiences/{audience_id}"))
    assert found["status"] == "ready", (found["error"], found)
    return found


def members(shoal: ShoalServer, audience_id: str) -> set[str]:
    page = ok(shoal.api("GET", f"/audiences/{audience_id}/members"))
    return {m["identifiers"]["user_id"] for m in page["members"]}


def test_the_suggested_audience_follows_the_use_case(shoal: ShoalServer) -> None:
    # Mitigate cart abandonment: its checkout event, not followed by its order event.
    state = choose(shoal, "optimize-advertising", "mitigate-cart-abandonment")
    engage = step(state, "engage_audience")
    assert engage["available"] is True and engage["status"] == "blocked"
    assert engage["action"] == "POST /api/v1/setup/engage"
    cart = engage["suggestion"]
    events = catalog_events(shoal, "optimize-advertising", "mitigate-cart-abandonment")
    start, finish = (e["name"] for e in events)
    assert (start, finish) == ("Checkout Started", "Order Completed")
    assert cart["definition"] == f"event('{start}') then not event('{finish}') within 1 hour"
    assert (cart["name"], cart["key"]) == ("Abandoned checkouts", "abandoned_checkouts")
    assert cart["events"] == [start, finish] and cart["exists"] is False
    assert parse_definition(cart["definition"], "users")[1] == cart["definition"], "canonical"

    # Personalize winback: a page call and two track calls; the audience is about orders.
    ok(shoal.api("POST", "/setup/restart"))
    goal = "personalize-communications-and-product-experiences"
    state = choose(shoal, goal, "personalize-winback")
    winback = step(state, "engage_audience")["suggestion"]
    suggested = {e["name"] for e in catalog_events(shoal, goal, "personalize-winback")}
    assert set(winback["events"]) <= suggested
    assert winback["name"] == "Lapsed customers"
    assert winback["definition"] == (
        "event('Order Completed') and not event('Order Completed').within(90 days)"
    )

    # Nurture with content suggests page views, written as page(): the catalog's call.
    ok(shoal.api("POST", "/setup/restart"))
    state = choose(shoal, goal, "nurture-with-content")
    nurture = step(state, "engage_audience")["suggestion"]
    assert nurture["definition"] == "page().within(30 days).count() >= 3"
    assert nurture["events"] == ["Page Viewed"]
    ok(shoal.api("POST", "/setup/restart"))


def walk_to_verified(shoal: ShoalServer) -> tuple[dict[str, Any], dict[str, Any]]:
    """Mitigate cart abandonment, reviewed, a dev source, published, a prod event arrived
    (no destination: publishing needs none). Returns the setup before "Mark as complete"
    and the dev source."""
    choose(shoal, "optimize-advertising", "mitigate-cart-abandonment")
    ok(shoal.api("POST", "/setup/environments/acknowledge"))
    ok(shoal.api("POST", "/setup/review-events"))
    body = {"type": "Website", "name": "Storefront"}
    (dev,) = step(ok(shoal.api("POST", "/setup/dev-sources", json=body)), "dev_sources")["sources"]
    state = ok(shoal.api("POST", "/setup/publish"))
    (prod,) = step(state, "publish")["prod_sources"]
    send(shoal, prod["write_key"], ("prod-shopper", "Order Completed", ago(minutes=1)))
    shoal.wait_for_events(prod["id"], 1)
    return state, dev


def test_engage_creates_audiences_and_republish_imports_them(shoal: ShoalServer) -> None:
    member = ok(
        shoal.api("POST", "/members", json={"email": "mia@example.com", "name": "Mia"}), 201
    )
    as_member = {"Authorization": f"Bearer {member['token']}"}
    state, dev = walk_to_verified(shoal)

    # Engage waits for publishing to be verified, then for Unify.
    assert step(state, "engage_audience")["status"] == "blocked"
    message = refused(shoal.api("POST", "/setup/engage"), 409, "step_not_ready")
    assert "publish to prod" in message
    state = ok(shoal.api("POST", "/setup/publish/complete"))
    assert step(state, "unify_identifiers")["status"] == "todo"
    assert step(state, "engage_audience")["status"] == "blocked"
    message = refused(shoal.api("POST", "/setup/engage"), 409, "step_not_ready")
    assert "default identifiers" in message
    refused(shoal.api("POST", "/setup/engage", headers=as_member), 403, "forbidden")
    state = ok(shoal.api("POST", "/setup/unify/default-identifiers"))
    engage = step(state, "engage_audience")
    assert engage["status"] == "todo" and step(state, "republish")["status"] == "todo"
    assert engage["audiences"] == [] and engage["space"] == "dev"

    # Carl abandoned his checkout two hours ago; Dana ordered right after hers.
    send(
        shoal,
        dev["write_key"],
        ("carl", "Checkout Started", ago(hours=2)),
        ("dana", "Checkout Started", ago(hours=2)),
        ("dana", "Order Completed", ago(hours=1, minutes=55)),
    )
    shoal.wait_for_events(dev["id"], 3)

    # Members may not create one; bad input is a clear 4xx and creates nothing.
    refused(shoal.api("POST", "/setup/engage", headers=as_member), 403, "forbidden")
    broken = "event('Order Completed'"
    with pytest.raises(ValueError) as parser:
        parse_definition(broken, "users")
    message = refused(
        shoal.api("POST", "/setup/engage", json={"definition": broken}), 422, "invalid_request"
    )
    assert message == str(parser.value) and message.startswith("line 1, column 24")
    tree = {"kind": "bogus"}
    message = refused(
        shoal.api("POST", "/setup/engage", json={"definition": tree}), 422, "invalid_request"
    )
    assert "bogus" in message
    for body in ({"name": ""}, {"name": "x" * 201}, {"colour": "blue"}):
        refused(shoal.api("POST", "/setup/engage", json=body), 422, "invalid_request")
    assert ok(shoal.api("GET", "/audiences", params={"space": "dev"}))["audiences"] == []

    # The suggested audience: created in dev by the audience service; the step is done.
    state = ok(shoal.api("POST", "/setup/engage"))
    engage = step(state, "engage_audience")
    assert engage["status"] == "done" and step(state, "republish")["status"] == "todo"
    (created,) = engage["audiences"]
    suggestion = engage["suggestion"]
    assert suggestion["exists"] is True
    assert (created["key"], created["name"], created["space"]) == (
        "abandoned_checkouts",
        "Abandoned checkouts",
        "dev",
    )
    assert created["text"] == suggestion["definition"] and created["refresh"] == "realtime"
    cart = computed(shoal, created["id"])
    assert cart["text"] == suggestion["definition"] and cart["space"] == "dev"
    assert cart["size"] == 1 and members(shoal, cart["id"]) == {"carl"}
    shown = step(ok(shoal.api("GET", "/setup")), "engage_audience")["audiences"][0]
    assert (shown["status"], shown["size"]) == ("ready", 1)

    # Again: the key is taken, which is a conflict with a way out, never a 5xx.
    message = refused(shoal.api("POST", "/setup/engage"), 409, "conflict")
    assert "abandoned_checkouts" in message and "another name" in message

    # A typed name and definition override the suggestion.
    body = {"name": "Repeat buyers", "definition": "event('Order Completed').count() >= 2"}
    state = ok(shoal.api("POST", "/setup/engage", json=body))
    keys = [a["key"] for a in step(state, "engage_audience")["audiences"]]
    assert keys == ["abandoned_checkouts", "repeat_buyers"]

    # Prod already has a "repeat_buyers" audience of its own: republishing leaves it alone.
    own = {
        "name": "Repeat buyers",
        "space": "prod",
        "definition": "event('Order Completed').count() >= 5",
    }
    prod_own = ok(shoal.api("POST", "/audiences", json=own), 201)
    part = step(ok(shoal.api("GET", "/setup")), "republish")["audiences"]
    assert part["available"] is True and part["in_sync"] is False
    assert [(a["key"], a["prod"]) for a in part["audiences"]] == [
        ("abandoned_checkouts", "missing"),
        ("repeat_buyers", "already_in_prod"),
    ]
    assert (part["imported"], part["already_in_prod"], part["to_import"]) == (0, 1, 1)

    state = ok(shoal.api("POST", "/setup/republish"))
    republish = step(state, "republish")
    assert republish["status"] == "done"
    part = republish["audiences"]
    assert (part["imported"], part["already_in_prod"], part["to_import"]) == (1, 1, 0)
    assert part["in_sync"] is True and part["message"] == "Prod has every dev audience."
    prod = {
        a["key"]: a
        for a in ok(shoal.api("GET", "/audiences", params={"space": "prod"}))["audiences"]
    }
    assert set(prod) == {"abandoned_checkouts", "repeat_buyers"}
    # One audience read in full (the list leaves the saved text out).
    copy = ok(shoal.api("GET", f"/audiences/{prod['abandoned_checkouts']['id']}"))
    for field in ("name", "collection", "definition", "text", "refresh", "interval_s"):
        assert copy[field] == cart[field], field
    assert copy["id"] != cart["id"] and part["audiences"][0]["prod_audience_id"] == copy["id"]
    kept = ok(shoal.api("GET", f"/audiences/{prod['repeat_buyers']['id']}"))
    assert (kept["id"], kept["version"]) == (prod_own["id"], 1), "left alone"
    assert kept["text"] == "event('Order Completed').count() >= 5"
    assert computed(shoal, copy["id"])["size"] == 0, "nobody abandoned a checkout in prod"

    # Republishing again imports nothing twice.
    state = ok(shoal.api("POST", "/setup/republish"))
    again = step(state, "republish")["audiences"]
    assert (again["imported"], again["already_in_prod"]) == (1, 1)
    listed = ok(shoal.api("GET", "/audiences", params={"space": "prod"}))["audiences"]
    assert sorted(a["id"] for a in listed) == sorted(a["id"] for a in prod.values())

    # A new dev audience shows as not imported until the next republish.
    body = {"name": "Buyers", "definition": "event('Order Completed')"}
    ok(shoal.api("POST", "/audiences", json=body), 201)
    state = ok(shoal.api("GET", "/setup"))
    assert step(state, "republish")["status"] == "todo"
    assert step(state, "republish")["audiences"]["to_import"] == 1
    state = ok(shoal.api("POST", "/setup/republish"))
    part = step(state, "republish")["audiences"]
    assert step(state, "republish")["status"] == "done" and part["imported"] == 2
