"""``/api/v1/destinations``: configure, connect, test, observe and replay destinations.

Secret settings are write-only: answers list which ones are set (``secrets_set``), never
their values. Filters and mappings are shown in both forms: the condition tree (``if``,
``trigger``) and its FQL text (``fql``); either is accepted. FQL that does not parse is a
400 ``invalid_fql`` naming the column.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any, Literal

from fastapi import APIRouter, Query, Response
from pydantic import BaseModel, ConfigDict, Field

from shoal.destinations.base import secret_fields
from shoal.destinations.fql import FQLError, shown
from shoal.destinations.registry import get_factory
from shoal.destinations.repo import Destination
from shoal.web.api.deps import RuntimeDep, UserDep
from shoal.web.api.errors import ApiError

router = APIRouter(tags=["destinations"])
Environment = Literal["dev", "prod"]


class DestinationIn(BaseModel):
    """A new destination."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    type: str = Field(min_length=1, max_length=100, description="See GET /destination-types")
    environment: Environment = "dev"
    enabled: bool = True
    settings: dict[str, Any] = Field(default_factory=dict)
    filters: list[dict[str, Any]] = Field(default_factory=list, max_length=50)
    mappings: list[dict[str, Any]] = Field(default_factory=list, max_length=50)
    max_in_flight: int = Field(default=4, ge=1, le=64, description="Concurrent requests")
    source_ids: list[str] = Field(default_factory=list)


class DestinationPatch(BaseModel):
    """Fields to change; settings merge (omit a secret to keep it, null to clear it)."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, min_length=1, max_length=200)
    enabled: bool | None = None
    settings: dict[str, Any] | None = None
    filters: list[dict[str, Any]] | None = Field(default=None, max_length=50)
    mappings: list[dict[str, Any]] | None = Field(default=None, max_length=50)
    max_in_flight: int | None = Field(default=None, ge=1, le=64)


class SourceRef(BaseModel):
    """A source to connect."""

    model_config = ConfigDict(extra="forbid")

    source_id: str = Field(min_length=1)


class TestIn(BaseModel):
    """An event to send; a sample ``track`` event when omitted."""

    model_config = ConfigDict(extra="forbid")

    event: dict[str, Any] | None = None


class ReplayIn(BaseModel):
    """Replay dead letters (all pending, or the listed ones) or a time range."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    dead_letter_ids: list[str] | None = None
    from_: datetime | None = Field(default=None, alias="from")
    to: datetime | None = None


def _utc(value: datetime | None) -> datetime | None:
    # SQLite hands timestamps back without their zone; they were written in UTC.
    return value if value is None or value.tzinfo else value.replace(tzinfo=UTC)


def view(destination: Destination, sealed: set[str]) -> dict[str, Any]:
    """A destination as the API shows it (no secret values)."""
    factory = get_factory(destination.type)
    secrets = [name for name in secret_fields(factory.settings_model) if name in sealed]
    return {
        "id": destination.id,
        "workspace_id": destination.workspace_id,
        "name": destination.name,
        "type": destination.type,
        "category": factory.category,
        "environment": destination.environment,
        "enabled": destination.enabled,
        "settings": destination.settings,
        "secrets_set": secrets,
        "filters": [shown(f, "if") for f in destination.filters],
        "mappings": [shown(m, "trigger") for m in destination.mappings],
        "max_in_flight": destination.max_in_flight,
        "source_ids": list(destination.source_ids),
        "created_at": _utc(destination.created_at),
        "updated_at": _utc(destination.updated_at),
    }


@contextmanager
def _fql_errors() -> Iterator[None]:
    """FQL that does not parse is a bad request (400), with the column in the message."""
    try:
        yield
    except FQLError as exc:
        raise ApiError(400, "invalid_fql", str(exc)) from None


def _out(runtime: RuntimeDep, destination: Destination) -> dict[str, Any]:
    return view(destination, set(runtime.destinations.box.open(destination.secrets)))


@router.get("/destination-types")
async def destination_types(runtime: RuntimeDep, user: UserDep) -> dict[str, Any]:
    """Every adapter: category, capabilities, settings schema (secrets marked), actions."""
    del user
    types = []
    for f in runtime.destinations.types():
        types.append(
            {
                "name": f.name,
                "title": f.title,
                "category": f.category,
                "description": f.description,
                "capabilities": {
                    "batching": f.capabilities.batching,
                    "max_batch_size": f.capabilities.max_batch_size,
                    "event_types": list(f.capabilities.event_types),
                    "list_sync": f.capabilities.list_sync,
                },
                "settings_schema": f.settings_model.model_json_schema(),
                "secret_settings": secret_fields(f.settings_model),
                "actions": [
                    {"name": a.name, "title": a.title, "trigger": a.trigger, "fields": a.fields}
                    for a in f.actions
                ],
            }
        )
    return {"types": types}


@router.get("/destinations")
async def list_destinations(
    runtime: RuntimeDep, user: UserDep, environment: Environment | None = None
) -> dict[str, Any]:
    """The workspace's destinations."""
    found = await runtime.destinations.list_destinations(user, environment)
    return {"destinations": [_out(runtime, d) for d in found]}


@router.post("/destinations", status_code=201)
async def create_destination(
    runtime: RuntimeDep, user: UserDep, body: DestinationIn
) -> dict[str, Any]:
    """Create a destination; it receives events stored from now on."""
    with _fql_errors():
        created = await runtime.destinations.create(user, body.model_dump())
    return _out(runtime, created)


@router.get("/destinations/{destination_id}")
async def get_destination(
    runtime: RuntimeDep, user: UserDep, destination_id: str
) -> dict[str, Any]:
    """One destination."""
    return _out(runtime, await runtime.destinations.get(user, destination_id))


@router.patch("/destinations/{destination_id}")
async def update_destination(
    runtime: RuntimeDep, user: UserDep, destination_id: str, body: DestinationPatch
) -> dict[str, Any]:
    """Change settings, filters, mappings, name, enabled or max_in_flight."""
    changes = body.model_dump(exclude_unset=True)
    with _fql_errors():
        updated = await runtime.destinations.update(user, destination_id, changes)
    return _out(runtime, updated)


@router.delete("/destinations/{destination_id}", status_code=204)
async def delete_destination(runtime: RuntimeDep, user: UserDep, destination_id: str) -> Response:
    """Delete a destination with its dead letters and delivery state."""
    await runtime.destinations.delete(user, destination_id)
    return Response(status_code=204)


@router.post("/destinations/{destination_id}/enable")
async def enable(runtime: RuntimeDep, user: UserDep, destination_id: str) -> dict[str, Any]:
    """Start delivering (events from now on)."""
    return _out(runtime, await runtime.destinations.update(user, destination_id, {"enabled": True}))


@router.post("/destinations/{destination_id}/disable")
async def disable(runtime: RuntimeDep, user: UserDep, destination_id: str) -> dict[str, Any]:
    """Stop delivering."""
    updated = await runtime.destinations.update(user, destination_id, {"enabled": False})
    return _out(runtime, updated)


@router.post("/destinations/{destination_id}/sources")
async def connect_source(
    runtime: RuntimeDep, user: UserDep, destination_id: str, body: SourceRef
) -> dict[str, Any]:
    """Connect a source of the same environment."""
    return _out(runtime, await runtime.destinations.connect(user, destination_id, body.source_id))


@router.delete("/destinations/{destination_id}/sources/{source_id}")
async def disconnect_source(
    runtime: RuntimeDep, user: UserDep, destination_id: str, source_id: str
) -> dict[str, Any]:
    """Disconnect a source."""
    updated = await runtime.destinations.disconnect(user, destination_id, source_id)
    return _out(runtime, updated)


@router.post("/destinations/{destination_id}/test")
async def test_destination(
    runtime: RuntimeDep, user: UserDep, destination_id: str, body: TestIn | None = None
) -> dict[str, Any]:
    """Send one event now (mappings apply, filters do not) and show the vendor's answers."""
    event = body.event if body else None
    results = await runtime.destinations.test(user, destination_id, event)
    return {"results": results, "ok": bool(results) and all(r["ok"] for r in results)}


@router.get("/destinations/{destination_id}/metrics")
async def metrics(runtime: RuntimeDep, user: UserDep, destination_id: str) -> dict[str, Any]:
    """Delivered, retrying, failed, filtered, latency, last error, cursor and backlog."""
    return await runtime.destinations.metrics(user, destination_id)


@router.get("/destinations/{destination_id}/dead-letters")
async def dead_letters(
    runtime: RuntimeDep,
    user: UserDep,
    destination_id: str,
    limit: int = Query(100, ge=1, le=1000),
    offset: int = Query(0, ge=0),
) -> dict[str, Any]:
    """Payloads that failed for good, newest first, with the vendor's last answer."""
    total, rows = await runtime.destinations.dead_letters(user, destination_id, limit, offset)
    for row in rows:
        for key in ("first_attempt_at", "failed_at", "replayed_at"):
            row[key] = _utc(row[key])
    return {"total": total, "dead_letters": rows}


@router.post("/destinations/{destination_id}/replay", status_code=202)
async def replay(
    runtime: RuntimeDep, user: UserDep, destination_id: str, body: ReplayIn
) -> dict[str, Any]:
    """Re-send dead letters, or every stored event received in ``[from, to)``."""
    data = {"dead_letter_ids": body.dead_letter_ids, "from": body.from_, "to": body.to}
    return await runtime.destinations.replay(user, destination_id, data)


@router.get("/destinations/{destination_id}/replays")
async def replays(runtime: RuntimeDep, user: UserDep, destination_id: str) -> dict[str, Any]:
    """Replay jobs and their progress, newest first."""
    await runtime.destinations.get(user, destination_id)
    return {"replays": runtime.destinations.ledger.replays(destination_id)}
