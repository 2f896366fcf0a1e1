"""In the browser: configure a webhook destination, send it a test event, watch deliveries,
and replay a dead letter once the receiver accepts again."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.destinations.conftest import DESTINATION_ENV
from tests.destinations.receiver import Received, Receiver, Reply
from tests.inprocess import basic
from tests.server import ShoalServer
from tests.web.ui.conftest import LAPTOP, PHONE, shot
from tests.web.ui.pages import unbatched_webhook, wait_until


class Vendor:
    """The receiver's answers: 200, or 422 for events named "Refused"."""

    def __init__(self) -> None:
        self.strict = True

    def __call__(self, request: Received) -> Reply:
        names = [m.get("event") for m in request.json().get("batch", [request.json()])]
        if self.strict and "Refused" in names:
            return 422, {"error": "unknown event Refused"}
        return 200, {"received": len(names)}


@pytest.fixture(scope="module")
def shoal(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ShoalServer]:
    """A real ``shoal serve`` whose destinations may reach the loopback receiver."""
    server = ShoalServer(tmp_path_factory.mktemp("ui-dest") / "data", env=DESTINATION_ENV)
    try:
        yield server.start()
    finally:
        server.stop()


@pytest.fixture(scope="module")
def vendor() -> Vendor:
    return Vendor()


@pytest.fixture(scope="module")
def receiver(vendor: Vendor) -> Iterator[Receiver]:
    with Receiver(vendor) as running:
        yield running


def _fits_the_screen(page: Page) -> bool:
    return bool(page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"))


def test_configure_a_webhook_and_send_it_a_test_event(
    signed_in: Page, shoal: ShoalServer, receiver: Receiver, screenshots: Path
) -> None:
    page = signed_in
    shoal.create_source("Web shop")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Destinations").click()
    expect(page.get_by_text("No dev destinations yet")).to_be_visible()
    page.get_by_role("link", name="Add your first destination").click()
    page.get_by_role("radio", name=re.compile("^Webhook")).check()
    page.get_by_role("button", name="Next").click()
    expect(page.get_by_role("heading", name=re.compile("Add a Webhook"))).to_be_visible()
    expect(page.get_by_label("Shared secret")).to_have_attribute("type", "password")
    page.get_by_label("Destination name").fill("Shop hook")
    page.get_by_label("URL", exact=True).fill(receiver.url + "/shop")
    page.get_by_label("Shared secret").fill("hush")
    page.get_by_label("Headers").fill("not json")
    page.get_by_role("button", name="Create destination").click()
    expect(page.get_by_role("alert")).to_contain_text("Headers: write a JSON object")
    expect(page.get_by_label("Destination name")).to_have_value("Shop hook")
    page.get_by_label("Headers").fill('{"X-Shop": "main"}')
    page.get_by_label("Shared secret").fill("hush")
    expect(page.get_by_role("checkbox", name=re.compile("Web shop"))).to_be_checked()
    page.get_by_role("button", name="Create destination").click()
    expect(page.get_by_role("status").first).to_contain_text("Created dev destination 'Shop hook'")
    expect(page.locator(".kv").nth(1)).to_contain_text("set (secret, not shown)")

    before = page.url
    page.get_by_role("button", name="Send test event").click()
    answer = page.locator("#test-answer")
    expect(answer).to_contain_text("The vendor accepted the test event.")
    expect(answer).to_contain_text("HTTP 200")
    assert page.url == before  # swapped in place: reloading the page sends nothing again
    test = receiver.accepted()[-1]
    assert json.loads(test.body)["batch"][0]["event"] == "Test Event Sent"
    assert test.headers["X-Shop"] == "main"
    shot(page, screenshots, "destination")

    # Disable and enable in place (htmx), from the keyboard.
    page.get_by_role("button", name="Disable destination").focus()
    page.keyboard.press("Enter")
    expect(page.get_by_role("button", name="Enable destination")).to_be_visible()
    expect(page.locator("#enabled-panel")).to_contain_text("nothing is delivered")
    page.get_by_role("button", name="Enable destination").click()
    expect(page.get_by_role("button", name="Disable destination")).to_be_visible()
    page.get_by_role("link", name="Settings", exact=True).click()
    secret = page.get_by_role("textbox", name=re.compile("^Shared secret"))
    expect(secret).to_have_attribute("placeholder", "set — leave blank to keep it")
    expect(page.get_by_role("checkbox", name="Remove the shared secret")).not_to_be_checked()
    shot(page, screenshots, "destination-settings")
    page.goto("/destinations")
    expect(page.get_by_role("link", name="Shop hook")).to_be_visible()
    shot(page, screenshots, "destinations")


def test_replay_a_dead_letter_from_the_delivery_dashboard(
    signed_in: Page, shoal: ShoalServer, receiver: Receiver, vendor: Vendor, screenshots: Path
) -> None:
    page = signed_in
    source = shoal.create_source("Back office")
    body = unbatched_webhook("Office hook", receiver.url + "/office", source["id"])
    created = shoal.api("POST", "/destinations", json=body)
    assert created.status_code == 201, created.text
    destination_id = created.json()["id"]
    batch = [
        {"type": "track", "userId": "ops-1", "event": "Shipped", "messageId": "ok-1"},
        {"type": "track", "userId": "ops-1", "event": "Refused", "messageId": "dead-1"},
    ]
    sent = httpx.post(
        shoal.url + "/v1/batch", json={"batch": batch}, headers=basic(source["write_key"])
    )
    assert sent.status_code == 200
    # Delivery runs in the background: wait until the refused event is dead-lettered.
    wait_until(
        lambda: shoal.api("GET", f"/destinations/{destination_id}/dead-letters").json()["total"]
    )
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Deliveries").click()
    card = page.get_by_role("region", name="Office hook")
    expect(card.get_by_role("button", name="Replay 1 dead letter")).to_be_enabled()
    expect(card.locator("figcaption")).to_contain_text("Delivered 1")
    expect(card.locator("figcaption")).to_contain_text("Failed 1")
    shot(page, screenshots, "deliveries")

    card.get_by_role("link", name="see them").click()
    letters = page.get_by_role("region", name="Dead letters")
    expect(letters).to_contain_text("Refused")
    expect(letters).to_contain_text("HTTP 422")
    letters.get_by_text("What the vendor answered").click()
    expect(letters.locator("pre")).to_contain_text("unknown event Refused")
    shot(page, screenshots, "dead-letters")

    vendor.strict = False
    page.get_by_role("button", name="Replay 1 dead letter").click()
    expect(page.get_by_role("status").first).to_contain_text("Replaying 1 event to 'Office hook'")
    wait_until(lambda: any(m.get("messageId") == "dead-1" for m in receiver.messages()))
    expect(page.get_by_role("region", name="Dead letters")).not_to_contain_text("waiting")
    page.set_viewport_size(PHONE)
    page.goto("/deliveries")
    assert _fits_the_screen(page)
    shot(page, screenshots, "deliveries-phone")
    page.set_viewport_size(LAPTOP)
    page.goto(f"/destinations/{destination_id}/deliveries")
    expect(page.get_by_role("region", name="Replays")).to_contain_text("dead letters")
