"""The guided setup as a state machine (Segment's "Use Cases Setup", step by step).

Pick a goal, pick a use case, acknowledge the dev/prod explanation, then the checklist:
review the suggested events (this locks the use case and creates the tracking plan),
connect dev sources, connect dev destinations, publish to prod (sources and destinations)
and verify that prod events really arrive; then, as seed 003 orders them, Unify (add the
default identifiers in dev; see ``unify``), Engage (create an audience in dev, suggested
for the use case; see ``engage``) and republish (import the identity rules and the
audiences into prod). Only an owner may change the setup; a workspace that already has a
source and a destination connected is not eligible to start.

The audience service is passed to the Engage and republish actions (and to the view) by
the caller, which holds the runtime's ``audiences``: it exists only where identity
resolution does.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from shoal.audiences.repo import Audience
from shoal.audiences.service import AudienceService
from shoal.catalog import BusinessGoal, CatalogLookupError, UseCase, load_catalog
from shoal.control import ControlPlane, Source, User
from shoal.destinations.repo import Destination
from shoal.destinations.service import DestinationService
from shoal.identity import IdentityService
from shoal.onboarding import capabilities as caps
from shoal.onboarding import engage, publishing, unify
from shoal.onboarding.destinations import SetupDestinations
from shoal.onboarding.errors import SetupError, not_ready
from shoal.onboarding.repo import SetupRecord, SetupRepo, now
from shoal.plans import PlanService, events_from_use_case
from shoal.plans.model import plan_description
from shoal.store import EventStore
from shoal.wording import counted

T = TypeVar("T")
__all__ = ["LOCKED", "Eligibility", "SetupError", "SetupService", "unavailable"]


@dataclass(frozen=True, slots=True)
class Eligibility:
    """Whether a workspace may start the guided setup, and why not."""

    eligible: bool
    sources: int
    destinations: int
    message: str


LOCKED = (
    "the use case is locked: its suggested events were reviewed, and from then on the use "
    "case cannot change (as in Segment). Keep going with this use case"
)


def _refuse_unless_owner(user: User) -> None:
    if user.role != "owner":
        raise SetupError(
            403,
            "forbidden",
            f"only a workspace owner can start or change the guided setup; {user.email} is a "
            f"{user.role}. Ask an owner of this workspace to do it.",
        )


def unavailable(capability: caps.Capability) -> SetupError:
    """The refusal for a step whose capability Shoal does not have yet."""
    return SetupError(409, "not_available", capability.message)


class SetupService:
    """Reads and advances the guided setup of a workspace."""

    def __init__(
        self,
        control: ControlPlane,
        plans: PlanService,
        store: EventStore,
        destinations: DestinationService,
        identity: IdentityService | None = None,
    ) -> None:
        self.control = control
        self.identity = identity
        self.plans = plans
        self.store = store
        self.destinations = SetupDestinations(destinations)
        self.repo = SetupRepo(control)
        self.catalog = load_catalog()

    # -- reading -------------------------------------------------------------------------

    def get(self, workspace_id: str) -> SetupRecord | None:
        """The workspace's setup, or ``None`` if not started."""
        return self.repo.get(workspace_id)

    def eligibility(self, workspace_id: str) -> Eligibility:
        """Segment's rule: a workspace with a source and a destination connected is done."""
        sources = len(self.control.list_sources(workspace_id))
        destinations = caps.connected_destination_count(self.control, workspace_id)
        if sources and destinations:
            message = (
                f"this workspace already has {counted(sources, 'source')} and "
                f"{counted(destinations, 'destination')} connected; guided setup is for "
                "workspaces that have not yet connected a source and a destination"
            )
            return Eligibility(False, sources, destinations, message)
        return Eligibility(True, sources, destinations, "this workspace can start guided setup")

    def goal_of(self, record: SetupRecord) -> BusinessGoal | None:
        """The chosen goal, if any."""
        return self.catalog.goal(record.goal_id) if record.goal_id else None

    def use_case_of(self, record: SetupRecord) -> UseCase | None:
        """The chosen use case (as its goal describes it), if any."""
        if record.goal_id and record.use_case_id:
            return self.catalog.use_case(record.goal_id, record.use_case_id)
        return None

    def sources_of(self, record: SetupRecord) -> tuple[list[Source], list[Source]]:
        """The setup's dev sources and prod sources that still exist."""
        by_id = {s.id: s for s in self.control.list_sources(record.workspace_id)}
        dev = [by_id[i] for i in record.dev_source_ids if i in by_id]
        prod = [by_id[p.prod_source_id] for p in record.prod_sources if p.prod_source_id in by_id]
        return dev, prod

    def destinations_of(self, record: SetupRecord) -> tuple[list[Destination], list[Destination]]:
        """The setup's dev destinations (connected to its dev sources) and prod copies."""
        return self.destinations.of(record, record.dev_source_ids)

    # -- the flow ------------------------------------------------------------------------

    def started(self, user: User) -> SetupRecord:
        _refuse_unless_owner(user)
        record = self.repo.get(user.workspace_id)
        if record is None:
            raise not_ready("guided setup has not started; pick a business goal first")
        return record

    def choose_goal(self, user: User, goal_id: str) -> SetupRecord:
        """Step 1: pick a business goal (this starts the setup)."""
        _refuse_unless_owner(user)
        goal = self._lookup(lambda: self.catalog.goal(goal_id))
        record = self.repo.get(user.workspace_id)
        if record is None:
            check = self.eligibility(user.workspace_id)
            if not check.eligible:
                raise SetupError(409, "not_eligible", check.message)
            record = self.repo.create(user.workspace_id, user.id)
        if record.locked:
            raise SetupError(409, "use_case_locked", LOCKED)
        if record.goal_id == goal.id:
            return record
        return self.repo.save(record, goal_id=goal.id, use_case_id=None)

    def choose_use_case(self, user: User, use_case_id: str) -> SetupRecord:
        """Step 2: pick one of the goal's use cases."""
        record = self.started(user)
        if record.locked:
            raise SetupError(409, "use_case_locked", LOCKED)
        if record.goal_id is None:
            raise not_ready("pick a business goal before a use case")
        goal_id = record.goal_id
        use_case = self._lookup(lambda: self.catalog.use_case(goal_id, use_case_id))
        return self.repo.save(record, use_case_id=use_case.id)

    def acknowledge_environments(self, user: User) -> SetupRecord:
        """Step 3: the user has read how dev and prod environments work."""
        record = self.started(user)
        if record.use_case_id is None:
            raise not_ready("pick a use case before the dev/prod explanation")
        if record.environments_acknowledged_at is not None:
            return record
        return self.repo.save(record, environments_acknowledged_at=now())

    def restart(self, user: User) -> None:
        """Begin the use-case flow again ("Change use case"); only before the review."""
        _refuse_unless_owner(user)
        record = self.repo.get(user.workspace_id)
        if record is not None and record.locked:
            raise SetupError(409, "use_case_locked", LOCKED)
        self.repo.delete(user.workspace_id)

    def review_events(self, user: User) -> SetupRecord:
        """Checklist 1: review the suggested events; locks the use case, creates the plan."""
        record = self.started(user)
        if record.locked:
            return record
        use_case = self.use_case_of(record)
        goal = self.goal_of(record)
        if use_case is None or goal is None or record.environments_acknowledged_at is None:
            raise not_ready("pick a goal and a use case and read the dev/prod explanation first")
        events = events_from_use_case(use_case)
        taken = {p.name for p in self.plans.list_plans(user.workspace_id)}
        name, n = f"{use_case.name} (guided setup)", 2
        while name in taken:
            name, n = f"{use_case.name} (guided setup {n})", n + 1
        plan = self.plans.create(
            user.workspace_id,
            name,
            events,
            description=plan_description(goal, use_case),
            goal_id=goal.id,
            use_case_id=use_case.id,
            source_ids=record.dev_source_ids,
        )
        return self.repo.save(record, events_reviewed_at=now(), plan_id=plan.id)

    def connect_dev_source(
        self, user: User, *, type: str | None, name: str | None, source_id: str | None
    ) -> tuple[SetupRecord, Source]:
        """Checklist 2: create a dev source of a recommended type, or adopt an existing one."""
        record = self.started(user)
        if not record.locked:
            raise not_ready("review the suggested events before connecting sources")
        if source_id is not None:
            source = self.control.get_source(user.workspace_id, source_id)
            if source.environment != "dev":
                raise SetupError(
                    422,
                    "invalid_request",
                    f"source {source.name!r} is a prod source; connect a dev one",
                )
        else:
            if not type or not name:
                raise SetupError(
                    422, "invalid_request", "give a source 'type' and 'name', or a 'source_id'"
                )
            source = self.control.create_source(
                user.workspace_id, name, caps.shoal_source_type(type), "dev"
            )
        if record.plan_id is not None:
            self.plans.attach(user.workspace_id, record.plan_id, [source.id])
        if source.id in record.dev_source_ids:
            return record, source
        ids = (*record.dev_source_ids, source.id)
        return self.repo.save(record, dev_source_ids=ids), source

    async def connect_dev_destination(
        self,
        user: User,
        *,
        type: str | None = None,
        name: str | None = None,
        settings: dict[str, Any] | None = None,
        destination_id: str | None = None,
        source_ids: Sequence[str] | None = None,
    ) -> tuple[SetupRecord, Destination]:
        """Checklist 3: create a dev destination of a recommended type (``type``, ``name``,
        ``settings``) or adopt one (``destination_id``), connected to ``source_ids`` (the
        setup's dev sources, all by default). See ``SetupDestinations.connect_dev``."""
        record = await asyncio.to_thread(self.started, user)
        if not record.locked:
            raise not_ready("review the suggested events before connecting destinations")
        dev, _prod = await asyncio.to_thread(self.sources_of, record)
        destination = await self.destinations.connect_dev(
            user,
            dev,
            type=type,
            name=name,
            settings=settings,
            destination_id=destination_id,
            source_ids=source_ids,
        )
        return await asyncio.to_thread(self.started, user), destination

    async def publish(
        self,
        user: User,
        source_ids: Sequence[str] | None = None,
        destination_ids: Sequence[str] | None = None,
    ) -> SetupRecord:
        """Checklist 4: create prod sources and destinations from the dev ones (same
        configuration, new write keys); ``None`` publishes all of them."""
        return await publishing.publish(self, user, source_ids, destination_ids)

    async def complete_publish(self, user: User) -> SetupRecord:
        """Mark publishing complete, once every prod source has really received events."""
        return await publishing.complete_publish(self, user)

    async def add_identifiers(self, user: User) -> SetupRecord:
        """Unify: add the default identifiers to the dev space (see ``unify``)."""
        return await asyncio.to_thread(unify.add_identifiers, self, user)

    async def create_audience(
        self,
        user: User,
        audiences: AudienceService | None,
        *,
        name: str | None = None,
        definition: str | dict[str, Any] | None = None,
    ) -> tuple[SetupRecord, Audience]:
        """Engage: create an audience in dev; the use case's suggestion fills in a missing
        name or definition (see ``engage``)."""
        return await engage.create_audience(self, user, audiences, name=name, definition=definition)

    async def republish(self, user: User, audiences: AudienceService | None = None) -> SetupRecord:
        """Republish: import the dev space's identity rules into prod (see ``unify``), then
        the dev audiences prod lacks (see ``engage``), when this server has audiences."""
        record = await asyncio.to_thread(unify.republish, self, user)
        if audiences is not None:
            record = await engage.import_audiences(self, user, audiences, record)
        return record

    @staticmethod
    def _lookup(find: Callable[[], T]) -> T:
        try:
            return find()
        except CatalogLookupError as exc:
            raise SetupError(404, "not_found", str(exc)) from None
