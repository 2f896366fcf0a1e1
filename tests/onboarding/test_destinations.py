"""The setup's destinations: offered by declared category, connected in dev, copied to prod.

Real destinations service, real event store, a real HTTP receiver on 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from shoal.destinations.webhook import SIGNATURE_HEADER, verify
from shoal.onboarding import SetupError
from shoal.onboarding import capabilities as caps
from tests.destinations.receiver import Receiver
from tests.onboarding.conftest import World, walk_to_review
from tests.plans.helpers import event

CATEGORIES = [
    "Analytics",
    "Advertising",
    "Email Marketing",
    "SMS & Push Notifications",
    "Personalization",
    "Reverse ETL",
]


@contextmanager
def _refused(code: str, status: int) -> Iterator[None]:
    with pytest.raises(SetupError) as info:
        yield
    assert (info.value.code, info.value.status) == (code, status), info.value.message


async def _arrived(receiver: Receiver, path: str, count: int) -> list[Any]:
    """Requests to ``path`` once at least ``count`` arrived (the engine runs on this loop)."""
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        found = [r for r in receiver.accepted() if r.path == path]
        if len(found) >= count:
            return found
        await asyncio.sleep(0.05)
    raise AssertionError(f"{path}: expected {count} requests, got {receiver.accepted()}")


def test_recommended_types_map_to_adapters_by_their_declared_category(world: World) -> None:
    factories = world.destinations.types()
    offered = caps.recommended_destinations(CATEGORIES, factories)
    assert {r["type"]: [a["name"] for a in r["adapters"]] for r in offered} == {
        "Analytics": ["mixpanel"],
        "Advertising": ["meta_conversions"],
        "Email Marketing": ["customerio"],
        "SMS & Push Notifications": ["twilio_sms"],
        "Personalization": ["braze"],
        "Reverse ETL": [],
    }
    reverse = offered[-1]
    assert reverse["available"] is False and "no Reverse ETL" in reverse["message"]
    assert caps.destination_factory("Analytics", factories).name == "mixpanel"
    assert caps.destination_factory("webhook", factories).category == "Raw Data"
    with pytest.raises(ValueError, match="no Reverse ETL"):
        caps.destination_factory("Reverse ETL", factories)
    with pytest.raises(ValueError, match="unknown destination type 'fax'"):
        caps.destination_factory("fax", factories)


async def test_a_workspace_with_a_source_and_a_connected_destination_is_not_eligible(
    world: World,
) -> None:
    ws, owner = world.owner.workspace_id, world.owner
    source = world.control.create_source(ws, "already", "website", "dev")
    assert world.setup.eligibility(ws).eligible, "a source without a destination is eligible"
    body = {"name": "hook", "type": "webhook", "settings": {"url": "https://hooks.example.com"}}
    hook = await world.destinations.create(owner, body)
    assert world.setup.eligibility(ws).eligible, "a destination without a source is not connected"
    await world.destinations.connect(owner, hook.id, source.id)
    check = world.setup.eligibility(ws)
    assert (check.eligible, check.sources, check.destinations) == (False, 1, 1)
    assert "already has 1 source and 1 destination connected" in check.message
    with _refused("not_eligible", 409):
        world.setup.choose_goal(owner, "optimize-advertising")
    await world.destinations.update(owner, hook.id, {"enabled": False})
    assert world.setup.eligibility(ws).eligible, "a disabled destination delivers nothing"


async def test_connecting_dev_destinations_checks_order_owner_and_input(world: World) -> None:
    walk_to_review(world)
    s, owner = world.setup, world.owner
    hook = {"type": "webhook", "name": "Hook", "settings": {"url": "https://hooks.example.com"}}
    with _refused("step_not_ready", 409):
        await s.connect_dev_destination(owner, **hook)
    _, web = s.connect_dev_source(owner, type="Website", name="Web", source_id=None)
    with _refused("forbidden", 403):
        await s.connect_dev_destination(world.member, **hook)
    with pytest.raises(ValueError, match="no Reverse ETL"):
        await s.connect_dev_destination(owner, type="Reverse ETL", name="wh", settings={})
    with pytest.raises(ValueError, match="invalid webhook settings: url"):
        await s.connect_dev_destination(owner, type="webhook", name="x", settings={"url": "x"})
    with pytest.raises(ValueError, match="loopback"):
        await s.connect_dev_destination(
            owner, type="webhook", name="x", settings={"url": "http://10.0.0.1/hook"}
        )
    with _refused("invalid_request", 422):
        await s.connect_dev_destination(owner, **hook, source_ids=["src_elsewhere"])
    with _refused("invalid_request", 422):
        await s.connect_dev_destination(owner, name="x")
    prod = await world.destinations.create(owner, {**hook, "environment": "prod"})
    with _refused("invalid_request", 422):
        await s.connect_dev_destination(owner, destination_id=prod.id)
    record, created = await s.connect_dev_destination(owner, **hook)
    assert (created.environment, created.source_ids) == ("dev", (web.id,))
    other = await world.destinations.create(owner, {**hook, "name": "Other"})
    record, adopted = await s.connect_dev_destination(owner, destination_id=other.id)
    assert adopted.source_ids == (web.id,)
    dev, prod_copies = s.destinations_of(record)
    assert [d.id for d in dev] == [created.id, other.id] and prod_copies == []


async def test_publish_copies_dev_destinations_server_side_and_prod_events_reach_them(
    world: World,
) -> None:
    walk_to_review(world)
    s, owner = world.setup, world.owner
    _, web = s.connect_dev_source(owner, type="Website", name="Web", source_id=None)
    with Receiver() as receiver:
        settings = {"url": receiver.url + "/hook", "shared_secret": "s3cret", "batch": False}
        _, hook = await s.connect_dev_destination(
            owner, type="webhook", name="Hook", settings=settings
        )
        assert "shared_secret" not in hook.settings, "secrets are sealed, not plain settings"
        drop = {"conditions": [{"field": "event", "op": "is", "value": "Skip Me"}]}
        filters = [{"title": "skip", "if": drop, "actions": [{"type": "drop"}]}]
        hook = await world.destinations.update(owner, hook.id, {"filters": filters})
        url = {"url": receiver.url + "/other"}
        _, other = await s.connect_dev_destination(
            owner, type="webhook", name="Other", settings=url
        )

        record = await s.publish(owner, destination_ids=[hook.id])
        (source_pair,) = record.prod_sources
        (pair,) = record.prod_destinations
        assert pair.dev_destination_id == hook.id
        copy = await world.destinations.get(owner, pair.prod_destination_id)
        assert (copy.name, copy.type, copy.environment, copy.enabled) == (
            "Hook",
            "webhook",
            "prod",
            True,
        )
        assert (copy.settings, copy.filters, copy.mappings, copy.max_in_flight) == (
            hook.settings,
            hook.filters,
            hook.mappings,
            hook.max_in_flight,
        )
        assert copy.source_ids == (source_pair.prod_source_id,)
        assert copy.secrets != hook.secrets, "sealed again, not the same token"
        assert world.destinations.box.open(copy.secrets) == {"shared_secret": "s3cret"}

        record = await s.publish(owner)
        assert record.prod_destinations[0] == pair, "publishing again keeps the first copy"
        assert [p.dev_destination_id for p in record.prod_destinations] == [hook.id, other.id]
        _dev, prod = s.destinations_of(record)
        assert {d.environment for d in prod} == {"prod"} and len(prod) == 2

        kept = event(source_id=source_pair.prod_source_id, properties={"tag": "kept"})
        skipped = event("track", "Skip Me", {"tag": "skipped"}, source_pair.prod_source_id)
        dev_only = event(source_id=web.id, properties={"tag": "dev"})
        for e in (kept, skipped):
            e.environment = "prod"
        await world.store.write([kept, skipped, dev_only])
        hooks = await _arrived(receiver, "/hook", 2)
        assert {r.json()["properties"]["tag"] for r in hooks} == {"kept", "dev"}
        assert all(verify("s3cret", r.headers[SIGNATURE_HEADER], r.body) for r in hooks)
        batches = [r.json()["batch"] for r in await _arrived(receiver, "/other", 2)]
        tags = {m["properties"]["tag"] for batch in batches for m in batch}
        assert tags == {"kept", "skipped", "dev"}, "no filters on Other: all three arrive"
        await asyncio.sleep(0.3)
        assert len(await _arrived(receiver, "/hook", 2)) == 2, "the copy filters as dev does"
