"""A control plane, an event store, destinations, identity and the setup service, per test;
audiences too, for the tests that ask for them."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from shoal.audiences.members import MembershipStore
from shoal.audiences.service import AudienceService
from shoal.control import ControlPlane, User
from shoal.destinations.service import DestinationService
from shoal.identity import IdentityService
from shoal.onboarding import SetupService
from shoal.pipeline import EventHub
from shoal.plans import PlanService
from shoal.queue import open_queue
from shoal.settings import Settings
from shoal.store.duckdb import DuckDBStore


@dataclass
class World:
    control: ControlPlane
    store: DuckDBStore
    plans: PlanService
    destinations: DestinationService
    setup: SetupService
    identity: IdentityService
    owner: User
    member: User


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[World]:
    control = ControlPlane(f"sqlite:///{tmp_path / 'control.db'}")
    control.migrate()
    control.bootstrap("token")
    owner = control.owner()
    member = control.create_user(owner.workspace_id, "m@example.com", "M", "member")
    store = DuckDBStore(tmp_path / "events.duckdb")
    await store.start()
    plans = PlanService(control)
    # Destinations may reach the loopback receivers of the tests, and poll often.
    settings = Settings(
        data_dir=tmp_path,
        destinations_allowed_networks=["127.0.0.0/8"],
        destinations_poll_seconds=0.1,
    )
    destinations = DestinationService(control, store, EventHub(), settings)
    identity = IdentityService(control, store)
    await identity.start()
    setup = SetupService(control, plans, store, destinations, identity)
    try:
        yield World(control, store, plans, destinations, setup, identity, owner, member)
    finally:
        await identity.stop()
        await destinations.stop()
        await store.close()
        control.close()


@pytest.fixture
async def audiences(world: World, tmp_path: Path) -> AsyncIterator[AudienceService]:
    """The audience service over the world's identity resolution, as the runtime builds it
    (its emitted Audience Entered/Exited events go to a real SQLite queue)."""
    queue = open_queue(f"sqlite:///{tmp_path / 'queue.db'}")
    await queue.start()
    service = AudienceService(world.control, MembershipStore(world.store), queue, world.identity)
    await service.start()
    try:
        yield service
    finally:
        await service.stop()
        await queue.close()


def walk_to_review(world: World, goal: str = "optimize-advertising") -> None:
    """Pick Mitigate cart abandonment under ``goal`` and review its events."""
    world.setup.choose_goal(world.owner, goal)
    world.setup.choose_use_case(world.owner, "mitigate-cart-abandonment")
    world.setup.acknowledge_environments(world.owner)
    world.setup.review_events(world.owner)
