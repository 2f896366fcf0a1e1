"""``GET /api/v1/setup``: the whole guided setup as one document, progress included."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from shoal.audiences.service import AudienceService
from shoal.catalog import BusinessGoal, UseCase
from shoal.control import Source, User
from shoal.destinations.base import DestinationFactory
from shoal.onboarding import capabilities as caps
from shoal.onboarding import engage, unify
from shoal.onboarding.destinations import describe
from shoal.onboarding.flow import Eligibility, SetupService
from shoal.onboarding.progress import event_progress
from shoal.onboarding.repo import SetupRecord
from shoal.onboarding.steps import activate, step
from shoal.plans import TrackingPlan, events_from_use_case

ENVIRONMENTS_EXPLANATION = (
    "Start with development (dev) sources to test and debug your implementation before "
    "sending live data downstream. Shoal labels every source and destination dev or prod. "
    "Once your dev setup works, publishing creates matching prod sources (same settings, new "
    "write keys) and prod copies of your dev destinations (same configuration)."
)
REVIEW_WARNING = (
    "Once you've reviewed the suggested events you can no longer change the use case; "
    "restart the flow before that to pick another one."
)


@dataclass(frozen=True, slots=True)
class Snapshot:
    """Everything the view needs from the control plane, read in one go."""

    record: SetupRecord | None
    eligibility: Eligibility
    goal: BusinessGoal | None
    use_case: UseCase | None
    plan: TrackingPlan | None
    dev: list[Source]
    prod: list[Source]
    factories: list[DestinationFactory]
    dev_destinations: list[dict[str, Any]]
    prod_destinations: list[dict[str, Any]]
    identity: unify.IdentityState | None = None
    audiences: engage.AudienceState | None = None


def snapshot(
    service: SetupService, user: User, audiences: AudienceService | None = None
) -> Snapshot:
    """Read the setup, its sources, destinations, plan, identity rules and audiences
    (blocking: run it in a thread)."""
    workspace_id = user.workspace_id
    record = service.get(workspace_id)
    eligibility = service.eligibility(workspace_id)
    factories = service.destinations.factories()
    identity = unify.read(service.identity, workspace_id) if service.identity else None
    # Audiences are computed over identity's profiles: without identity there are none.
    found = engage.read(audiences, user) if audiences is not None and identity else None
    if record is None:
        return Snapshot(
            None, eligibility, None, None, None, [], [], factories, [], [], identity, found
        )
    plan = None
    if record.plan_id is not None:
        plan = next(
            (p for p in service.plans.list_plans(workspace_id) if p.id == record.plan_id), None
        )
    dev, prod = service.sources_of(record)
    dev_dest, prod_dest = service.destinations_of(record)
    secrets = service.destinations.secrets_set
    copied_from = {p.prod_destination_id: p.dev_destination_id for p in record.prod_destinations}
    return Snapshot(
        record,
        eligibility,
        service.goal_of(record),
        service.use_case_of(record),
        plan,
        dev,
        prod,
        factories,
        [describe(d, factories, secrets(d)) for d in dev_dest],
        [
            {"dev_destination_id": copied_from[d.id], **describe(d, factories, secrets(d))}
            for d in prod_dest
        ],
        identity,
        found,
    )


def _iso(value: Any) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value is not None else None


def _source(source: Source) -> dict[str, Any]:
    return {
        "id": source.id,
        "name": source.name,
        "type": source.type,
        "environment": source.environment,
        "write_key": source.write_key,
        "enabled": source.enabled,
    }


def steps(snap: Snapshot, service: SetupService) -> list[dict[str, Any]]:
    """The flow's steps with their status: done, todo, blocked or unavailable."""
    rec, goal, use_case = snap.record, snap.goal, snap.use_case
    locked = rec is not None and rec.locked
    acknowledged = rec is not None and rec.environments_acknowledged_at is not None
    published = rec is not None and rec.published_at is not None
    goals = [
        {"id": g.id, "name": g.name, "description": g.description} for g in service.catalog.goals
    ]
    use_cases = [
        {"id": u.id, "name": u.name, "description": u.description}
        for u in (goal.use_cases if goal else ())
    ]
    suggested = use_case.events if use_case else ()
    recommended_sources = [
        {
            "type": kind,
            "shoal_type": caps.SOURCE_TYPES.get(kind),
            "available": caps.SOURCE_TYPES.get(kind) is not None,
            "message": caps.UNAVAILABLE_SOURCE_MESSAGES.get(kind),
        }
        for kind in (use_case.sources if use_case else ())
    ]
    copied = {p["dev_destination_id"] for p in snap.prod_destinations}
    unpublished = [d["id"] for d in snap.dev_destinations if d["id"] not in copied]
    recommended_destinations = caps.recommended_destinations(
        use_case.destinations if use_case else (), snap.factories
    )
    return [
        step(
            "goal",
            "Pick your business goal",
            goal is not None,
            not locked,
            None if locked else "POST /api/v1/setup/goal",
            locked=locked,
            selected=goal and {"id": goal.id, "name": goal.name},
            options=goals,
        ),
        step(
            "use_case",
            "Select a use case",
            use_case is not None,
            goal is not None and not locked,
            None if locked else "POST /api/v1/setup/use-case",
            locked=locked,
            selected=use_case and {"id": use_case.id, "name": use_case.name},
            options=use_cases,
        ),
        step(
            "environments",
            "Working with dev and prod environments",
            acknowledged,
            use_case is not None,
            "POST /api/v1/setup/environments/acknowledge",
            explanation=ENVIRONMENTS_EXPLANATION,
        ),
        step(
            "review_events",
            "Review suggested events",
            locked,
            acknowledged,
            "POST /api/v1/setup/review-events",
            warning=REVIEW_WARNING,
            plan_id=snap.plan.id if snap.plan else None,
            events=[e.model_dump(mode="json") for e in suggested],
        ),
        step(
            "dev_sources",
            "Connect dev sources",
            bool(snap.dev),
            locked,
            "POST /api/v1/setup/dev-sources",
            recommended=recommended_sources,
            also_accepted=list(caps.EXTRA_SOURCE_TYPES),
            sources=[_source(s) for s in snap.dev],
        ),
        step(
            "dev_destinations",
            "Connect dev destinations",
            bool(snap.dev_destinations),
            locked and bool(snap.dev),
            "POST /api/v1/setup/dev-destinations",
            recommended=recommended_destinations,
            also_accepted=[
                caps.adapter_summary(f)
                for f in snap.factories
                if f.category not in (use_case.destinations if use_case else ())
            ],
            destinations=snap.dev_destinations,
        ),
        step(
            "publish",
            "Publish to prod and verify",
            rec is not None and rec.publish_verified_at is not None,
            bool(snap.dev) and locked,
            "POST /api/v1/setup/publish/complete"
            if published and not unpublished
            else "POST /api/v1/setup/publish",
            published_at=_iso(rec.published_at if rec else None),
            verified_at=_iso(rec.publish_verified_at if rec else None),
            prod_sources=[
                {"dev_source_id": p.dev_source_id, **_source(s)}
                for p in (rec.prod_sources if rec else ())
                for s in snap.prod
                if s.id == p.prod_source_id
            ],
            prod_destinations=snap.prod_destinations,
            unpublished_destinations=unpublished,
        ),
        *activate(snap.record, snap.identity, snap.audiences, use_case),
    ]


async def setup_view(
    service: SetupService, user: User, audiences: AudienceService | None = None
) -> dict[str, Any]:
    """The whole state of a workspace's guided setup, as ``GET /api/v1/setup`` returns it.

    ``audiences`` is the runtime's audience service; without it the Engage step and the
    audience part of republishing say this server has no audiences.
    """
    snap = await asyncio.to_thread(snapshot, service, user, audiences)
    rec = snap.record
    listed = steps(snap, service)
    open_steps = [s for s in listed if s["status"] == "todo"]
    if rec is None:
        status = "not_started"
    elif rec.publish_verified_at is not None:
        status = "complete"
    else:
        status = "in_progress"
    planned = (
        list(snap.plan.events)
        if snap.plan
        else (events_from_use_case(snap.use_case) if snap.use_case else [])
    )
    progress = await event_progress(
        service.store,
        user.workspace_id,
        planned,
        [*snap.dev, *snap.prod],
        snap.plan.version if snap.plan else None,
    )
    return {
        "workspace_id": user.workspace_id,
        "status": status,
        "can_edit": user.role == "owner",
        "eligibility": {
            "eligible": snap.eligibility.eligible or rec is not None,
            "sources": snap.eligibility.sources,
            "destinations": snap.eligibility.destinations,
            "message": "guided setup has started" if rec else snap.eligibility.message,
        },
        "goal": listed[0]["selected"],
        "use_case": listed[1]["selected"],
        "use_case_locked": rec is not None and rec.locked,
        "plan_id": snap.plan.id if snap.plan else None,
        "started_at": _iso(rec.started_at) if rec else None,
        "current_step": open_steps[0]["id"] if open_steps else None,
        "steps": listed,
        "progress": progress,
    }
