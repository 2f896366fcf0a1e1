"""Sign in, create a source, paste its snippet, and watch its events arrive live in the debugger.

Events are sent with the official Python SDK (``segment-analytics-python``) and, for a
rejected one, raw HTTP; the page never reloads while they arrive.
"""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import segment.analytics as segment_analytics
from playwright.sync_api import Page, expect

from tests.server import ShoalServer
from tests.web.ui.conftest import PHONE, shot


def _sdk(shoal: ShoalServer, write_key: str) -> segment_analytics.Client:
    return segment_analytics.Client(write_key, host=shoal.url, sync_mode=False)


def test_sign_in_rejects_a_wrong_token_then_signs_in_and_out(
    page: Page, shoal: ShoalServer, screenshots: Path
) -> None:
    page.goto("/sources")
    expect(page).to_have_url(re.compile(r"/signin\?next=/sources$"))
    page.get_by_role("button", name="Sign in").click()  # empty: the browser asks for it
    page.get_by_label("API token").fill("not-a-token")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_contain_text("That token is not valid")
    shot(page, screenshots, "signin")
    page.get_by_label("API token").fill(shoal.token)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(re.compile(r"/sources$"))
    expect(page.get_by_role("status").first).to_contain_text("Signed in as owner@localhost")
    cookie = next(c for c in page.context.cookies() if c["name"] == "shoal_session")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Lax"
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_text("You are signed out.")).to_be_visible()
    page.goto("/sources")
    expect(page).to_have_url(re.compile(r"/signin"))


def test_environment_switch_and_empty_states(signed_in: Page, screenshots: Path) -> None:
    page = signed_in
    page.goto("/sources")
    page.get_by_role("navigation", name="Environment").get_by_role("link", name="Prod").click()
    expect(page.get_by_role("heading", name=re.compile("Sources"))).to_contain_text("prod")
    expect(page.get_by_text("No prod sources yet")).to_be_visible()
    page.goto("/debugger")
    expect(page.get_by_text("No prod sources to debug")).to_be_visible()
    page.goto("/no/such/page")
    expect(page.get_by_role("heading", name="Page not found")).to_be_visible()
    page.get_by_role("navigation", name="Environment").get_by_role("link", name="Dev").click()


def test_create_source_snippet_and_live_debugger(
    signed_in: Page, shoal: ShoalServer, screenshots: Path
) -> None:
    page = signed_in
    page.goto("/sources")
    page.get_by_role("link", name="Add source").click()
    page.get_by_role("button", name="Create source").click()
    expect(page.get_by_text("Give the source a name")).to_be_visible()
    expect(page.get_by_text("Choose what kind of source this is.")).to_be_visible()
    page.get_by_label("Name").fill("Backend (dev)")
    page.get_by_role("radio", name=re.compile("^Server")).check()
    page.get_by_role("button", name="Create source").click()
    expect(page.get_by_role("heading", name=re.compile("Backend"))).to_be_visible()
    source_id = page.url.split("/sources/")[1].split("?")[0]
    write_key = page.get_by_label("Write key").input_value()
    assert write_key == shoal.api("GET", f"/sources/{source_id}").json()["write_key"]

    # The snippet carries the write key and this server's address; Copy really copies.
    page.get_by_role("tab", name="analytics-python").click()
    code = page.get_by_role("tabpanel").locator("code")
    expect(code).to_contain_text(f'analytics.write_key = "{write_key}"')
    expect(code).to_contain_text(f'analytics.host = "{shoal.url}"')
    page.get_by_role("tab", name="analytics-python").press("ArrowRight")
    expect(page.get_by_role("tab", name="analytics-node")).to_be_focused()
    expect(page.get_by_role("tabpanel").locator("code")).to_contain_text("@segment/analytics-node")
    page.get_by_role("button", name="Copy").first.click()
    assert page.evaluate("navigator.clipboard.readText()") == write_key
    shot(page, screenshots, "source")

    # The debugger is live before anything is sent.
    page.get_by_role("link", name="Open the live debugger").click()
    expect(page.get_by_text("Live: new events appear at the top")).to_be_visible()
    expect(page.get_by_text("Waiting for events…")).to_be_visible()

    client = _sdk(shoal, write_key)
    client.identify("user-42", {"email": "ada@example.com", "plan": "pro"})
    client.track("user-42", "Order Completed", {"order_id": "o-1", "revenue": 42.5})
    client.page("user-42", name="Pricing", properties={"path": "/pricing"})
    client.flush()
    events = page.locator("[data-events] > li")
    expect(events).to_have_count(3)
    expect(page.get_by_text("Waiting for events…")).to_be_hidden()
    # Newest first, as the store numbered them.
    ids = [int(i) for i in events.evaluate_all("els => els.map(e => e.dataset.eventId)")]
    assert ids == sorted(ids, reverse=True)
    expect(events.first).to_have_attribute("data-type", "page")

    # A rejected event shows its status and the reason in words.
    sent = httpx.post(
        f"{shoal.url}/v1/track", auth=(write_key, ""), json={"event": "Anonymous Click"}
    )
    assert sent.status_code == 200
    rejected = page.locator("[data-events] > li[data-status=rejected]")
    expect(rejected).to_have_count(1)
    expect(rejected.locator(".ev-status")).to_have_text("rejected")
    rejected.locator("summary").click()
    expect(rejected.locator(".ev-reason")).to_contain_text(
        "the message has neither 'userId' nor 'anonymousId'"
    )
    expect(rejected.locator("pre")).to_contain_text('"event": "Anonymous Click"')
    # Pretty JSON of an accepted one, opened from the keyboard.
    track = page.locator("[data-events] > li[data-type=track][data-status=accepted]")
    track.locator("summary").focus()
    page.keyboard.press("Enter")
    expect(track.locator("pre")).to_contain_text('"revenue": 42.5')
    expect(track.locator(".j-key").first).to_be_visible()
    shot(page, screenshots, "debugger")

    # Filter by type, then by event name: the URL keeps the filter, the stream honours it.
    page.get_by_label("Type").select_option("track")
    page.get_by_role("button", name="Apply filters").click()
    expect(page).to_have_url(re.compile(r"type=track"))
    expect(page.locator("[data-events] > li")).to_have_count(2)
    expect(page.locator("[data-events] > li[data-type=track]")).to_have_count(2)
    page.get_by_label("Type").select_option("")
    page.get_by_label("Event name").fill("Order Completed")
    page.get_by_role("button", name="Apply filters").click()
    expect(page.locator("[data-events] > li")).to_have_count(1)
    client.track("user-42", "Product Viewed", {"product_id": "p-1"})
    client.track("user-42", "Order Completed", {"order_id": "o-2", "revenue": 10})
    client.flush()
    expect(page.locator("[data-events] > li")).to_have_count(2)
    expect(page.locator("[data-events] > li").first.locator("pre")).to_contain_text("o-2")

    # Pause holds new events back; Resume shows them.
    page.get_by_role("button", name="Pause").click()
    expect(page.get_by_text("Paused: new events are held")).to_be_visible()
    client.track("user-42", "Order Completed", {"order_id": "o-3", "revenue": 7})
    client.flush()
    expect(page.get_by_text("1 new while paused")).to_be_visible()
    expect(page.locator("[data-events] > li")).to_have_count(2)
    page.get_by_role("button", name="Resume").click()
    expect(page.locator("[data-events] > li")).to_have_count(3)
    expect(page.locator("[data-events] > li").first.locator("pre")).to_contain_text("o-3")
    client.shutdown()
    page.goto("/sources")
    expect(page.get_by_role("row", name=re.compile("Backend"))).to_contain_text("7")
    shot(page, screenshots, "sources")

    # On a phone the debugger still reads well.
    page.set_viewport_size(PHONE)
    page.goto(f"/sources/{source_id}/debugger")
    expect(page.locator("[data-events] > li")).to_have_count(7)
    shot(page, screenshots, "debugger-phone", full_page=False)


def test_disable_rotate_and_delete_a_source(signed_in: Page, shoal: ShoalServer) -> None:
    page = signed_in
    source = shoal.create_source("Doomed", type="website")
    old_key = source["write_key"]
    page.goto(f"/sources/{source['id']}")

    page.get_by_role("button", name="Disable source").click()  # htmx swaps the panel
    expect(page.get_by_text("Source disabled")).to_be_visible()
    assert shoal.api("GET", f"/sources/{source['id']}").json()["enabled"] is False
    page.get_by_role("button", name="Enable source").click()
    expect(page.get_by_text("Source enabled")).to_be_visible()
    assert shoal.api("GET", f"/sources/{source['id']}").json()["enabled"] is True

    page.get_by_role("link", name="Rotate write key…").click()
    expect(page.get_by_role("alertdialog")).to_contain_text("the current one is refused")
    page.get_by_role("button", name="Rotate write key").click()
    expect(page.get_by_text("New write key issued")).to_be_visible()
    new_key = page.get_by_label("Write key").input_value()
    assert new_key != old_key
    assert shoal.api("GET", f"/sources/{source['id']}").json()["write_key"] == new_key

    page.get_by_role("link", name="Delete source…").click()
    page.get_by_role("link", name="Cancel").click()
    expect(page).to_have_url(re.compile(f"/sources/{source['id']}$"))
    page.get_by_role("link", name="Delete source…").click()
    page.get_by_role("button", name="Delete source").click()
    expect(page.get_by_text("Deleted source 'Doomed'.")).to_be_visible()
    assert shoal.api("GET", f"/sources/{source['id']}").status_code == 404
    page.goto(f"/sources/{source['id']}")
    expect(page.get_by_role("heading", name="Source not found")).to_be_visible()


def test_a_long_name_without_spaces_wraps_instead_of_widening_pages(
    signed_in: Page, shoal: ShoalServer
) -> None:
    page = signed_in
    name = "Storefront" + "x" * 190  # one word, as long as a name may be
    source = shoal.create_source(name)
    for path in (f"/sources/{source['id']}", f"/sources/{source['id']}/debugger"):
        page.goto(path)
        expect(page.get_by_role("heading", level=1)).to_contain_text("Storefront")
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"), path
