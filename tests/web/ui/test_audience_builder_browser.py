"""In the browser: build an audience by clicking over events sent with the official Segment
Python SDK, watch the live count, switch to the text form and back, explain a profile,
save, refresh, and read its members, changes and size-over-time chart."""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

from playwright.sync_api import Page, expect
from segment.analytics import Client  # type: ignore[import-untyped]

from tests.server import ShoalServer
from tests.web.ui.conftest import PHONE, shot

DEFINITION = "event('Order Completed').count() >= 2 and trait('plan') = 'pro'"


def _fits_the_screen(page: Page) -> bool:
    """Nothing but tables (which scroll inside their frame) is wider than the viewport."""
    return bool(page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"))


def _send(shoal: ShoalServer) -> tuple[dict[str, Any], Client]:
    """Jane (pro, three orders) matches; Bob (pro, one order) and Kim (free, two) do not."""
    source = shoal.create_source("Shop", type="server")
    sdk = Client(write_key=source["write_key"], host=shoal.url, sync_mode=True, max_retries=1)
    for user, plan, orders in (("jane", "pro", 3), ("bob", "pro", 1), ("kim", "free", 2)):
        sdk.identify(user, {"email": f"{user}@example.com", "plan": plan})
        for n in range(orders):
            sdk.track(user, "Order Completed", {"revenue": 100 * (n + 1)})
    sdk.flush()
    shoal.wait_for_events(source["id"], 9)
    return source, sdk


def _condition(page: Page, text: str) -> Any:
    """The explained condition whose text is exactly ``text``."""
    exact = page.locator("code", has_text=re.compile("^" + re.escape(text) + "$"))
    return page.locator("#explain li").filter(has=exact)


def _wait_for_size(shoal: ShoalServer, audience_id: str, size: int) -> None:
    """Poll the Config API until the audience's cached size is ``size``."""
    deadline = time.monotonic() + 30
    found = None
    while time.monotonic() < deadline:
        found = shoal.api("GET", f"/audiences/{audience_id}").json()
        if found.get("size") == size and found.get("status") == "ready":
            return
        time.sleep(0.1)
    raise AssertionError(f"the audience never had {size} members: {found}")


def test_build_an_audience_by_clicking(
    signed_in: Page, shoal: ShoalServer, screenshots: Path
) -> None:
    page = signed_in
    _source, sdk = _send(shoal)
    # htmx reports a live count aimed at a condition that is gone as a console error.
    oob_errors: list[str] = []
    page.on("console", lambda m: oob_errors.append(m.text) if "oobErrorNoTarget" in m.text else 0)

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Audiences").click()
    expect(page.get_by_text("No audiences in dev yet")).to_be_visible()
    page.get_by_role("link", name="Create audience").click()
    count = page.locator("#preview-count")
    expect(count).to_have_text("3")  # no conditions yet: everyone

    # An event condition, by clicking: performed Order Completed at least twice.
    page.get_by_label("Condition to add").select_option("performed")
    page.get_by_role("button", name="Add condition").click()
    expect(page.get_by_label("Name of the event")).to_be_focused()
    page.get_by_label("Name of the event").fill("Order Completed")
    expect(page.get_by_label("Operator of the event")).to_have_value("gte")
    page.get_by_label("Value of the event").fill("2")
    expect(count).to_have_text("2")  # Jane and Kim
    # A trait condition, from the keyboard: choose it, Tab to the button, Enter.
    page.get_by_label("Condition to add").select_option("trait")
    page.get_by_label("Condition to add").focus()
    page.keyboard.press("Tab")
    expect(page.get_by_role("button", name="Add condition")).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.get_by_label("Name of the trait")).to_be_focused()
    # An incomplete condition says what it lacks, next to it, until it is complete.
    expect(page.locator(".cond-error:visible")).to_contain_text("name must be 1-200")
    page.keyboard.type("plan")
    page.get_by_label("Value of the trait").fill("pro")
    expect(count).to_have_text("1")
    expect(page.locator(".cond-error:visible")).to_have_count(0)
    expect(page.locator("#preview-definition")).to_have_text(DEFINITION)
    expect(page.locator("#preview")).to_contain_text("user_id:jane")

    # The text form shows the same definition; a mistake there is explained inline.
    page.get_by_role("button", name="As text").click()
    text = page.get_by_label("Definition, as text")
    expect(text).to_have_value(DEFINITION)
    text.fill(DEFINITION + " and")
    expect(page.locator("#preview-error")).to_contain_text("line 1, column")
    text.fill(DEFINITION.replace(">= 2", ">= 1"))
    expect(count).to_have_text("2")  # Bob's single order counts now
    assert oob_errors == []  # switching to text counted the text form, not the old tree
    page.get_by_role("button", name="By clicking").click()
    expect(page.get_by_label("Value of the event")).to_have_value("1")
    expect(page.get_by_label("Name of the trait")).to_have_value("plan")
    page.get_by_label("Value of the event").fill("2")
    expect(count).to_have_text("1")
    expect(page.locator("#preview-definition")).to_have_text(DEFINITION)

    # Explain: every condition with its result and the value seen, for one profile.
    page.get_by_label("Profile", exact=True).fill("email:bob@example.com")
    page.get_by_role("button", name="Explain").click()
    explain = page.locator("#explain")
    expect(explain).to_contain_text("is not in this audience")
    bob_count = _condition(page, "event('Order Completed').count() >= 2")
    expect(bob_count).to_have_class(re.compile("explain-no"))
    expect(bob_count).to_contain_text("seen: 1")
    page.get_by_label("Profile", exact=True).fill("email:jane@example.com")
    page.get_by_role("button", name="Explain").click()
    expect(explain).to_contain_text("is in this audience")
    expect(_condition(page, "event('Order Completed').count() >= 2")).to_contain_text("seen: 3")
    expect(explain.locator("li.explain-no")).to_have_count(0)

    page.get_by_label("Name", exact=True).fill("Loyal pros")
    page.evaluate("window.scrollTo(0, 0)")
    shot(page, screenshots, "audience-builder")
    page.get_by_role("button", name="Save audience").click()
    expect(page).to_have_url(re.compile(r"/audiences/aud_\w+$"))
    audience_id = page.url.rsplit("/", 1)[-1]
    expect(page.get_by_role("status").first).to_contain_text("Created audience 'Loyal pros'")
    expect(page.locator("pre.definition").first).to_have_text(DEFINITION)

    # Refresh now: the outcome, the members (linked to their profiles) and the chart.
    page.get_by_role("button", name="Refresh now").click()
    expect(page.locator("#refresh-outcome")).to_contain_text("entered")
    expect(page.locator("#audience-size")).to_have_text("1")
    members = page.get_by_role("region", name="Members")
    expect(members).to_contain_text("user_id:jane")
    chart = page.get_by_role("img", name=re.compile("^Members of Loyal pros"))
    expect(chart).to_be_visible()
    expect(chart.locator("path.size-line")).to_have_attribute("d", re.compile(r"^M 0\.0 50\.0 "))

    # Bob's second order brings him in (in real time); the page shows it after a reload.
    sdk.track("bob", "Order Completed", {"revenue": 50})
    sdk.flush()
    _wait_for_size(shoal, audience_id, 2)
    page.reload()
    expect(members).to_contain_text("user_id:bob")
    changes = page.get_by_role("region", name="Changes")
    expect(changes.locator(".badge-change-entered")).to_have_count(2)
    page.get_by_text("Show the numbers").click()
    expect(page.locator(".aud-chart tbody tr").first).to_contain_text("2")
    shot(page, screenshots, "audience-detail")

    members.get_by_role("link").first.click()
    expect(page).to_have_url(re.compile(r"/profiles/use_\w+"))
    page.go_back()

    page.set_viewport_size(PHONE)
    page.goto(f"/audiences/{audience_id}")
    expect(page.locator("#audience-size")).to_have_text("2")
    assert _fits_the_screen(page)
    page.goto(f"/audiences/{audience_id}/edit")
    expect(count).to_have_text("2")
    assert _fits_the_screen(page)
    shot(page, screenshots, "audience-builder-phone")
