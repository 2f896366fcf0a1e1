"""The guided-setup state machine: order of steps, lock, owners only, publishing."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from shoal.onboarding import SetupError
from tests.onboarding.conftest import World, walk_to_review
from tests.plans.helpers import event


@contextmanager
def _refused(code: str, status: int) -> Iterator[None]:
    with pytest.raises(SetupError) as info:
        yield
    assert (info.value.code, info.value.status) == (code, status), info.value.message


async def test_steps_must_come_in_order(world: World) -> None:
    s, owner = world.setup, world.owner
    with _refused("step_not_ready", 409):
        s.choose_use_case(owner, "mitigate-cart-abandonment")
    s.choose_goal(owner, "optimize-advertising")
    with _refused("step_not_ready", 409):
        s.acknowledge_environments(owner)
    s.choose_use_case(owner, "mitigate-cart-abandonment")
    with _refused("step_not_ready", 409):
        s.review_events(owner)
    s.acknowledge_environments(owner)
    with _refused("step_not_ready", 409):
        s.connect_dev_source(owner, type="Website", name="web", source_id=None)
    with _refused("step_not_ready", 409):
        await s.publish(owner)
    with _refused("step_not_ready", 409):
        await s.connect_dev_destination(owner, destination_id="dst_x")


def test_unknown_goal_or_use_case_is_a_404(world: World) -> None:
    with _refused("not_found", 404):
        world.setup.choose_goal(world.owner, "world-domination")
    world.setup.choose_goal(world.owner, "personalize-first-conversion")
    with _refused("not_found", 404):
        # Offered by another goal, not by this one.
        world.setup.choose_use_case(world.owner, "suppress-with-purchase")


def test_members_cannot_start_or_advance(world: World) -> None:
    with _refused("forbidden", 403):
        world.setup.choose_goal(world.member, "optimize-advertising")
    world.setup.choose_goal(world.owner, "optimize-advertising")
    with _refused("forbidden", 403):
        world.setup.choose_use_case(world.member, "mitigate-cart-abandonment")
    with _refused("forbidden", 403):
        world.setup.restart(world.member)


def test_use_case_can_change_until_review_then_is_locked(world: World) -> None:
    s, owner = world.setup, world.owner
    s.choose_goal(owner, "optimize-advertising")
    s.choose_use_case(owner, "suppress-with-purchase")
    s.choose_use_case(owner, "mitigate-cart-abandonment")
    s.choose_goal(owner, "personalize-first-conversion")
    record = s.get(owner.workspace_id)
    assert record is not None and record.use_case_id is None, "a new goal clears the use case"
    s.restart(owner)
    assert s.get(owner.workspace_id) is None
    walk_to_review(world)
    record = s.get(owner.workspace_id)
    assert record is not None and record.locked and record.plan_id
    plan = world.plans.get(owner.workspace_id, record.plan_id)
    assert [e.name for e in plan.events] == ["Checkout Started", "Order Completed"]
    assert plan.goal_id == "optimize-advertising"
    for change in (
        lambda: s.choose_use_case(owner, "suppress-with-purchase"),
        lambda: s.choose_goal(owner, "optimize-advertising"),
        lambda: s.restart(owner),
    ):
        with _refused("use_case_locked", 409):
            change()
    assert s.review_events(owner).plan_id == record.plan_id, "reviewing again changes nothing"


def test_dev_sources_are_offered_from_recommended_types(world: World) -> None:
    walk_to_review(world)
    s, owner = world.setup, world.owner
    record, web = s.connect_dev_source(owner, type="Website", name="Web", source_id=None)
    assert web.type == "website" and web.environment == "dev"
    with pytest.raises(ValueError, match="Reverse ETL"):
        s.connect_dev_source(owner, type="Reverse ETL", name="Warehouse", source_id=None)
    existing = world.control.create_source(owner.workspace_id, "api", "server", "dev")
    record, _ = s.connect_dev_source(owner, type=None, name=None, source_id=existing.id)
    assert record.dev_source_ids == (web.id, existing.id)
    plan = world.plans.get(owner.workspace_id, record.plan_id or "")
    assert plan.source_ids == (web.id, existing.id)
    prod = world.control.create_source(owner.workspace_id, "p", "server", "prod")
    with _refused("invalid_request", 422):
        s.connect_dev_source(owner, type=None, name=None, source_id=prod.id)


async def test_publish_copies_sources_and_verifies_real_prod_events(world: World) -> None:
    walk_to_review(world)
    s, owner = world.setup, world.owner
    _, web = s.connect_dev_source(owner, type="Website", name="Web", source_id=None)
    world.control.update_source(owner.workspace_id, web.id, rate_limit=50.0)
    record = await s.publish(owner)
    (published,) = record.prod_sources
    prod = world.control.get_source(owner.workspace_id, published.prod_source_id)
    assert (prod.name, prod.type, prod.environment, prod.rate_limit) == (
        "Web",
        "website",
        "prod",
        50.0,
    )
    assert prod.write_key != web.write_key
    again = await s.publish(owner)
    assert again.prod_sources == record.prod_sources, "publishing twice is a no-op"
    plan = world.plans.get(owner.workspace_id, record.plan_id or "")
    assert prod.id in plan.source_ids

    with _refused("not_verified", 409):
        await s.complete_publish(owner)
    dev_event = event(source_id=web.id, properties={})
    await world.store.write([dev_event])
    with _refused("not_verified", 409):
        await s.complete_publish(owner)
    prod_event = event(source_id=prod.id, properties={})
    prod_event.environment = "prod"
    await world.store.write([prod_event])
    record = await s.complete_publish(owner)
    assert record.publish_verified_at is not None
