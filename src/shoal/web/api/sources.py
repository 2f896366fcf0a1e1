"""``/api/v1/sources``: create, list, read, update, delete, rotate write key."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Literal

from fastapi import APIRouter, Response
from pydantic import BaseModel, ConfigDict, Field

from shoal.control import Source
from shoal.web.api.deps import RuntimeDep, UserDep

router = APIRouter(prefix="/sources", tags=["sources"])

SourceType = Literal["website", "mobile", "server", "http"]
ShownType = Literal["website", "mobile", "server", "http", "audiences"]
"""Sources Shoal creates itself (the space's Audiences source) have a type of their own."""
Environment = Literal["dev", "prod"]


class SourceIn(BaseModel):
    """A new source."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    type: SourceType
    environment: Environment = "dev"
    enabled: bool = True
    rate_limit: float | None = Field(
        default=None, gt=0, description="Events per second; unset uses the server default."
    )


class SourcePatch(BaseModel):
    """Fields to change; unset fields stay as they are."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, min_length=1, max_length=200)
    type: SourceType | None = None
    environment: Environment | None = None
    enabled: bool | None = None
    rate_limit: float | None = Field(default=None, gt=0)


class SourceOut(BaseModel):
    """A source as the API shows it."""

    id: str
    workspace_id: str
    name: str
    type: ShownType
    environment: Environment
    write_key: str
    enabled: bool
    rate_limit: float | None
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, source: Source) -> SourceOut:
        def utc(value: datetime) -> datetime:
            # SQLite hands timestamps back without their zone; they were written in UTC.
            return value if value.tzinfo else value.replace(tzinfo=UTC)

        return cls(
            id=source.id,
            workspace_id=source.workspace_id,
            name=source.name,
            type=source.type,
            environment=source.environment,
            write_key=source.write_key,
            enabled=source.enabled,
            rate_limit=source.rate_limit,
            created_at=utc(source.created_at),
            updated_at=utc(source.updated_at),
        )


class SourceList(BaseModel):
    sources: list[SourceOut]


@router.post("", status_code=201, response_model=SourceOut)
def create_source(body: SourceIn, runtime: RuntimeDep, user: UserDep) -> SourceOut:
    """Create a source; the answer carries its ``id`` and ``write_key``."""
    source = runtime.control.create_source(
        user.workspace_id,
        body.name,
        body.type,
        body.environment,
        enabled=body.enabled,
        rate_limit=body.rate_limit,
    )
    return SourceOut.of(source)


@router.get("", response_model=SourceList)
def list_sources(
    runtime: RuntimeDep, user: UserDep, environment: Environment | None = None
) -> SourceList:
    """Every source of the workspace, oldest first."""
    sources = runtime.control.list_sources(user.workspace_id, environment)
    return SourceList(sources=[SourceOut.of(s) for s in sources])


@router.get("/{source_id}", response_model=SourceOut)
def get_source(source_id: str, runtime: RuntimeDep, user: UserDep) -> SourceOut:
    return SourceOut.of(runtime.control.get_source(user.workspace_id, source_id))


@router.patch("/{source_id}", response_model=SourceOut)
def update_source(
    source_id: str, body: SourcePatch, runtime: RuntimeDep, user: UserDep
) -> SourceOut:
    """Rename, retype, move between environments, enable/disable, or set the rate limit."""
    changes = body.model_dump(exclude_unset=True)
    if not changes:
        return get_source(source_id, runtime, user)
    return SourceOut.of(runtime.control.update_source(user.workspace_id, source_id, **changes))


@router.delete("/{source_id}", status_code=204)
def delete_source(source_id: str, runtime: RuntimeDep, user: UserDep) -> Response:
    """Delete a source; its write key stops working, its stored events remain."""
    runtime.control.delete_source(user.workspace_id, source_id)
    return Response(status_code=204)


@router.post("/{source_id}/rotate-key", response_model=SourceOut)
def rotate_key(source_id: str, runtime: RuntimeDep, user: UserDep) -> SourceOut:
    """Issue a new write key; the old one is refused from now on."""
    return SourceOut.of(runtime.control.rotate_write_key(user.workspace_id, source_id))
