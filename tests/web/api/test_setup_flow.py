"""A new owner walks the whole guided setup, sending with the official Segment SDK.

Optimize advertising -> Mitigate cart abandonment; review the events; connect a dev
website source; connect a dev webhook destination (a real receiver on 127.0.0.1) and test
it; send the suggested events (one with a wrong property type, one unplanned event);
watch progress and violations; publish to prod (the webhook is copied); send from prod and
see the prod copy deliver; complete; add the default identifiers (Unify) and republish
the identity rules to prod (Engage and importing audiences: test_setup_engage.py).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
import segment.analytics as segment_analytics

from shoal.destinations.webhook import SIGNATURE_HEADER, verify
from tests.destinations.conftest import DESTINATION_ENV
from tests.destinations.receiver import Receiver
from tests.server import ShoalServer

pytestmark = pytest.mark.sdk


@pytest.fixture(scope="module")
def shoal(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ShoalServer]:
    """A real ``shoal serve`` whose destinations may reach the loopback receiver."""
    server = ShoalServer(tmp_path_factory.mktemp("setup") / "data", env=DESTINATION_ENV)
    try:
        yield server.start()
    finally:
        server.stop()


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    """The webhook's vendor: a real HTTP server on 127.0.0.1."""
    with Receiver(lambda _request: (200, {"received": True})) as running:
        yield running


CHECKOUT = {
    "num_items": 2,
    "order_id": "order-1",
    "coupon": "SPRING",
    "total": 42.5,
    "revenue": 40.0,
    "shipping": 2.5,
    "tax": 3.1,
    "affiliation": "web shop",
    "discount": 5,
}
ORDER = {
    "num_items": 2,
    "order_id": "order-1",
    "checkout_id": "checkout-1",
    "total": 42.5,
    "revenue": 40.0,
    "shipping": 2.5,
    "tax": 3.1,
    "affiliation": "web shop",
    "products": [{"product_id": "p-1", "price": 20.0, "quantity": 2}],
}


def ok(response: Any, status: int = 200) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    return body


def send_with_sdk(shoal: ShoalServer, write_key: str, *calls: tuple[str, dict[str, Any]]) -> None:
    client = segment_analytics.Client(write_key, host=shoal.url, sync_mode=False)
    for name, properties in calls:
        client.track(user_id="shopper-1", event=name, properties=properties)
    client.flush()
    client.join()


def step(state: dict[str, Any], step_id: str) -> dict[str, Any]:
    found: dict[str, Any] = next(s for s in state["steps"] if s["id"] == step_id)
    return found


def event_progress(state: dict[str, Any], name: str) -> dict[str, Any]:
    found: dict[str, Any] = next(e for e in state["progress"]["events"] if e["name"] == name)
    return found


def wait_for_progress(shoal: ShoalServer, check: Any, timeout: float = 15.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    state = ok(shoal.api("GET", "/setup"))
    while not check(state) and time.monotonic() < deadline:
        time.sleep(0.1)
        state = ok(shoal.api("GET", "/setup"))
    assert check(state), state["progress"]
    return state


def connect_webhook(
    shoal: ShoalServer, state: dict[str, Any], receiver: Receiver, dev_source_id: str
) -> dict[str, Any]:
    """Connect dev destinations: offered by category; a signed webhook; its test answer."""
    destinations = step(state, "dev_destinations")
    assert destinations["available"] is True and destinations["status"] == "todo"
    assert state["current_step"] == "dev_destinations"
    offered = {r["type"]: [a["name"] for a in r["adapters"]] for r in destinations["recommended"]}
    assert offered == {
        "Reverse ETL": [],
        "Analytics": ["mixpanel"],
        "Advertising": ["meta_conversions"],
    }
    assert "no Reverse ETL" in destinations["recommended"][0]["message"]
    assert "webhook" in [a["name"] for a in destinations["also_accepted"]]
    settings = {"url": receiver.url + "/shoal", "shared_secret": "s3cret", "batch": False}
    body = {"type": "webhook", "name": "Orders hook", "settings": settings}
    state = ok(shoal.api("POST", "/setup/dev-destinations", json=body))
    (hook,) = step(state, "dev_destinations")["destinations"]
    assert (hook["type"], hook["category"], hook["environment"]) == ("webhook", "Raw Data", "dev")
    assert hook["source_ids"] == [dev_source_id] and hook["secrets_set"] == ["shared_secret"]
    assert "shared_secret" not in hook["settings"] and "s3cret" not in str(state)
    assert step(state, "dev_destinations")["status"] == "done"
    assert state["current_step"] == "publish"
    tested = ok(shoal.api("POST", f"/destinations/{hook['id']}/test"))
    assert tested["ok"] and tested["results"][0]["status"] == 200
    assert tested["results"][0]["response"] == '{"received": true}'
    (sample,) = receiver.accepted()
    assert verify("s3cret", sample.headers[SIGNATURE_HEADER], sample.body)
    return hook


def wait_for_messages(receiver: Receiver, message_ids: set[str]) -> list[Any]:
    """The receiver's requests carrying ``message_ids``, once all of them arrived."""
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        found = [r for r in receiver.accepted() if r.json().get("messageId") in message_ids]
        if {r.json()["messageId"] for r in found} == message_ids:
            return found
        time.sleep(0.05)
    raise AssertionError(f"{message_ids} did not all reach the webhook: {receiver.accepted()}")


def test_owner_walks_the_guided_setup_to_prod(shoal: ShoalServer, receiver: Receiver) -> None:
    state = ok(shoal.api("GET", "/setup"))
    assert state["status"] == "not_started" and state["eligibility"]["eligible"]
    assert state["current_step"] == "goal" and state["can_edit"] is True

    # 1-3: goal, use case, the dev/prod explanation.
    response = shoal.api("GET", "/catalog/business-goals")
    assert response.status_code == 200
    assert [g["id"] for g in response.json()] == [
        "optimize-advertising",
        "personalize-first-conversion",
        "boost-retention-upsell-and-cross-sell",
        "personalize-communications-and-product-experiences",
    ]
    state = ok(shoal.api("POST", "/setup/goal", json={"goal_id": "optimize-advertising"}))
    assert state["goal"]["name"] == "Optimize advertising" and state["current_step"] == "use_case"
    offered = [u["id"] for u in step(state, "use_case")["options"]]
    assert "mitigate-cart-abandonment" in offered
    body = {"use_case_id": "mitigate-cart-abandonment"}
    state = ok(shoal.api("POST", "/setup/use-case", json=body))
    assert state["current_step"] == "environments"
    state = ok(shoal.api("POST", "/setup/environments/acknowledge"))
    assert state["current_step"] == "review_events" and not state["use_case_locked"]

    # Checklist: review the suggested events -> a tracking plan; the use case is locked.
    state = ok(shoal.api("POST", "/setup/review-events"))
    assert state["use_case_locked"] and state["current_step"] == "dev_sources"
    reviewed = step(state, "review_events")["events"]
    assert [e["name"] for e in reviewed] == ["Checkout Started", "Order Completed"]
    plan = ok(shoal.api("GET", f"/plans/{state['plan_id']}"))
    revenue = plan["events"][1]["json_schema"]["properties"]["properties"]["properties"]
    assert revenue["revenue"] == {"type": "number"}

    # Connect a dev website source, offered from the recommended types.
    recommended = step(state, "dev_sources")["recommended"]
    assert {r["type"]: r["available"] for r in recommended} == {
        "Website": True,
        "Mobile": True,
        "Reverse ETL": False,
    }
    body = {"type": "Website", "name": "Storefront"}
    state = ok(shoal.api("POST", "/setup/dev-sources", json=body))
    (dev,) = step(state, "dev_sources")["sources"]
    assert dev["type"] == "website" and dev["environment"] == "dev"
    hook = connect_webhook(shoal, state, receiver, dev["id"])

    # Code to paste, filled in for this source and server.
    items = ok(shoal.api("GET", "/setup/snippets"))["items"]
    js = next(s for s in items[0]["snippets"] if s["library"] == "analytics.js")
    assert dev["write_key"] in js["code"] and shoal.url in js["code"]

    # Send with the official SDK: one wrong property type, one unplanned event.
    send_with_sdk(
        shoal,
        dev["write_key"],
        ("Checkout Started", CHECKOUT),
        ("Order Completed", {**ORDER, "revenue": "40.00"}),
        ("Coupon Entered", {"coupon": "SPRING"}),
    )
    feed = {e["event"]: e for e in shoal.wait_for_events(dev["id"], 3)}
    assert feed["Checkout Started"]["violations"] == []
    (wrong,) = feed["Order Completed"]["violations"]
    assert (wrong["property"], wrong["expected"], wrong["actual"]) == (
        "revenue",
        "number",
        "string",
    )
    assert feed["Coupon Entered"]["violations"][0]["type"] == "unplanned_event"
    assert {e["status"] for e in feed.values()} == {"accepted"}, "the plan flags, never drops"

    state = wait_for_progress(shoal, lambda s: event_progress(s, "Order Completed")["dev"]["count"])
    checkout, order = (
        event_progress(state, "Checkout Started"),
        event_progress(state, "Order Completed"),
    )
    assert checkout["dev"]["status"] == "ok" and checkout["dev"]["sources"][0]["id"] == dev["id"]
    assert order["dev"]["status"] == "problems"
    assert order["dev"]["invalid_properties"] == [
        {"property": "revenue", "expected": "number", "problem": "invalid_type", "events": 1}
    ]
    assert state["progress"]["unplanned_events"]["dev"][0]["name"] == "Coupon Entered"
    assert state["progress"]["dev_ready"] is False

    # Fix the call; dev is now ready.
    send_with_sdk(shoal, dev["write_key"], ("Order Completed", ORDER))
    state = wait_for_progress(shoal, lambda s: s["progress"]["dev_ready"])

    # Publish: a prod source like the dev one, with its own write key; verify for real.
    refused = shoal.api("POST", "/setup/publish/complete")
    assert refused.status_code == 409 and refused.json()["code"] == "step_not_ready"
    state = ok(shoal.api("POST", "/setup/publish"))
    (prod,) = step(state, "publish")["prod_sources"]
    assert (prod["name"], prod["type"], prod["environment"]) == ("Storefront", "website", "prod")
    assert prod["write_key"] != dev["write_key"] and prod["dev_source_id"] == dev["id"]
    (copy,) = step(state, "publish")["prod_destinations"]
    assert copy["dev_destination_id"] == hook["id"] and copy["environment"] == "prod"
    assert (copy["settings"], copy["secrets_set"]) == (hook["settings"], ["shared_secret"])
    assert copy["source_ids"] == [prod["id"]]
    assert prod["id"] in ok(shoal.api("GET", f"/plans/{state['plan_id']}"))["source_ids"]
    refused = shoal.api("POST", "/setup/publish/complete")
    assert refused.status_code == 409 and refused.json()["code"] == "not_verified"
    assert "Storefront" in refused.json()["message"]

    send_with_sdk(
        shoal, prod["write_key"], ("Checkout Started", CHECKOUT), ("Order Completed", ORDER)
    )
    sent = {e["messageId"] for e in shoal.wait_for_events(prod["id"], 2)}
    delivered = wait_for_messages(receiver, sent)
    assert all(verify("s3cret", r.headers[SIGNATURE_HEADER], r.body) for r in delivered)
    prod_metrics = ok(shoal.api("GET", f"/destinations/{copy['id']}/metrics"))
    assert prod_metrics["delivered"] == 2, "the prod copy delivers the prod source's events"
    state = wait_for_progress(shoal, lambda s: s["progress"]["prod_live"])
    assert event_progress(state, "Order Completed")["prod"]["status"] == "ok"
    state = ok(shoal.api("POST", "/setup/publish/complete"))
    assert state["status"] == "complete" and step(state, "publish")["status"] == "done"

    activate_with_identity(shoal, state)


def activate_with_identity(shoal: ShoalServer, state: dict[str, Any]) -> None:
    """Unify adds the default identifiers in dev, which opens Engage; republishing imports
    the identity rules into prod, which then has dev's identifier settings."""
    order = [s["id"] for s in state["steps"]][-4:]
    assert order == ["publish", "unify_identifiers", "engage_audience", "republish"]
    assert state["current_step"] == "unify_identifiers"
    assert step(state, "republish")["status"] == "blocked"
    refused = shoal.api("POST", "/setup/republish")
    assert refused.status_code == 409 and refused.json()["code"] == "step_not_ready"
    assert "default identifiers" in refused.json()["message"]

    state = ok(shoal.api("POST", "/setup/unify/default-identifiers"))
    unify = step(state, "unify_identifiers")
    assert unify["status"] == "done" and unify["saved"] and unify["added_at"]
    assert [(r["priority"], r["type"], r["limit"]) for r in unify["identifiers"][:3]] == [
        (1, "user_id", 1),
        (2, "email", 5),
        (3, "android.id", 5),
    ]
    dev = ok(shoal.api("GET", "/spaces/dev/identity"))
    assert dev["saved"] and len(dev["identifiers"]) == 11
    assert [(r["priority"], r["type"], r["limit"]) for r in dev["identifiers"]] == [
        (r["priority"], r["type"], r["limit"]) for r in unify["identifiers"]
    ]
    again = ok(shoal.api("POST", "/setup/unify/default-identifiers"))
    assert step(again, "unify_identifiers") == unify, "adding them again changes nothing"
    assert ok(shoal.api("GET", "/spaces/dev/identity")) == dev

    assert step(state, "engage_audience")["status"] == "todo"
    assert state["current_step"] == "engage_audience"
    assert ok(shoal.api("GET", "/spaces/prod/identity"))["saved"] is False

    # Republishing before any audience exists imports the rules; there is no audience to copy.
    state = ok(shoal.api("POST", "/setup/republish"))
    republish = step(state, "republish")
    assert republish["status"] == "done" and republish["identity_rules"]["in_sync"] is True
    assert republish["audiences"]["available"] is True
    assert republish["audiences"]["audiences"] == [] and republish["audiences"]["imported"] == 0
    assert state["current_step"] == "engage_audience", "Engage is still to do"
    prod = ok(shoal.api("GET", "/spaces/prod/identity"))
    assert prod == {**dev, "space": "prod"}, "prod has dev's identifier settings"

    # A dev change shows as not republished until imported again.
    patch = {"limit": 2, "priority": 1}
    ok(shoal.api("PATCH", "/spaces/dev/identity/identifiers/email", json=patch))
    state = ok(shoal.api("GET", "/setup"))
    assert step(state, "republish")["status"] == "todo"
    assert step(state, "republish")["identity_rules"]["in_sync"] is False
    ok(shoal.api("POST", "/setup/republish"))
    ok(shoal.api("POST", "/setup/republish"))  # importing twice is harmless
    prod = ok(shoal.api("GET", "/spaces/prod/identity"))
    assert prod["identifiers"][0]["type"] == "email" and prod["identifiers"][0]["limit"] == 2
    assert prod["identifiers"] == ok(shoal.api("GET", "/spaces/dev/identity"))["identifiers"]
