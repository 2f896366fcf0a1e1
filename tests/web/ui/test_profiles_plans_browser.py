"""In the browser: find a profile after sending events with the official Segment Python SDK,
and edit a tracking plan until the events it flags show up as its violations."""

from __future__ import annotations

import re
from pathlib import Path

import segment.analytics as segment_analytics
from playwright.sync_api import Page, expect

from tests.server import ShoalServer
from tests.web.ui.conftest import LAPTOP, PHONE, shot


def _fits_the_screen(page: Page) -> bool:
    """Nothing but tables (which scroll inside their frame) is wider than the viewport."""
    return bool(page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"))


def _send_with_the_sdk(shoal: ShoalServer, write_key: str) -> None:
    client = segment_analytics.Client(write_key, host=shoal.url, sync_mode=False)
    client.page(anonymous_id="visitor-42", name="Pricing", properties={"plan": "pro"})
    client.identify("kim-7", {"email": "kim@example.com", "name": "Kim"}, anonymous_id="visitor-42")
    client.group("kim-7", "globex", {"name": "Globex", "employees": 40})
    client.track("kim-7", "Order Completed", {"total": 99.5, "order_id": "o-1"})
    client.track("kim-7", "Order Completed", {"total": "ninety"})
    client.flush()
    client.shutdown()


def test_find_a_profile_sent_with_the_python_sdk(
    signed_in: Page, shoal: ShoalServer, screenshots: Path
) -> None:
    page = signed_in
    source = shoal.create_source("Storefront")
    _send_with_the_sdk(shoal, source["write_key"])
    shoal.wait_for_events(source["id"], 5)

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Profiles").click()
    expect(page.get_by_role("heading", name=re.compile("^Profiles"))).to_be_visible()
    search = page.get_by_label("Find a profile by identifier")
    # A malformed search says how to write one, and keeps the page usable.
    search.fill("kim@example.com")
    search.press("Enter")
    expect(page.get_by_role("alert")).to_contain_text("Write the identifier as type:value")
    page.get_by_label("Find a profile by identifier").fill("email:nobody@example.com")
    page.get_by_role("button", name="Find").click()
    expect(page.get_by_role("alert")).to_contain_text("No profile in the dev space")

    # The pipeline resolves identities before it stores events: stored means findable.
    page.get_by_label("Find a profile by identifier").fill("email:kim@example.com")
    page.get_by_label("Find a profile by identifier").press("Enter")
    expect(page).to_have_url(re.compile(r"/profiles/use_\w+$"))
    traits = page.get_by_role("region", name="Traits", exact=True)
    expect(traits).to_contain_text("kim@example.com")
    identities = page.get_by_role("region", name="Identities")
    expect(identities).to_contain_text("visitor-42")
    expect(identities).to_contain_text("kim-7")
    expect(page.get_by_text("This profile is in no audience of the dev space")).to_be_visible()
    timeline = page.get_by_role("region", name="Events")
    expect(timeline.locator("li.event")).to_have_count(5)
    pricing = timeline.locator("li.event", has=page.get_by_text("Pricing", exact=True))
    pricing.locator("summary").focus()
    page.keyboard.press("Enter")  # opens the event's JSON, from the keyboard
    expect(pricing.locator("pre")).to_be_visible()
    expect(pricing.locator("pre")).to_contain_text('"anonymousId": "visitor-42"')
    shot(page, screenshots, "profile")

    # The account the group call created, and back through its linked user.
    page.get_by_role("link", name=re.compile("^acc_")).click()
    expect(page.get_by_role("heading", name="Users")).to_be_visible()
    expect(page.locator(".kv").first).to_contain_text("Globex")
    page.goto("/profiles")
    expect(page.get_by_role("table")).to_contain_text("email:kim@example.com")
    shot(page, screenshots, "profiles")
    page.set_viewport_size(PHONE)
    page.goto("/profiles?q=user_id:kim-7")
    assert _fits_the_screen(page)
    shot(page, screenshots, "profile-phone")
    page.set_viewport_size(LAPTOP)


def test_edit_a_tracking_plan_and_see_its_violations(
    signed_in: Page, shoal: ShoalServer, screenshots: Path
) -> None:
    page = signed_in
    source = shoal.create_source("Checkout app")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Tracking plans").click()
    page.get_by_role("link", name="New tracking plan").click()
    page.get_by_role("button", name="Create plan").click()  # empty: the browser asks first
    page.get_by_label("Name").fill("Checkout")
    page.get_by_label("Events whose properties break the rules").select_option("flag")
    page.get_by_role("checkbox", name=re.compile("Checkout app")).check()
    page.get_by_role("button", name="Create plan").click()
    expect(page.get_by_role("status").first).to_contain_text("Created tracking plan 'Checkout'")

    page.get_by_label("Event name").fill("Order Completed")
    page.get_by_role("button", name="Add event").click()
    expect(page.get_by_role("heading", name=re.compile("^Order Completed"))).to_be_visible()
    card = page.locator("article", has=page.get_by_role("heading", name=re.compile("^Order Co")))
    for name, kind in (("total", "string"), ("coupon", "any")):
        card.get_by_label("New property").fill(name)
        card.get_by_label("Type", exact=True).select_option(kind if kind != "any" else "")
        card.get_by_role("button", name="Add property").click()
    card = page.locator("article", has=page.get_by_role("heading", name=re.compile("^Order Co")))
    # Fix a rule in place: total is a number; coupon is not needed at all.
    card.get_by_label("Type of total").select_option("number")
    card.get_by_role("button", name="Save total").click()
    expect(page.get_by_role("status").first).to_contain_text("Saved property 'total'")
    page.get_by_role("button", name="Remove coupon").click()
    expect(page.get_by_role("status").first).to_contain_text("Removed property 'coupon'")
    # A mistake is refused with a reason, next to the form.
    page.get_by_label("Event name").fill("Order Completed")
    page.get_by_role("button", name="Add event").click()
    expect(page.get_by_role("alert")).to_contain_text("already has an event 'Order Completed'")
    plan = shoal.api("GET", "/plans").json()["plans"][-1]
    assert plan["events"][0]["properties"] == [
        {"name": "total", "type": "number", "required": True, "description": ""}
    ]

    _send_with_the_sdk(shoal, source["write_key"])
    shoal.wait_for_events(source["id"], 5)
    page.goto(f"/plans/{plan['id']}")
    violations = page.locator("#violations")
    expect(violations).to_contain_text("'total' should be a number, got a string")
    expect(violations).to_contain_text("Checkout app")
    shot(page, screenshots, "plan")
    # The debugger shows who sent the flagged event beside its violations badge.
    page.goto(f"/sources/{source['id']}/debugger")
    flagged = page.locator("[data-events] > li", has=page.locator(".badge-violations"))
    expect(flagged).to_have_count(1)
    expect(flagged.locator(".badge-violations")).to_have_text("1 violation")
    expect(flagged.locator(".ev-user")).to_have_text("kim-7")
    page.goto("/plans")
    expect(page.get_by_role("link", name="Checkout")).to_be_visible()
    shot(page, screenshots, "plans")
    page.set_viewport_size(PHONE)
    page.goto(f"/plans/{plan['id']}")
    assert _fits_the_screen(page)
    page.set_viewport_size(LAPTOP)
