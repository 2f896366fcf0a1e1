"""``/api/v1/audiences``: define, preview, explain, refresh and read audiences; plus static
lists, tags and object collections (``/api/v1/spaces/{space}/…``)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from fastapi import APIRouter, Query, Response
from pydantic import BaseModel, ConfigDict, Field

from shoal.audiences.engine import describe
from shoal.audiences.repo import Audience
from shoal.audiences.service import AudienceService
from shoal.runtime import Runtime
from shoal.web.api.deps import RuntimeDep, UserDep
from shoal.web.api.errors import ApiError

router = APIRouter(tags=["audiences"])
Definition = dict[str, Any] | str


def service_of(runtime: Runtime) -> AudienceService:
    """The runtime's audiences, or 503 when the store cannot evaluate them."""
    if runtime.audiences is None:
        raise ApiError(503, "unavailable", "audiences need the DuckDB event store")
    return runtime.audiences


class AudienceIn(BaseModel):
    """A new audience. ``definition`` is the JSON condition tree or its text form."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    key: str | None = Field(default=None, description="snake_case; derived from the name")
    description: str = Field(default="", max_length=2000)
    space: Literal["dev", "prod"] = "dev"
    collection: str = Field(default="users", max_length=100)
    definition: Definition
    refresh: Literal["realtime", "scheduled"] = "realtime"
    interval_s: int | None = Field(default=None, description="scheduled: seconds (default 4 h)")
    emit_events: bool = True
    hidden_from: list[str] = Field(default_factory=list, description="member user ids")


class AudienceUpdate(BaseModel):
    """Changes to an audience; a new definition becomes a new version."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, min_length=1, max_length=200)
    description: str | None = Field(default=None, max_length=2000)
    definition: Definition | None = None
    refresh: Literal["realtime", "scheduled"] | None = None
    interval_s: int | None = None
    emit_events: bool | None = None
    hidden_from: list[str] | None = None


class AudienceOut(BaseModel):
    """An audience with its cached result."""

    id: str
    key: str
    name: str
    description: str
    space: str
    collection: str
    definition: dict[str, Any]
    text: str
    version: int
    refresh: str
    interval_s: int
    emit_events: bool
    hidden_from: list[str]
    status: str
    error: str | None
    size: int | None
    computed_at: datetime | None
    created_at: datetime
    updated_at: datetime


def _out(a: Audience) -> AudienceOut:
    return AudienceOut(
        id=a.id, key=a.key, name=a.name, description=a.description, space=a.environment,
        collection=a.collection, definition=a.definition, text=a.text, version=a.version,
        refresh=a.refresh, interval_s=a.interval_s, emit_events=a.emit_events,
        hidden_from=a.hidden_from, status=a.status, error=a.error, size=a.size,
        computed_at=a.computed_at, created_at=a.created_at, updated_at=a.updated_at,
    )  # fmt: skip


class PreviewIn(BaseModel):
    """A definition to count and sample without saving it."""

    model_config = ConfigDict(extra="forbid")

    space: Literal["dev", "prod"] = "dev"
    collection: str = "users"
    definition: Definition
    sample: int = Field(default=20, ge=0, le=100)


class ExplainIn(BaseModel):
    """Explain a definition (or, empty, the saved audience) for one profile."""

    model_config = ConfigDict(extra="forbid")

    profile: str = Field(description="id_type:value (email:jane@example.com) or a profile id")
    space: Literal["dev", "prod"] = "dev"
    collection: str = "users"
    definition: Definition | None = None


@router.post("/audiences", response_model=AudienceOut, status_code=201)
async def create_audience(body: AudienceIn, runtime: RuntimeDep, user: UserDep) -> AudienceOut:
    """Create an audience; its first computation starts at once in the background."""
    audience = await service_of(runtime).create(user, body.space, body.model_dump())
    return _out(audience)


@router.get("/audiences")
def list_audiences(
    runtime: RuntimeDep, user: UserDep, space: Literal["dev", "prod"] | None = None
) -> dict[str, list[AudienceOut]]:
    """Audiences the caller may see (all spaces, or one)."""
    return {"audiences": [_out(a) for a in service_of(runtime).visible(user, space)]}


@router.post("/audiences/preview")
async def preview(body: PreviewIn, runtime: RuntimeDep, user: UserDep) -> dict[str, Any]:
    """Exact count and a sample of members, computed live."""
    return await service_of(runtime).preview(
        user, body.space, body.collection, body.definition, body.sample
    )


@router.post("/audiences/explain")
async def explain_definition(body: ExplainIn, runtime: RuntimeDep, user: UserDep) -> dict[str, Any]:
    """For one profile: which conditions of a definition hold, and the values seen."""
    if body.definition is None:
        raise ApiError(422, "invalid_request", "give a definition, or use /audiences/{id}/explain")
    return await service_of(runtime).explain(
        user, body.space, body.collection, body.definition, body.profile
    )


@router.get("/audiences/{audience_id}", response_model=AudienceOut)
def get_audience(audience_id: str, runtime: RuntimeDep, user: UserDep) -> AudienceOut:
    """One audience (by id or key) with its count, computed-at and status."""
    return _out(service_of(runtime).get(user, audience_id))


@router.patch("/audiences/{audience_id}", response_model=AudienceOut)
async def update_audience(
    audience_id: str, body: AudienceUpdate, runtime: RuntimeDep, user: UserDep
) -> AudienceOut:
    """Change an audience."""
    return _out(await service_of(runtime).update(user, audience_id, body.model_dump()))


@router.delete("/audiences/{audience_id}", status_code=204)
async def delete_audience(audience_id: str, runtime: RuntimeDep, user: UserDep) -> Response:
    """Delete an audience (refused while another one includes it)."""
    await service_of(runtime).delete(user, audience_id)
    return Response(status_code=204)


@router.post("/audiences/{audience_id}/refresh")
async def refresh(audience_id: str, runtime: RuntimeDep, user: UserDep) -> dict[str, Any]:
    """Recompute now; answers with what changed. A failure is also stored on the audience."""
    service = service_of(runtime)
    try:
        outcome = await service.refresh(user, audience_id)
    except (LookupError, ValueError):
        raise
    except Exception as exc:
        raise ApiError(422, "refresh_failed", f"the refresh failed: {exc}") from None
    return {**describe(outcome), "audience": _out(service.get(user, audience_id))}


@router.get("/audiences/{audience_id}/members")
async def members(
    audience_id: str,
    runtime: RuntimeDep,
    user: UserDep,
    limit: int = Query(default=50, ge=1, le=1000),
    next: str | None = None,
) -> dict[str, Any]:
    """The cached members (as of ``computed_at``), a page at a time."""
    cursor = None
    if next is not None:
        try:
            cursor = int(next)
        except ValueError:
            raise ApiError(
                400, "validation_error", "next is the cursor of a previous page"
            ) from None
    return await service_of(runtime).member_page(user, audience_id, limit, cursor)


@router.post("/audiences/{audience_id}/explain")
async def explain(
    audience_id: str, body: ExplainIn, runtime: RuntimeDep, user: UserDep
) -> dict[str, Any]:
    """For one profile: which conditions of the saved audience hold, and why."""
    service = service_of(runtime)
    audience = service.get(user, audience_id)
    return await service.explain(
        user, audience.environment, audience.collection,
        body.definition or audience.definition, body.profile,
    )  # fmt: skip


@router.get("/audiences/{audience_id}/history")
async def history(
    audience_id: str,
    runtime: RuntimeDep,
    user: UserDep,
    limit: int = Query(default=100, ge=1, le=10000),
) -> dict[str, Any]:
    """Who entered and exited when (with the definition version), and size over time."""
    return await service_of(runtime).history(user, audience_id, limit)


@router.get("/audiences/{audience_id}/versions")
def versions(audience_id: str, runtime: RuntimeDep, user: UserDep) -> dict[str, Any]:
    """Every definition version with its text and the difference from the one before."""
    return {"versions": service_of(runtime).versions(user, audience_id)}


class ListChange(BaseModel):
    """Profiles to add to or remove from a static list or tag, by identifier."""

    model_config = ConfigDict(extra="forbid")

    collection: str = "users"
    add: list[str] = Field(default_factory=list, max_length=10000)
    remove: list[str] = Field(default_factory=list, max_length=10000)


@router.post("/spaces/{space}/lists/{name}")
async def change_list(
    space: str, name: str, body: ListChange, runtime: RuntimeDep, user: UserDep
) -> dict[str, Any]:
    """A static list: add and remove profiles (``email:…``, ``user_id:…`` or profile ids)."""
    return await service_of(runtime).set_list(
        user, space, body.collection, "list", name, body.add, body.remove
    )


@router.post("/spaces/{space}/tags/{name}")
async def change_tag(
    space: str, name: str, body: ListChange, runtime: RuntimeDep, user: UserDep
) -> dict[str, Any]:
    """A tag: add it to and remove it from profiles."""
    return await service_of(runtime).set_list(
        user, space, body.collection, "tag", name, body.add, body.remove
    )


class CollectionIn(BaseModel):
    """An object collection: its name and the event property carrying an object's id."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=100)
    id_property: str = Field(min_length=1, max_length=200)


@router.get("/spaces/{space}/collections")
def collections(space: str, runtime: RuntimeDep, user: UserDep) -> dict[str, Any]:
    """Collections audiences can be built over."""
    found = service_of(runtime).collections(user.workspace_id, space)
    return {"collections": [{"name": n, "id_property": p or None} for n, p in found.items()]}


@router.post("/spaces/{space}/collections", status_code=201)
def save_collection(
    space: str, body: CollectionIn, runtime: RuntimeDep, user: UserDep
) -> dict[str, str]:
    """Declare an object collection (products, deals, activities, tickets, …)."""
    return service_of(runtime).save_collection(user, space, body.name, body.id_property)


class ObjectIn(BaseModel):
    """One object: its id and attributes (``null`` removes an attribute)."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(min_length=1, max_length=500)
    attributes: dict[str, Any] = Field(default_factory=dict)


class ObjectsIn(BaseModel):
    """A batch of objects to create or update."""

    model_config = ConfigDict(extra="forbid")

    objects: list[ObjectIn] = Field(min_length=1, max_length=10000)


@router.post("/spaces/{space}/collections/{collection}/objects")
async def upsert_objects(
    space: str, collection: str, body: ObjectsIn, runtime: RuntimeDep, user: UserDep
) -> dict[str, int]:
    """Create or update objects (attributes merge, last write wins)."""
    count = await service_of(runtime).upsert_objects(
        user, space, collection, [(o.id, o.attributes) for o in body.objects]
    )
    return {"upserted": count}


@router.get("/spaces/{space}/collections/{collection}/objects/{object_id}")
async def get_object(
    space: str, collection: str, object_id: str, runtime: RuntimeDep, user: UserDep
) -> dict[str, Any]:
    """One object and its attributes."""
    from shoal.identity.stage import space_of

    service = service_of(runtime)
    if collection not in service.collections(user.workspace_id, space):
        raise ApiError(404, "not_found", f"Object collection was not found: {collection!r}.")
    found = await service.members.get_object(
        space_of(user.workspace_id, space), collection, object_id
    )
    if found is None:
        raise ApiError(404, "not_found", f"Object was not found: {object_id!r}.")
    return found
