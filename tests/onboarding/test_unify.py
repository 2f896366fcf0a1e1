"""Unify (add default identifiers) and republishing identity rules to prod, over real identity."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from shoal.identity.rules import DEFAULT_TYPES, IdentifierRule, IdentitySettings
from shoal.onboarding import SetupError, SetupService, setup_view
from shoal.onboarding import capabilities as caps
from tests.onboarding.conftest import World, walk_to_review
from tests.plans.helpers import event


@contextmanager
def _refused(code: str, status: int) -> Iterator[None]:
    with pytest.raises(SetupError) as info:
        yield
    assert (info.value.code, info.value.status) == (code, status), info.value.message


async def _steps(world: World, setup: SetupService | None = None) -> dict[str, dict[str, Any]]:
    view = await setup_view(setup or world.setup, world.owner)
    return {s["id"]: s for s in view["steps"]}


async def _verified(world: World) -> None:
    """Walk to a published prod setup that really received an event, and mark it complete."""
    walk_to_review(world)
    s, owner = world.setup, world.owner
    s.connect_dev_source(owner, type="Website", name="Web", source_id=None)
    record = await s.publish(owner)
    prod_event = event(source_id=record.prod_sources[0].prod_source_id, properties={})
    prod_event.environment = "prod"
    await world.store.write([prod_event])


async def test_unify_then_republish_after_prod_is_verified(world: World) -> None:
    s, owner, ws = world.setup, world.owner, world.owner.workspace_id
    await _verified(world)
    steps = await _steps(world)
    assert steps["unify_identifiers"]["status"] == "blocked"
    assert [d["type"] for d in steps["unify_identifiers"]["defaults"]] == list(DEFAULT_TYPES)
    with _refused("step_not_ready", 409):
        await s.add_identifiers(owner)
    with _refused("step_not_ready", 409):
        await s.republish(owner)
    await s.complete_publish(owner)
    with _refused("forbidden", 403):
        await s.add_identifiers(world.member)
    with _refused("step_not_ready", 409):
        await s.republish(owner)  # nothing configured in dev yet
    assert world.identity.settings(ws, "dev")[1] is False

    record = await s.add_identifiers(owner)
    assert record.identifiers_added_at is not None
    dev, saved = world.identity.settings(ws, "dev")
    assert saved and [r.type for r in dev.identifiers] == list(DEFAULT_TYPES)
    steps = await _steps(world)
    unify = steps["unify_identifiers"]
    assert unify["status"] == "done" and unify["saved"] is True
    assert unify["identifiers"][:2] == [
        {"priority": 1, "type": "user_id", "collection": "users", "limit": 1, "window": "ever",
         "enabled": True},
        {"priority": 2, "type": "email", "collection": "users", "limit": 5, "window": "ever",
         "enabled": True},
    ]  # fmt: skip
    assert all(d["configured"] for d in unify["defaults"])
    assert steps["engage_audience"]["status"] == "unavailable"
    assert steps["republish"]["status"] == "todo"
    again = await s.add_identifiers(owner)
    assert again.identifiers_added_at == record.identifiers_added_at, "idempotent"
    assert world.identity.settings(ws, "dev")[0] == dev

    with _refused("forbidden", 403):
        await s.republish(world.member)
    assert world.identity.settings(ws, "prod")[1] is False
    record = await s.republish(owner)
    assert record.republished_at is not None
    assert world.identity.settings(ws, "prod") == (dev, True)
    republish = (await _steps(world))["republish"]
    assert republish["status"] == "done" and republish["identity_rules"]["in_sync"] is True
    # This setup service was given no audience service: the audience part says so.
    assert republish["audiences"] == {
        "available": False,
        "waits_for": "audiences",
        "message": caps.REPUBLISH_AUDIENCES_MISSING.message,
    }

    # Dev changes after the import: the step asks for another one.
    rules = [r.model_copy(update={"limit": 2}) if r.type == "email" else r for r in dev.identifiers]
    world.identity.save(ws, "dev", IdentitySettings(identifiers=rules))
    republish = (await _steps(world))["republish"]
    assert republish["status"] == "todo" and republish["identity_rules"]["in_sync"] is False
    assert "import them again" in republish["identity_rules"]["message"]
    await s.republish(owner)
    email = world.identity.settings(ws, "prod")[0].rule("email")
    assert email is not None and email.limit == 2
    assert (await _steps(world))["republish"]["status"] == "done"


async def test_identifiers_already_there_make_unify_done(world: World) -> None:
    ws = world.owner.workspace_id
    custom = IdentifierRule(type="email", limit=2)
    world.identity.save(ws, "dev", IdentitySettings(identifiers=[custom]))
    walk_to_review(world)
    steps = await _steps(world)
    assert steps["unify_identifiers"]["status"] == "blocked", "one identifier is not all"
    world.identity.add_defaults(ws, "dev")
    steps = await _steps(world)
    assert steps["unify_identifiers"]["status"] == "done"
    record = await world.setup.add_identifiers(world.owner)
    assert record.identifiers_added_at is not None, "done without a verified prod setup"
    dev = world.identity.settings(ws, "dev")[0]
    assert dev.rule("email") == custom, "existing rules keep their settings"
    assert len(dev.identifiers) == len(DEFAULT_TYPES)


async def test_without_identity_resolution_the_steps_say_so(world: World) -> None:
    setup = SetupService(world.control, world.plans, world.store, world.destinations)
    walk_to_review(world)
    steps = await _steps(world, setup)
    for step_id in ("unify_identifiers", "republish"):
        assert steps[step_id]["status"] == "unavailable"
        assert steps[step_id]["message"] == caps.IDENTITY_MISSING.message
    assert steps["engage_audience"]["status"] == "unavailable"
    assert steps["engage_audience"]["message"] == caps.AUDIENCES_MISSING.message
    assert steps["republish"]["audiences"]["available"] is False
    with _refused("not_available", 409):
        await setup.add_identifiers(world.owner)
    with _refused("not_available", 409):
        await setup.republish(world.owner)
