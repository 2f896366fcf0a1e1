"""``/api/v1/plans``: tracking plans (anyone reads them; owners change them)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Annotated, Any

import msgspec
from fastapi import APIRouter, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from shoal.catalog.snippets import event_snippets
from shoal.control import User
from shoal.plans import PlanEvent, PlanProperty, Policy, TrackingPlan, event_schema
from shoal.plans.model import PropertyType
from shoal.web.api.deps import RuntimeDep, UserDep
from shoal.web.api.errors import ApiError

router = APIRouter(prefix="/plans", tags=["tracking plans"])


class PlanIn(BaseModel):
    """A new tracking plan."""

    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=200)
    description: str = Field(default="", max_length=2000)
    events: list[PlanEvent] = Field(default_factory=list)
    unplanned_events: Policy = "flag"
    invalid_properties: Policy = "flag"
    source_ids: list[str] = Field(default_factory=list)


class PlanPatch(BaseModel):
    """Plan fields to change; unset fields stay as they are."""

    model_config = ConfigDict(extra="forbid")
    name: str | None = Field(default=None, min_length=1, max_length=200)
    description: str | None = Field(default=None, max_length=2000)
    unplanned_events: Policy | None = None
    invalid_properties: Policy | None = None


class EventsIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    events: list[PlanEvent]


class PropertyIn(BaseModel):
    """A property of a planned event (its name comes from the path)."""

    model_config = ConfigDict(extra="forbid")
    type: PropertyType | None = None
    required: bool = True
    description: str = Field(default="", max_length=2000)


class SourcesIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    source_ids: list[str] = Field(min_length=1)


def _iso(value: datetime) -> str:
    value = value if value.tzinfo else value.replace(tzinfo=UTC)
    return value.isoformat().replace("+00:00", "Z")


def plan_view(plan: TrackingPlan) -> dict[str, Any]:
    """A plan as the API shows it, with the JSON Schema of every event."""
    return {
        "id": plan.id,
        "name": plan.name,
        "description": plan.description,
        "goal_id": plan.goal_id,
        "use_case_id": plan.use_case_id,
        "unplanned_events": plan.unplanned_events,
        "invalid_properties": plan.invalid_properties,
        "version": plan.version,
        "source_ids": list(plan.source_ids),
        "created_at": _iso(plan.created_at),
        "updated_at": _iso(plan.updated_at),
        "events": [{**e.model_dump(), "json_schema": event_schema(e)} for e in plan.events],
    }


def _owner(user: User) -> None:
    if user.role != "owner":
        raise ApiError(
            403,
            "forbidden",
            f"only a workspace owner can change tracking plans; {user.email} is a {user.role}",
        )


@router.get("")
def list_plans(runtime: RuntimeDep, user: UserDep) -> dict[str, Any]:
    """Every tracking plan of the workspace."""
    return {"plans": [plan_view(p) for p in runtime.plans.list_plans(user.workspace_id)]}


@router.post("", status_code=201)
def create_plan(body: PlanIn, runtime: RuntimeDep, user: UserDep) -> dict[str, Any]:
    """Create a plan and attach it to ``source_ids``; it checks their events at once."""
    _owner(user)
    plan = runtime.plans.create(
        user.workspace_id,
        body.name,
        body.events,
        description=body.description,
        unplanned_events=body.unplanned_events,
        invalid_properties=body.invalid_properties,
        source_ids=body.source_ids,
    )
    return plan_view(plan)


@router.get("/{plan_id}")
def get_plan(plan_id: str, runtime: RuntimeDep, user: UserDep) -> dict[str, Any]:
    """One plan, with a JSON Schema per event."""
    return plan_view(runtime.plans.get(user.workspace_id, plan_id))


@router.patch("/{plan_id}")
def update_plan(
    plan_id: str, body: PlanPatch, runtime: RuntimeDep, user: UserDep
) -> dict[str, Any]:
    """Rename the plan or change what happens to unplanned and invalid events."""
    _owner(user)
    changes = body.model_dump(exclude_none=True)
    if not changes:
        return get_plan(plan_id, runtime, user)
    return plan_view(runtime.plans.update(user.workspace_id, plan_id, **changes))


@router.delete("/{plan_id}", status_code=204)
def delete_plan(plan_id: str, runtime: RuntimeDep, user: UserDep) -> Response:
    """Delete a plan; its sources stop being checked (stored violations remain)."""
    _owner(user)
    runtime.plans.delete(user.workspace_id, plan_id)
    return Response(status_code=204)


@router.put("/{plan_id}/events")
def replace_events(
    plan_id: str, body: EventsIn, runtime: RuntimeDep, user: UserDep
) -> dict[str, Any]:
    """Replace the plan's whole event list."""
    _owner(user)
    return plan_view(runtime.plans.update(user.workspace_id, plan_id, events=body.events))


@router.post("/{plan_id}/events")
def upsert_event(
    plan_id: str, body: PlanEvent, runtime: RuntimeDep, user: UserDep
) -> dict[str, Any]:
    """Add an event to the plan, or replace the one with the same name."""
    _owner(user)
    return plan_view(runtime.plans.upsert_event(user.workspace_id, plan_id, body))


@router.delete("/{plan_id}/events/{event_name}")
def remove_event(
    plan_id: str, event_name: str, runtime: RuntimeDep, user: UserDep
) -> dict[str, Any]:
    """Remove an event; from now on it counts as unplanned."""
    _owner(user)
    return plan_view(runtime.plans.remove_event(user.workspace_id, plan_id, event_name))


@router.put("/{plan_id}/events/{event_name}/properties/{name}")
def upsert_property(
    plan_id: str, event_name: str, name: str, body: PropertyIn, runtime: RuntimeDep, user: UserDep
) -> dict[str, Any]:
    """Add a property to a planned event, or change its type or whether it is required."""
    _owner(user)
    prop = PlanProperty(name=name, **body.model_dump())
    plan = runtime.plans.upsert_property(user.workspace_id, plan_id, event_name, prop)
    return plan_view(plan)


@router.delete("/{plan_id}/events/{event_name}/properties/{name}")
def remove_property(
    plan_id: str, event_name: str, name: str, runtime: RuntimeDep, user: UserDep
) -> dict[str, Any]:
    """Remove a property from a planned event."""
    _owner(user)
    plan = runtime.plans.remove_property(user.workspace_id, plan_id, event_name, name)
    return plan_view(plan)


@router.post("/{plan_id}/sources")
def attach_sources(
    plan_id: str, body: SourcesIn, runtime: RuntimeDep, user: UserDep
) -> dict[str, Any]:
    """Check these sources' events against the plan (a source follows one plan)."""
    _owner(user)
    return plan_view(runtime.plans.attach(user.workspace_id, plan_id, body.source_ids))


@router.delete("/{plan_id}/sources/{source_id}")
def detach_source(
    plan_id: str, source_id: str, runtime: RuntimeDep, user: UserDep
) -> dict[str, Any]:
    """Stop checking a source against the plan."""
    _owner(user)
    return plan_view(runtime.plans.detach(user.workspace_id, plan_id, [source_id]))


@router.get("/{plan_id}/snippets")
def plan_snippets(
    plan_id: str, source_id: str, request: Request, runtime: RuntimeDep, user: UserDep
) -> dict[str, Any]:
    """Code to paste for every event of the plan, filled in for one source."""
    plan = runtime.plans.get(user.workspace_id, plan_id)
    source = runtime.control.get_source(user.workspace_id, source_id)
    base_url = runtime.settings.public_url or str(request.base_url)
    return {
        "source": {"id": source.id, "name": source.name, "type": source.type},
        "events": [
            {
                "event": e.name,
                "call": e.call,
                "snippets": [
                    {"library": s.library, "language": s.language, "code": s.code}
                    for s in event_snippets(
                        e.name,
                        e.call,
                        e.properties,
                        source_type=source.type,
                        write_key=source.write_key,
                        base_url=base_url,
                    )
                ],
            }
            for e in plan.events
        ],
    }


_DECODE = msgspec.json.Decoder().decode


@router.get("/{plan_id}/violations")
async def recent_violations(
    plan_id: str,
    runtime: RuntimeDep,
    user: UserDep,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> dict[str, Any]:
    """The newest events of the plan's sources that broke it (flagged or blocked)."""
    plan = await asyncio.to_thread(runtime.plans.get, user.workspace_id, plan_id)
    if not plan.source_ids:
        return {"events": []}
    marks = ", ".join("?" for _ in plan.source_ids)
    rows = await runtime.store.query(
        "SELECT id, source_id, environment, type, event, status, reason, received_at, violations "
        f"FROM events WHERE workspace_id = ? AND source_id IN ({marks}) "
        "AND violations IS NOT NULL AND json_array_length(violations) > 0 "
        "ORDER BY id DESC LIMIT ?",
        [user.workspace_id, *plan.source_ids, limit],
    )
    return {
        "events": [
            {
                "id": r[0],
                "source_id": r[1],
                "environment": r[2],
                "type": r[3],
                "event": r[4],
                "status": r[5],
                "reason": r[6],
                "received_at": _iso(r[7]),
                "violations": _DECODE(r[8]),
            }
            for r in rows
        ]
    }
