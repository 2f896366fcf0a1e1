"""Engage (create an audience in dev) and importing audiences into prod when republishing,
over real identity resolution and the real audience service."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from shoal.audiences.service import AudienceService
from shoal.onboarding import SetupError, setup_view
from shoal.onboarding import capabilities as caps
from shoal.onboarding.repo import PublishedAudience, PublishedDestination
from tests.onboarding.conftest import World, walk_to_review
from tests.plans.helpers import event

CART = "event('Checkout Started') then not event('Order Completed') within 1 hour"


@contextmanager
def refused(code: str, status: int) -> Iterator[pytest.ExceptionInfo[SetupError]]:
    """Expect a setup refusal with ``code`` and ``status``; yields it for its message."""
    with pytest.raises(SetupError) as info:
        yield info
    assert (info.value.code, info.value.status) == (code, status), info.value.message


async def _steps(world: World, audiences: AudienceService | None) -> dict[str, dict[str, Any]]:
    view = await setup_view(world.setup, world.owner, audiences)
    return {s["id"]: s for s in view["steps"]}


async def _published(world: World) -> None:
    """Mitigate cart abandonment, a dev source, published, and a prod event stored."""
    walk_to_review(world)
    s, owner = world.setup, world.owner
    s.connect_dev_source(owner, type="Website", name="Web", source_id=None)
    record = await s.publish(owner)
    prod_event = event(source_id=record.prod_sources[0].prod_source_id, properties={})
    prod_event.environment = "prod"
    await world.store.write([prod_event])


async def _activated(world: World) -> None:
    """Publishing verified and the default identifiers added: Engage is open."""
    await _published(world)
    await world.setup.complete_publish(world.owner)
    await world.setup.add_identifiers(world.owner)


async def test_engage_follows_unify_and_fills_in_the_suggestion(
    world: World, audiences: AudienceService
) -> None:
    s, owner = world.setup, world.owner
    await _published(world)
    steps = await _steps(world, audiences)
    assert steps["engage_audience"]["status"] == "blocked"
    assert steps["engage_audience"]["suggestion"]["definition"] == CART
    with refused("step_not_ready", 409) as info:
        await s.create_audience(owner, audiences)
    assert "publish to prod" in info.value.message
    await s.complete_publish(owner)
    with refused("step_not_ready", 409) as info:
        await s.create_audience(owner, audiences)
    assert "default identifiers" in info.value.message
    await s.add_identifiers(owner)
    assert (await _steps(world, audiences))["engage_audience"]["status"] == "todo"
    with refused("forbidden", 403):
        await s.create_audience(world.member, audiences)

    # Bad input: the audience service's own words, and nothing is created.
    for name, definition, says in (
        ("  ", None, "a name of 1-200 characters"),
        ("x" * 201, None, "a name of 1-200 characters"),
        (None, "", "the text is empty"),
        (None, "audience('nope')", "audience('nope') does not exist in this space"),
        (None, {"kind": "event"}, "needs the event name"),
    ):
        with refused("invalid_request", 422) as info:
            await s.create_audience(owner, audiences, name=name, definition=definition)
        assert says in info.value.message
    assert audiences.visible(owner, "dev") == []

    # A name of one's own with the suggested definition, then the suggested name with a
    # definition of one's own.
    _record, mine = await s.create_audience(owner, audiences, name="Checkout dropouts")
    assert (mine.key, mine.environment, mine.collection) == ("checkout_dropouts", "dev", "users")
    assert audiences.get(owner, mine.id).text == CART
    _record, other = await s.create_audience(owner, audiences, definition="trait('plan') = 'pro'")
    assert (other.key, other.name) == ("abandoned_checkouts", "Abandoned checkouts")
    engage = (await _steps(world, audiences))["engage_audience"]
    assert engage["status"] == "done" and engage["suggestion"]["exists"] is True
    assert [(a["key"], a["text"]) for a in engage["audiences"]] == [
        ("checkout_dropouts", CART),
        ("abandoned_checkouts", "trait('plan') = 'pro'"),
    ]
    with refused("conflict", 409) as info:
        await s.create_audience(owner, audiences)
    assert "another name" in info.value.message


async def test_without_audiences_engage_says_why(world: World) -> None:
    await _activated(world)
    steps = await _steps(world, None)
    assert steps["engage_audience"]["status"] == "unavailable"
    assert steps["engage_audience"]["message"] == caps.AUDIENCES_MISSING.message
    with refused("not_available", 409):
        await world.setup.create_audience(world.owner, None)
    record = await world.setup.republish(world.owner)
    assert record.republished_at is not None and record.prod_audiences == ()
    part = (await _steps(world, None))["republish"]["audiences"]
    assert part["message"] == caps.REPUBLISH_AUDIENCES_MISSING.message


async def test_republish_imports_dependencies_first_and_declares_collections(
    world: World, audiences: AudienceService
) -> None:
    s, owner, ws = world.setup, world.owner, world.owner.workspace_id
    await _activated(world)
    base = await audiences.create(owner, "dev", {"name": "Base", "definition": "page()"})
    await audiences.create(
        owner,
        "dev",
        {"name": "Big", "definition": "event('Order Completed').count() >= 3",
         "refresh": "scheduled", "interval_s": 3600},
    )  # fmt: skip
    # Base now builds on Big, which was created after it: creation order would fail.
    await audiences.update(owner, base.id, {"definition": "audience('big') and page()"})
    audiences.save_collection(owner, "dev", "products", "product_id")
    await audiences.create(
        owner,
        "dev",
        {"name": "Viewed", "collection": "products", "definition": "event('Product Viewed')"},
    )

    record = await s.republish(owner, audiences)
    dev = {a.key: a for a in audiences.repo.all(ws, "dev")}
    prod = {a.key: a for a in audiences.repo.all(ws, "prod")}
    assert set(prod) == {"base", "big", "viewed"}
    for key, copy in prod.items():
        original = dev[key]
        assert (copy.name, copy.collection, copy.definition) == (
            original.name,
            original.collection,
            original.definition,
        )
        assert (copy.refresh, copy.interval_s) == (original.refresh, original.interval_s)
    assert prod["big"].refresh == "scheduled" and prod["big"].interval_s == 3600
    assert audiences.repo.object_collections(ws, "prod") == {"products": "product_id"}
    assert set(record.prod_audiences) == {
        PublishedAudience(dev[k].id, prod[k].id) for k in ("base", "big", "viewed")
    }
    steps = await _steps(world, audiences)
    assert steps["republish"]["status"] == "done"
    assert steps["republish"]["audiences"]["imported"] == 3

    # The pairs are kept with the destination pairs in one column, and read back apart.
    pair = PublishedDestination("dst_dev", "dst_prod")
    s.repo.save(record, prod_destinations=(pair,))
    stored = s.get(ws)
    assert stored is not None
    assert (stored.prod_destinations, stored.prod_audiences) == ((pair,), record.prod_audiences)

    # A prod copy deleted afterwards is missing again; republishing makes a new one.
    await audiences.delete(owner, prod["viewed"].id)
    part = (await _steps(world, audiences))["republish"]["audiences"]
    assert (part["imported"], part["to_import"]) == (2, 1)
    record = await s.republish(owner, audiences)
    again = audiences.repo.by_key(ws, "prod", "viewed")
    assert again is not None and again.id != prod["viewed"].id
    assert PublishedAudience(dev["viewed"].id, again.id) in record.prod_audiences
    assert len(record.prod_audiences) == 3
    kept = {a.key: a.id for a in audiences.repo.all(ws, "prod")}
    assert (kept["base"], kept["big"]) == (prod["base"].id, prod["big"].id), "left alone"


async def test_an_audience_prod_cannot_have_is_named_and_the_rest_imported(
    world: World, audiences: AudienceService
) -> None:
    s, owner, ws = world.setup, world.owner, world.owner.workspace_id
    await _activated(world)
    # Hidden from the owner who republishes, so not imported: what includes it cannot be.
    hidden = {"name": "Secret", "definition": "page()", "hidden_from": [owner.id]}
    await audiences.create(owner, "dev", hidden)
    await audiences.create(
        owner, "dev", {"name": "Uses secret", "definition": "audience('secret')"}
    )
    await audiences.create(
        owner, "dev", {"name": "Buyers", "definition": "event('Order Completed')"}
    )
    with refused("not_imported", 409) as info:
        await s.republish(owner, audiences)
    assert info.value.message.startswith("imported 1; could not import into prod: uses_secret")
    assert "audience('secret') does not exist in this space" in info.value.message
    assert [a.key for a in audiences.repo.all(ws, "prod")] == ["buyers"]
    record = s.get(ws)
    assert record is not None and record.republished_at is not None
    assert len(record.prod_audiences) == 1, "what was imported is recorded"
    part = (await _steps(world, audiences))["republish"]["audiences"]
    assert [(a["key"], a["prod"]) for a in part["audiences"]] == [
        ("uses_secret", "missing"),
        ("buyers", "imported"),
    ]
