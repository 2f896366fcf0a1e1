"""A new owner walks the guided setup in the browser, screen by screen as Segment's guide does.

Welcome -> "What is your business goal?" -> "Which use case would you like to set up?" ->
dev/prod explanation -> Setup checklist (Dev tab) -> Review suggested events -> Connect dev
sources (the code to paste and a live "waiting for events..." that turns green when events
sent with the official Python SDK arrive) -> the checklist's per-event progress -> Connect
dev destinations (a Webhook to a real receiver on 127.0.0.1, its settings form, a test
event and the receiver's answer) -> Prod tab -> publish sources and destinations -> Mark as
complete (refused until prod events arrive) -> prod events reach the prod webhook copy ->
Add default identifiers (the dialog, Dev tab) -> Create audience (the Engage form, Dev tab,
prefilled with the audience suggested for the use case; a bad definition is refused in the
form) -> Import rules (the republish screen, Prod tab: the identity rules and the audience
are imported), checked against the identity and audiences APIs.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import segment.analytics as segment_analytics
from playwright.sync_api import Page, expect

from shoal.catalog.snippets import example_value
from shoal.destinations.webhook import SIGNATURE_HEADER, verify
from tests.destinations.conftest import DESTINATION_ENV
from tests.destinations.receiver import Received, Receiver
from tests.server import ShoalServer
from tests.web.ui.conftest import PHONE, shot, sign_in

GOAL = "Personalize communications and product experiences"
USE_CASE = "Personalize winback"
LAPSED = "event('Order Completed') and not event('Order Completed').within(90 days)"


@pytest.fixture(scope="module")
def shoal(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ShoalServer]:
    """A real ``shoal serve`` whose destinations may reach the loopback receiver."""
    server = ShoalServer(tmp_path_factory.mktemp("ui-setup") / "data", env=DESTINATION_ENV)
    try:
        yield server.start()
    finally:
        server.stop()


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    """The webhook's vendor: a real HTTP server on 127.0.0.1 that answers like one."""
    with Receiver(lambda _request: (200, {"received": True})) as running:
        yield running


def delivered(receiver: Receiver, message_ids: set[str]) -> list[Received]:
    """The webhook requests carrying ``message_ids`` (batches unpacked), once all arrived."""
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        found = [
            r
            for r in receiver.accepted()
            for m in r.json().get("batch", [])
            if m.get("messageId") in message_ids
        ]
        seen = {m["messageId"] for r in found for m in r.json()["batch"]}
        if message_ids <= seen:
            return found
        time.sleep(0.1)
    raise AssertionError(f"{message_ids} did not all reach the webhook")


def connect_webhook(page: Page, receiver: Receiver, screenshots: Path) -> None:
    """Connect dev destinations: recommended types, a Webhook with its settings, a test."""
    page.locator("#step-dev_destinations").get_by_role("link", name="Connect").click()
    expect(page.get_by_role("heading", name="Choose a destination")).to_be_visible()
    expect(page.get_by_role("radio", name=re.compile("^Reverse ETL"))).to_be_disabled()
    expect(page.get_by_text("Shoal has no Reverse ETL")).to_be_visible()
    for offered in ("Braze", "Mixpanel", "Customer.io", "Twilio"):
        expect(page.get_by_role("radio", name=re.compile(f"^{offered}"))).to_be_enabled()
    shot(page, screenshots, "setup-choose-destination")
    page.get_by_role("radio", name=re.compile("^Webhook")).check()
    page.get_by_role("button", name="Next").click()

    # The settings form comes from the adapter's settings model; secrets are password inputs.
    expect(page.get_by_role("heading", name="Add a Webhook destination")).to_be_visible()
    expect(page.get_by_label("Shared secret")).to_have_attribute("type", "password")
    expect(page.get_by_label("Method")).to_have_value("POST")
    expect(page.get_by_label("Batch", exact=True)).to_be_checked()
    page.get_by_label("Destination name").fill("Orders hook")
    page.get_by_label("URL", exact=True).fill("http://10.0.0.1/hook")
    page.get_by_label("Shared secret").fill("s3cret")
    page.get_by_role("button", name="Create destination").click()
    expect(page.get_by_role("alert")).to_contain_text("SHOAL_DESTINATIONS_ALLOWED_NETWORKS")
    expect(page.get_by_label("Destination name")).to_have_value("Orders hook")
    expect(page.get_by_label("Shared secret")).to_have_value("")  # never sent back
    page.get_by_label("URL", exact=True).fill(receiver.url + "/hook")
    page.get_by_label("Shared secret").fill("s3cret")
    expect(page.get_by_role("checkbox", name=re.compile("Website \\(dev\\)"))).to_be_checked()
    shot(page, screenshots, "setup-destination-settings")
    page.get_by_role("button", name="Create destination").click()
    expect(page.get_by_text("Connected dev destination 'Orders hook'.")).to_be_visible()
    expect(page.locator(".kv")).to_contain_text("set (secret, not shown)")
    expect(page.locator(".kv")).not_to_contain_text("s3cret")

    # Send a test event: the receiver's answer shows on the page.
    page.get_by_role("button", name="Send test event").click()
    answer = page.locator("#test-answer")
    expect(answer).to_contain_text("The vendor accepted the test event.")
    expect(answer).to_contain_text("HTTP 200")
    expect(answer).to_contain_text('{"received": true}')
    (sample,) = receiver.accepted()
    assert json.loads(sample.body)["batch"][0]["event"] == "Test Event Sent"
    assert verify("s3cret", sample.headers[SIGNATURE_HEADER], sample.body)
    shot(page, screenshots, "setup-destination-test")
    page.get_by_role("link", name="Done").click()
    expect(page.locator("#step-dev_destinations .badge")).to_have_text("Done")
    expect(page.locator("#step-dev_destinations")).to_contain_text("Orders hook")


def send_suggested_events(shoal: ShoalServer, write_key: str) -> None:
    """Send each suggested event once, with properties of the planned types."""
    state = shoal.api("GET", "/setup").json()
    review = next(s for s in state["steps"] if s["id"] == "review_events")
    client = segment_analytics.Client(write_key, host=shoal.url, sync_mode=False)
    for event in review["events"]:
        props: dict[str, Any] = {
            p["name"]: example_value(p["name"], p.get("type")) for p in event["properties"]
        }
        if event["call"] == "page":
            client.page("winback-user", name="Home", properties=props)
        elif event["call"] == "screen":
            client.screen("winback-user", name="Home", properties=props)
        else:
            client.track("winback-user", event["name"], props)
    client.flush()
    client.shutdown()


def test_new_owner_walks_the_guided_setup(
    signed_in: Page, shoal: ShoalServer, receiver: Receiver, screenshots: Path
) -> None:
    page = signed_in
    # Welcome: a brand-new workspace lands here.
    expect(page).to_have_url(re.compile(r"/welcome$"))
    expect(page.get_by_text("Welcome to Shoal")).to_be_visible()
    shot(page, screenshots, "welcome")
    page.get_by_role("link", name="Get started").click()

    # What is your business goal? Four goals with their key considerations.
    expect(page.get_by_role("heading", name="What is your business goal?")).to_be_visible()
    expect(page.locator(".option-card")).to_have_count(4)
    expect(page.get_by_text("Key considerations").first).to_be_visible()
    expect(page.get_by_text("Do you need to prevent churn among your high-value customers?"))
    page.get_by_role("button", name="Next").click()  # nothing chosen: the browser insists
    expect(page).to_have_url(re.compile(r"/setup/goal$"))
    shot(page, screenshots, "setup-goal")
    page.get_by_role("radio", name=re.compile(f"^{GOAL}")).check()
    page.get_by_role("button", name="Next").click()

    # Which use case would you like to set up? With descriptions.
    expect(page.get_by_role("heading", name="Which use case would you like to set up?"))
    winback = page.get_by_role("radio", name=re.compile(f"^{USE_CASE}"))
    expect(page.locator(".option-card", has=winback)).to_contain_text("re-engagement")
    shot(page, screenshots, "setup-use-case")
    winback.check()
    page.get_by_role("button", name="Next").click()

    # The dev/prod explanation.
    expect(page.get_by_role("heading", name="Working with dev and prod environments"))
    expect(page.get_by_text("Start with development (dev) sources")).to_be_visible()
    page.get_by_role("button", name="Next").click()

    # The Setup checklist, Dev tab.
    expect(page.get_by_role("heading", name="Setup checklist")).to_be_visible()
    expect(page.get_by_role("link", name="Dev environment")).to_have_attribute(
        "aria-current", "page"
    )
    review_item = page.locator("#step-review_events")
    expect(review_item.locator(".badge")).to_have_text("To do")
    destinations_item = page.locator("#step-dev_destinations")
    expect(destinations_item.locator(".badge")).to_have_text("Not yet")
    expect(destinations_item.locator(".chip-off")).to_have_text("Reverse ETL")
    review_item.get_by_role("link", name="Review").click()

    # Review suggested events: the table and the warning that the use case locks.
    table = page.locator("#suggested-events")
    for name in ("Page Viewed", "Page Scrolled", "Order Completed"):
        expect(table).to_contain_text(name)
    expect(table.locator("tr", has_text="Order Completed")).to_contain_text("checkout_id")
    expect(page.get_by_role("note")).to_contain_text("you can no longer change the use case")
    shot(page, screenshots, "setup-review")
    page.get_by_role("button", name="Confirm events and lock use case").click()
    expect(page.get_by_text("the use case is locked")).to_be_visible()
    expect(page.locator("#step-review_events .badge")).to_have_text("Done")
    expect(page.get_by_role("button", name="Change use case")).to_have_count(0)

    # Connect dev sources: recommended types; Reverse ETL is not available yet.
    page.locator("#step-dev_sources").get_by_role("link", name="Connect").click()
    expect(page.get_by_role("radio", name=re.compile("^Reverse ETL"))).to_be_disabled()
    page.get_by_role("radio", name=re.compile("^Website")).check()
    page.get_by_label("Source name").fill("Website (dev)")
    page.get_by_role("button", name="Create source").click()
    expect(page.get_by_text("Connected dev source 'Website (dev)'.")).to_be_visible()
    write_key = page.get_by_label("Write key").input_value()
    expect(page.locator(".code-panel code").first).to_contain_text(write_key)
    waiting = page.locator(".live")
    expect(waiting).to_have_text(re.compile("Waiting for events"))
    expect(waiting).not_to_have_class(re.compile("live-ok"))
    shot(page, screenshots, "setup-connect-source")

    send_suggested_events(shoal, write_key)
    expect(waiting).to_have_class(re.compile("live-ok"))
    expect(waiting).to_contain_text("Events are arriving: 3 received")
    page.get_by_role("link", name="Done").click()

    # The checklist checks itself: each suggested event arrived, without reloading.
    rows = page.locator("#progress tr[data-event]")
    expect(rows).to_have_count(3)
    expect(page.locator("#progress tr[data-status=ok]")).to_have_count(3)
    expect(page.locator("#step-dev_sources .badge")).to_have_text("Done")
    shot(page, screenshots, "setup-checklist")
    connect_webhook(page, receiver, screenshots)

    # Prod tab: publish, Mark as complete is refused until prod events arrive.
    page.get_by_role("link", name="Prod environment").click()
    expect(page.get_by_role("link", name="Prod", exact=True)).to_have_attribute(
        "aria-current", "true"
    )
    page.locator("#step-publish").get_by_role("link", name="Connect").click()
    expect(page.get_by_role("checkbox", name=re.compile("Website \\(dev\\)"))).to_be_checked()
    expect(page.get_by_role("checkbox", name=re.compile("^Orders hook"))).to_be_checked()
    page.get_by_role("button", name="Continue").click()
    expect(page.get_by_text("Published to prod")).to_be_visible()
    copies = page.locator("#prod-destinations")
    expect(copies).to_contain_text("Orders hook")
    expect(copies.locator(".badge-prod")).to_have_count(1)
    prod_key = page.get_by_label("Prod write key").input_value()
    assert prod_key != write_key
    page.get_by_role("button", name="Mark as complete").click()
    expect(page.get_by_role("alert")).to_contain_text("no accepted events have arrived yet")
    send_suggested_events(shoal, prod_key)
    expect(page.locator(".live")).to_have_class(re.compile("live-ok"))
    # The prod copy of the webhook delivers what the prod source received, signed with the
    # secret copied on the server.
    state = shoal.api("GET", "/setup").json()
    (prod_source,) = next(s for s in state["steps"] if s["id"] == "publish")["prod_sources"]
    sent = {e["messageId"] for e in shoal.wait_for_events(prod_source["id"], 3)}
    for request in delivered(receiver, sent):
        assert verify("s3cret", request.headers[SIGNATURE_HEADER], request.body)
    page.reload()
    expect(page.locator("#prod-destinations [data-delivered]")).to_have_text("3")
    shot(page, screenshots, "setup-publish")
    page.get_by_role("button", name="Mark as complete").click()
    expect(page.get_by_text("Your data is now in production")).to_be_visible()
    expect(page.get_by_text("Setup complete")).to_be_visible()
    expect(page.locator("#step-prod_destinations .check-side .badge")).to_have_text("Done")
    expect(page.locator("#step-prod_destinations")).to_contain_text("Orders hook")
    expect(page.locator("#progress tr[data-status=ok]")).to_have_count(3)

    assert shoal.api("GET", "/setup").json()["status"] == "complete"
    activate_your_data(page, shoal, write_key, screenshots)

    page.set_viewport_size(PHONE)
    page.goto("/setup?env=dev")
    shot(page, screenshots, "setup-checklist-phone", full_page=False)


def computed_audience(shoal: ShoalServer, key: str, timeout: float = 30.0) -> dict[str, Any]:
    """The dev audience ``key`` once its first computation (in the background) finished."""
    deadline = time.monotonic() + timeout
    found: dict[str, Any] = shoal.api("GET", f"/audiences/{key}").json()
    while found["status"] == "pending" and time.monotonic() < deadline:
        time.sleep(0.1)
        found = shoal.api("GET", f"/audiences/{key}").json()
    assert found["status"] == "ready", found
    return found


def activate_your_data(page: Page, shoal: ShoalServer, write_key: str, screenshots: Path) -> None:
    """Add default identifiers (dialog, Dev tab), create the suggested audience (Engage
    form, Dev tab), then Import rules (Prod tab), which imports the audience too."""
    activate = page.locator(".activate")
    prod_engage = activate.locator("#step-engage_audience")
    expect(prod_engage.locator(".badge")).to_have_text("Not yet")
    expect(prod_engage).to_contain_text("The dev space has no audiences yet")
    expect(activate.get_by_role("button", name="Import audiences")).to_be_disabled()
    expect(page.locator("#step-republish .badge")).to_have_text("Not yet")
    expect(activate.get_by_role("button", name="Import rules")).to_be_disabled()

    page.get_by_role("link", name="Dev environment").click()
    engage = page.locator("#step-engage_audience")
    expect(engage.locator(".badge")).to_have_text("Not yet")
    expect(engage).to_contain_text("Add the default identifiers first")
    expect(engage.get_by_role("button", name="Create audience")).to_be_disabled()
    unify = page.locator("#step-unify_identifiers")
    expect(unify.locator(".badge")).to_have_text("To do")
    unify.get_by_role("button", name="Add default identifiers").click()
    dialog = page.get_by_role("dialog", name="Add default identifiers")
    expect(dialog).to_be_visible()
    expect(dialog.locator("tr[data-identifier]")).to_have_count(11)
    first = dialog.locator("tr[data-identifier]").first
    expect(first).to_have_attribute("data-identifier", "user_id")
    expect(first).to_contain_text("1 (ever)")
    expect(dialog.locator("tr[data-identifier=email]")).to_contain_text("5 (ever)")
    shot(page, screenshots, "setup-add-identifiers", full_page=False)
    dialog.get_by_role("button", name="Add", exact=True).click()
    expect(page.get_by_text("Added the default identifiers")).to_be_visible()
    expect(unify.locator(".badge")).to_have_text("Done")
    expect(unify).to_contain_text("11 identifiers: user_id (limit 1), email (limit 5)")
    dev = shoal.api("GET", "/spaces/dev/identity").json()
    assert dev["saved"] and [r["type"] for r in dev["identifiers"]][:2] == ["user_id", "email"]
    assert shoal.api("GET", "/spaces/prod/identity").json()["saved"] is False

    # A customer whose only order was four months ago: the winback audience's member.
    state = shoal.api("GET", "/setup").json()
    review = next(s for s in state["steps"] if s["id"] == "review_events")
    order = next(e for e in review["events"] if e["name"] == "Order Completed")
    props = {p["name"]: example_value(p["name"], p.get("type")) for p in order["properties"]}
    client = segment_analytics.Client(write_key, host=shoal.url, sync_mode=True)
    client.track(
        "lapsed-user",
        "Order Completed",
        props,
        timestamp=datetime.now(UTC) - timedelta(days=120),
    )  # sync_mode: sent when this returns
    (dev_source,) = next(s for s in state["steps"] if s["id"] == "dev_sources")["sources"]
    assert any(e["userId"] == "lapsed-user" for e in shoal.wait_for_events(dev_source["id"], 4))

    # Engage: the form is prefilled with the audience suggested for Personalize winback.
    expect(engage.locator(".badge")).to_have_text("To do")
    expect(engage).to_contain_text("Customers who ordered before but not in the last 90 days")
    name, definition = page.get_by_label("Audience name"), page.get_by_label("Definition")
    expect(name).to_have_value("Lapsed customers")
    expect(definition).to_have_value(LAPSED)
    definition.fill("event('Order Completed'.count() >= 2")
    engage.get_by_role("button", name="Create audience").click()
    error = page.locator("#engage-error")
    expect(error).to_have_attribute("role", "alert")
    expect(error).to_contain_text("line 1, column 24")
    expect(definition).to_have_value("event('Order Completed'.count() >= 2")  # kept as typed
    assert shoal.api("GET", "/audiences", params={"space": "dev"}).json()["audiences"] == []
    definition.fill(LAPSED)
    engage.get_by_role("button", name="Create audience").click()
    expect(page.get_by_text("Created audience 'Lapsed customers' in dev")).to_be_visible()
    expect(engage.locator(".badge")).to_have_text("Done")
    created = computed_audience(shoal, "lapsed_customers")
    assert created["text"] == LAPSED and created["space"] == "dev" and created["size"] == 1
    page.reload()
    listed = page.locator("#dev-audiences li[data-audience=lapsed_customers]")
    expect(listed).to_contain_text("Lapsed customers")
    expect(listed.locator("[data-audience-status]")).to_have_text("ready, 1 member")
    expect(page.locator("#progress tr[data-status=ok]")).to_have_count(3)
    shot(page, screenshots, "setup-engage")
    engage.get_by_text("Create another audience").click()
    expect(page.get_by_label("Audience name")).to_have_value("")  # the suggestion is taken
    expect(page.get_by_label("Definition")).to_have_value(LAPSED)

    # Prod tab: the audience waits for republishing; Import rules imports it with the rules.
    page.get_by_role("link", name="Prod environment").click()
    expect(prod_engage.locator(".badge")).to_have_text("To do")
    expect(prod_engage.locator("li[data-audience=lapsed_customers]")).to_contain_text(
        "not in prod yet"
    )
    page.locator("#step-republish").get_by_role("link", name="Import rules").click()
    expect(page.get_by_role("heading", name="Republish to prod")).to_be_visible()
    to_import = page.get_by_role("table", name="Dev identity rules")
    expect(to_import.locator("tr[data-identifier]")).to_have_count(11)
    expect(page.get_by_role("table", name="Prod identity rules")).to_contain_text("None saved")
    audiences = page.get_by_role("table", name="Dev audiences")
    expect(audiences.locator("tr[data-audience=lapsed_customers]")).to_contain_text(
        "Not in prod yet: will be imported"
    )
    expect(audiences).to_contain_text(LAPSED)
    shot(page, screenshots, "setup-republish")
    page.get_by_role("button", name="Import", exact=True).click()
    expect(page.get_by_text("Imported the dev identity rules into prod")).to_be_visible()
    expect(
        page.get_by_text("Prod has every dev audience (1 imported by the setup)")
    ).to_be_visible()
    expect(page.locator("#step-republish .badge")).to_have_text("Done")
    expect(page.locator("#step-republish")).to_contain_text("Prod has the same identity rules")
    expect(prod_engage.locator(".badge")).to_have_text("Done")
    expect(prod_engage).to_contain_text("Imported by the setup: 1.")
    prod = shoal.api("GET", "/spaces/prod/identity").json()
    assert prod["saved"] and prod["identifiers"] == dev["identifiers"]
    (copy,) = shoal.api("GET", "/audiences", params={"space": "prod"}).json()["audiences"]
    assert (copy["key"], copy["name"], copy["definition"]) == (
        "lapsed_customers",
        "Lapsed customers",
        created["definition"],
    )


def test_a_member_follows_but_cannot_change_the_setup(page: Page, shoal: ShoalServer) -> None:
    added = shoal.api("POST", "/members", json={"email": "mia@example.com", "name": "Mia"})
    assert added.status_code == 201, added.text
    sign_in(page, added.json()["token"], "/setup/review")
    expect(page.get_by_role("heading", name="Review suggested events")).to_be_visible()
    expect(page.locator(".role")).to_have_text("member")
    page.goto("/setup/sources")
    expect(page.get_by_text("Only a workspace owner can change the guided setup")).to_be_visible()
    expect(page.get_by_role("button", name="Create source")).to_be_disabled()
    page.goto("/setup/republish")
    expect(page.get_by_role("button", name="Import", exact=True)).to_be_disabled()
    page.goto("/setup?env=dev")
    page.get_by_text("Create another audience").click()
    expect(page.get_by_role("button", name="Create audience")).to_be_disabled()
    page.get_by_role("button", name="Add default identifiers").click()
    dialog = page.get_by_role("dialog", name="Add default identifiers")
    expect(dialog.get_by_role("button", name="Add", exact=True)).to_be_disabled()
