"""``/api/v1/setup``: the guided setup of the workspace (owners advance it, anyone reads it).

Every action answers with the whole setup, as ``GET /api/v1/setup`` does.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, ParamSpec, TypeVar

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field

from shoal.catalog.snippets import event_snippets
from shoal.control import User
from shoal.onboarding import SetupError, setup_view
from shoal.runtime import Runtime
from shoal.web.api.deps import RuntimeDep, UserDep
from shoal.web.api.errors import ApiError

router = APIRouter(prefix="/setup", tags=["guided setup"])
P = ParamSpec("P")
T = TypeVar("T")


class GoalIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    goal_id: str = Field(min_length=1, description="e.g. optimize-advertising")


class UseCaseIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    use_case_id: str = Field(min_length=1, description="e.g. mitigate-cart-abandonment")


class DevSourceIn(BaseModel):
    """A new dev source (``type`` and ``name``) or an existing one (``source_id``)."""

    model_config = ConfigDict(extra="forbid")
    type: str | None = Field(default=None, description="Website, Mobile, server or http")
    name: str | None = Field(default=None, min_length=1, max_length=200)
    source_id: str | None = None


class DevDestinationIn(BaseModel):
    """A new dev destination (``type``, ``name``, ``settings``) or an existing one
    (``destination_id``), connected to ``source_ids`` (all the setup's dev sources by default).
    """

    model_config = ConfigDict(extra="forbid")
    type: str | None = Field(
        default=None,
        min_length=1,
        max_length=100,
        description="An adapter (webhook, mixpanel, ...) or a recommended type (Analytics, ...)",
    )
    name: str | None = Field(default=None, min_length=1, max_length=200)
    settings: dict[str, Any] | None = Field(
        default=None, description="The adapter's settings; see GET /destination-types"
    )
    destination_id: str | None = Field(default=None, min_length=1)
    source_ids: list[str] | None = Field(
        default=None, description="Dev sources of the setup to connect; all by default."
    )


class PublishIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    source_ids: list[str] | None = Field(
        default=None, description="Dev sources to publish; all of the setup's by default."
    )
    destination_ids: list[str] | None = Field(
        default=None,
        description="Dev destinations to copy to prod; by default every one connected to a "
        "published source.",
    )


class EngageIn(BaseModel):
    """The audience to create in dev; what is left out comes from the use case's suggestion."""

    model_config = ConfigDict(extra="forbid")
    name: str | None = Field(default=None, min_length=1, max_length=200)
    definition: str | dict[str, Any] | None = Field(
        default=None,
        description="The text form (event('Order Completed').count() >= 2) or the JSON tree",
    )


def _refused(exc: SetupError) -> ApiError:
    return ApiError(exc.status, exc.code, exc.message)


async def _blocking(fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    try:
        return await asyncio.to_thread(fn, *args, **kwargs)
    except SetupError as exc:
        raise _refused(exc) from None


async def _then_view(runtime: Runtime, user: User, action: Awaitable[object]) -> dict[str, Any]:
    try:
        await action
    except SetupError as exc:
        raise _refused(exc) from None
    return await setup_view(runtime.setup, user, runtime.audiences)


@router.get("")
async def get_setup(runtime: RuntimeDep, user: UserDep) -> dict[str, Any]:
    """The whole guided setup: steps, their status, and what really arrived per event."""
    return await setup_view(runtime.setup, user, runtime.audiences)


@router.post("/goal")
async def choose_goal(body: GoalIn, runtime: RuntimeDep, user: UserDep) -> dict[str, Any]:
    """Pick the business goal; on a workspace without a setup this starts one."""
    action = _blocking(runtime.setup.choose_goal, user, body.goal_id)
    return await _then_view(runtime, user, action)


@router.post("/use-case")
async def choose_use_case(body: UseCaseIn, runtime: RuntimeDep, user: UserDep) -> dict[str, Any]:
    """Pick one of the chosen goal's use cases (until the events are reviewed)."""
    action = _blocking(runtime.setup.choose_use_case, user, body.use_case_id)
    return await _then_view(runtime, user, action)


@router.post("/environments/acknowledge")
async def acknowledge(runtime: RuntimeDep, user: UserDep) -> dict[str, Any]:
    """Confirm the dev/prod explanation was read; the setup checklist opens."""
    action = _blocking(runtime.setup.acknowledge_environments, user)
    return await _then_view(runtime, user, action)


@router.post("/restart")
async def restart(runtime: RuntimeDep, user: UserDep) -> dict[str, Any]:
    """Change the use case: begin the flow again (refused once the events were reviewed)."""
    return await _then_view(runtime, user, _blocking(runtime.setup.restart, user))


@router.post("/review-events")
async def review_events(runtime: RuntimeDep, user: UserDep) -> dict[str, Any]:
    """Review the suggested events: locks the use case and creates its tracking plan."""
    action = _blocking(runtime.setup.review_events, user)
    return await _then_view(runtime, user, action)


@router.post("/dev-sources")
async def connect_dev_source(
    body: DevSourceIn, runtime: RuntimeDep, user: UserDep
) -> dict[str, Any]:
    """Connect a dev source: create one of a recommended type, or adopt an existing one."""
    action = _blocking(
        runtime.setup.connect_dev_source,
        user,
        type=body.type,
        name=body.name,
        source_id=body.source_id,
    )
    return await _then_view(runtime, user, action)


@router.post("/dev-destinations")
async def connect_dev_destination(
    body: DevDestinationIn, runtime: RuntimeDep, user: UserDep
) -> dict[str, Any]:
    """Connect a dev destination: create one of a recommended type with its settings, or
    adopt an existing dev destination; either is connected to the setup's dev sources."""
    action = runtime.setup.connect_dev_destination(
        user,
        type=body.type,
        name=body.name,
        settings=body.settings,
        destination_id=body.destination_id,
        source_ids=body.source_ids,
    )
    return await _then_view(runtime, user, action)


@router.post("/publish")
async def publish(
    runtime: RuntimeDep, user: UserDep, body: PublishIn | None = None
) -> dict[str, Any]:
    """Create prod sources and destinations from the dev ones (same configuration, new
    write keys; destination secrets are copied on the server)."""
    action = runtime.setup.publish(
        user, body.source_ids if body else None, body.destination_ids if body else None
    )
    return await _then_view(runtime, user, action)


@router.post("/publish/complete")
async def complete_publish(runtime: RuntimeDep, user: UserDep) -> dict[str, Any]:
    """Mark publishing complete; refused until events really arrived from each prod source."""
    return await _then_view(runtime, user, runtime.setup.complete_publish(user))


@router.post("/unify/default-identifiers")
async def add_default_identifiers(runtime: RuntimeDep, user: UserDep) -> dict[str, Any]:
    """Unify: add the default identifiers (types, limits, priorities) to the dev space's
    identity resolution; done at once if dev already has them all."""
    return await _then_view(runtime, user, runtime.setup.add_identifiers(user))


@router.post("/engage")
async def create_audience(
    runtime: RuntimeDep, user: UserDep, body: EngageIn | None = None
) -> dict[str, Any]:
    """Engage: create an audience in the dev space, by default the one suggested for the use
    case (``engage_audience.suggestion``); ``name`` and ``definition`` override it. A bad
    definition answers 422 with the parser's message."""
    action = runtime.setup.create_audience(
        user,
        runtime.audiences,
        name=body.name if body else None,
        definition=body.definition if body else None,
    )
    return await _then_view(runtime, user, action)


@router.post("/republish")
async def republish(runtime: RuntimeDep, user: UserDep) -> dict[str, Any]:
    """Import the dev space's identity rules into prod, then every dev audience prod does
    not have yet (by key); the ``republish`` step's ``audiences`` part shows each one."""
    return await _then_view(runtime, user, runtime.setup.republish(user, runtime.audiences))


def _snippets(runtime: Runtime, workspace_id: str, base_url: str) -> list[dict[str, Any]]:
    record = runtime.setup.get(workspace_id)
    if record is None or record.plan_id is None:
        return []
    plan = runtime.plans.get(workspace_id, record.plan_id)
    dev, prod = runtime.setup.sources_of(record)
    return [
        {
            "event": event.name,
            "call": event.call,
            "source": {"id": s.id, "name": s.name, "type": s.type, "environment": s.environment},
            "snippets": [
                {"library": x.library, "language": x.language, "code": x.code}
                for x in event_snippets(
                    event.name,
                    event.call,
                    event.properties,
                    source_type=s.type,
                    write_key=s.write_key,
                    base_url=base_url,
                )
            ],
        }
        for s in [*dev, *prod]
        for event in plan.events
    ]


@router.get("/snippets")
async def snippets(request: Request, runtime: RuntimeDep, user: UserDep) -> dict[str, Any]:
    """Code to paste: each suggested event for each connected source, with its write key."""
    base_url = runtime.settings.public_url or str(request.base_url)
    items = await asyncio.to_thread(_snippets, runtime, user.workspace_id, base_url)
    return {"base_url": base_url.rstrip("/"), "items": items}
