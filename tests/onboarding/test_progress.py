"""The self-checking checklist, computed from what the store really holds."""

from __future__ import annotations

from typing import Any

from shoal.catalog import load_catalog
from shoal.onboarding.progress import event_progress
from shoal.plans import PlanEvent, PlanProperty
from shoal.plans.model import events_from_use_case
from tests.onboarding.conftest import World
from tests.plans.helpers import event

CHECKOUT = {
    "num_items": 1,
    "order_id": "o-1",
    "coupon": "C",
    "total": 10,
    "revenue": 10,
    "shipping": 1,
    "tax": 1,
    "affiliation": "shop",
    "discount": 0,
}


async def _send(world: World, source_id: str, env: str, *events: Any) -> None:
    for ev in events:
        ev.source_id = source_id
        ev.environment = env
        ev.workspace_id = world.owner.workspace_id
    world.plans.stage.reload()
    await world.plans.stage.process(list(events))
    await world.store.write(list(events))


async def test_progress_per_event_and_environment(world: World) -> None:
    ws = world.owner.workspace_id
    use_case = load_catalog().use_case("optimize-advertising", "mitigate-cart-abandonment")
    planned = events_from_use_case(use_case)
    dev = world.control.create_source(ws, "web", "website", "dev")
    prod = world.control.create_source(ws, "web", "website", "prod")
    plan = world.plans.create(ws, "p", planned, source_ids=[dev.id, prod.id])
    without_coupon = {k: v for k, v in CHECKOUT.items() if k != "coupon"}
    await _send(
        world,
        dev.id,
        "dev",
        event(name="Checkout Started", properties={**CHECKOUT, "revenue": "10"}),
        event(name="Checkout Started", properties=without_coupon),
        event(name="Checkout Started", properties=CHECKOUT),
        event(name="Wishlist Viewed", properties={}),
    )
    await _send(world, prod.id, "prod", event(name="Checkout Started", properties=CHECKOUT))

    report = await event_progress(world.store, ws, plan.events, [dev, prod], plan.version)
    checkout, order = report["events"]
    assert checkout["name"] == "Checkout Started"
    d = checkout["dev"]
    assert d["count"] == 3 and d["status"] == "ok", "the latest dev event is clean"
    assert d["sources"] == [{"id": dev.id, "name": "web", "count": 3, "last_seen": d["last_seen"]}]
    assert d["last_seen"].endswith("Z")
    assert d["missing_properties"] == [{"property": "coupon", "events": 1}]
    assert d["invalid_properties"] == [
        {"property": "revenue", "expected": "number", "problem": "invalid_type", "events": 1}
    ]
    assert checkout["prod"]["count"] == 1 and checkout["prod"]["status"] == "ok"
    assert order["dev"]["status"] == order["prod"]["status"] == "not_seen"
    assert report["unplanned_events"]["dev"][0]["name"] == "Wishlist Viewed"
    assert report["unplanned_events"]["prod"] == []
    assert report["dev_ready"] is False and report["prod_live"] is False


async def test_latest_problems_blocked_counts_and_page_calls(world: World) -> None:
    ws = world.owner.workspace_id
    page = PlanEvent(
        name="Page Viewed", call="page", properties=[PlanProperty(name="page_name", type="string")]
    )
    src = world.control.create_source(ws, "web", "website", "dev")
    plan = world.plans.create(ws, "p", [page], source_ids=[src.id], invalid_properties="block")
    await _send(
        world,
        src.id,
        "dev",
        event("page", "Home", {"page_name": "Home"}),
        event("page", "Pricing", {"page_name": 7}),
    )
    report = await event_progress(world.store, ws, plan.events, [src], plan.version)
    (entry,) = report["events"]
    dev = entry["dev"]
    assert dev["count"] == 2 and dev["rejected"] == 1
    assert dev["status"] == "problems"
    assert dev["latest_violations"][0]["property"] == "page_name"
    assert dev["sources"][0]["count"] == 2, "page names are merged per source"
    # After fixing the plan, violations recorded under the old version no longer count.
    newer = world.plans.update(ws, plan.id, events=[page])
    report = await event_progress(world.store, ws, newer.events, [src], newer.version)
    assert report["events"][0]["dev"]["invalid_properties"] == []


async def test_no_sources_means_nothing_seen(world: World) -> None:
    planned = [PlanEvent(name="Signed Up", properties=[PlanProperty(name="username")])]
    report = await event_progress(world.store, world.owner.workspace_id, planned, [])
    assert report["events"][0]["dev"]["status"] == "not_seen"
    assert report["dev_ready"] is False
