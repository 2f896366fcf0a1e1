"""``/api/v1/audiences/{id}/destinations``: activate an audience on a list-sync destination.

A connection keeps a vendor-side list (a Meta Custom Audience, named by ``list_id``) in
step with the audience: its current members first, then every entry and exit. Only
destinations whose type declares list sync can be connected (422 otherwise); event
destinations get Audience Entered/Exited through the space's "Audiences" source.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Response
from pydantic import BaseModel, ConfigDict, Field

from shoal.destinations.activation import Activation
from shoal.runtime import Runtime
from shoal.web.api.deps import RuntimeDep, UserDep
from shoal.web.api.errors import ApiError

router = APIRouter(tags=["audiences"])


def activation_of(runtime: Runtime) -> Activation:
    """The runtime's activation, or 503 when audiences cannot run on its store."""
    if runtime.destinations.activation.audiences is None:
        raise ApiError(503, "unavailable", "audience activation needs the DuckDB event store")
    return runtime.destinations.activation


class ConnectionIn(BaseModel):
    """A list-sync destination and the vendor's list to keep in step."""

    model_config = ConfigDict(extra="forbid")

    destination_id: str = Field(min_length=1, max_length=40)
    list_id: str = Field(
        min_length=1,
        max_length=200,
        pattern=r"^[A-Za-z0-9_.:\-]+$",
        description="The vendor-side list (a Meta Custom Audience id, e.g. 23851234567890)",
    )


class ConnectionOut(BaseModel):
    """A connection and how far its sync got."""

    audience_id: str
    destination_id: str
    destination_name: str
    destination_type: str
    list_id: str
    created_at: datetime
    cursor: int = Field(description="The last membership change (history seq) synced")
    pending_changes: int = Field(description="Changes recorded after the cursor")
    pending_more: bool = Field(description="More changes are pending than counted")
    added: int
    removed: int
    last_synced_at: datetime | None
    last_error: str | None
    last_error_at: datetime | None
    dead_letters: int = Field(description="Dead-lettered batches not replayed yet")
    syncing: bool


@router.post("/audiences/{audience_id}/destinations", response_model=ConnectionOut, status_code=201)
async def connect(
    audience_id: str, body: ConnectionIn, runtime: RuntimeDep, user: UserDep
) -> dict[str, Any]:
    """Connect the audience to a list-sync destination; its first sync sends the current
    members, then every entry and exit follows."""
    return await activation_of(runtime).connect(
        user, audience_id, body.destination_id, body.list_id
    )


@router.get("/audiences/{audience_id}/destinations")
async def connections(
    audience_id: str, runtime: RuntimeDep, user: UserDep
) -> dict[str, list[ConnectionOut]]:
    """The audience's connections with their sync status."""
    found = await activation_of(runtime).connections(user, audience_id)
    return {"destinations": [ConnectionOut(**c) for c in found]}


@router.delete("/audiences/{audience_id}/destinations/{destination_id}", status_code=204)
async def disconnect(
    audience_id: str, destination_id: str, runtime: RuntimeDep, user: UserDep
) -> Response:
    """Stop syncing (the vendor-side list keeps its members)."""
    await activation_of(runtime).disconnect(user, audience_id, destination_id)
    return Response(status_code=204)


@router.get("/audiences/{audience_id}/destinations/{destination_id}/dead-letters")
async def dead_letters(
    audience_id: str, destination_id: str, runtime: RuntimeDep, user: UserDep
) -> dict[str, Any]:
    """Batches the vendor refused for good or that failed past the retry window."""
    found = await activation_of(runtime).dead_letters(user, audience_id, destination_id)
    return {"dead_letters": found}


@router.post("/audiences/{audience_id}/destinations/{destination_id}/replay", status_code=202)
async def replay(
    audience_id: str, destination_id: str, runtime: RuntimeDep, user: UserDep
) -> dict[str, Any]:
    """Re-send the current membership of every dead-lettered profile."""
    return await activation_of(runtime).replay(user, audience_id, destination_id)
