"""``/api/v1/spaces/{space}/identity``: identity-resolution settings of a space (dev or prod).

Reading is open to members; changing rules, importing them and re-resolving history need
the workspace owner (Segment: Workspace Owner or Identity Admin).
"""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from shoal.control import User
from shoal.control.repo import NotFound
from shoal.identity import IdentityService
from shoal.identity.affected import ReplayRefused
from shoal.identity.replay import replay
from shoal.identity.replay_profiles import MAX_NAMED, replay_profiles
from shoal.identity.rules import (
    SUGGESTED_BLOCKED,
    BlockedValue,
    IdentifierRule,
    IdentitySettings,
    Window,
    insert_rule,
)
from shoal.runtime import Runtime
from shoal.web.api.deps import RuntimeDep, UserDep
from shoal.web.api.errors import ApiError

router = APIRouter(prefix="/spaces/{space}/identity", tags=["identity"])


def identity_of(runtime: Runtime) -> IdentityService:
    """The runtime's identity service, or 503 when the store cannot hold profiles."""
    if runtime.identity is None:
        raise ApiError(503, "unavailable", "identity resolution needs the DuckDB event store")
    return runtime.identity


def require_owner(user: User) -> None:
    """403 unless the user owns the workspace."""
    if user.role != "owner":
        raise ApiError(403, "forbidden", "only the workspace owner can change identity settings")


class SettingsOut(BaseModel):
    """A space's rules; ``priority`` is 1 for the first identifier."""

    space: str
    saved: bool
    identifiers: list[dict[str, Any]]


class DefaultsIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    suggested_blocks: bool = True


class IdentifierIn(IdentifierRule):
    """A new identifier type; without ``priority`` it goes where the default order puts it."""

    priority: int | None = Field(default=None, ge=1)


class IdentifierPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    limit: int | None = Field(default=None, ge=1, le=1000)
    window: Window | None = None
    blocked: list[BlockedValue] | None = None
    trait_keys: list[str] | None = None
    property_keys: list[str] | None = None
    enabled: bool | None = None
    priority: int | None = Field(default=None, ge=1)


class ReplayIn(BaseModel):
    """Which profiles to re-resolve; without a body (or ``profiles``) the whole space."""

    model_config = ConfigDict(extra="forbid")

    profiles: list[str] | None = Field(
        default=None,
        description=f"Up to {MAX_NAMED} user profiles, each <id_type>:<value> or a profile id.",
    )


class ImportIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    from_space: str = Field(description="The space whose rules are copied (e.g. dev).")


def _out(space: str, settings: IdentitySettings, saved: bool) -> SettingsOut:
    return SettingsOut(
        space=space,
        saved=saved,
        identifiers=[
            {"priority": i + 1, **rule.model_dump(mode="json")}
            for i, rule in enumerate(settings.identifiers)
        ],
    )


def _current(service: IdentityService, user: User, space: str) -> IdentitySettings:
    return service.settings(user.workspace_id, space)[0]


@router.get("", response_model=SettingsOut)
def get_settings(space: str, runtime: RuntimeDep, user: UserDep) -> SettingsOut:
    """The space's identity rules (out of the box until saved once)."""
    settings, saved = identity_of(runtime).settings(user.workspace_id, space)
    return _out(space, settings, saved)


@router.put("", response_model=SettingsOut)
def put_settings(
    space: str, body: IdentitySettings, runtime: RuntimeDep, user: UserDep
) -> SettingsOut:
    """Replace all rules (list order = priority). Applies to data arriving from now on."""
    require_owner(user)
    return _out(space, identity_of(runtime).save(user.workspace_id, space, body), True)


@router.post("/defaults", response_model=SettingsOut)
def add_default_identifiers(
    space: str, runtime: RuntimeDep, user: UserDep, body: DefaultsIn | None = None
) -> SettingsOut:
    """ "Add default identifiers": the 11 defaults that are missing, default limits/priority."""
    require_owner(user)
    suggested = body.suggested_blocks if body else True
    settings = identity_of(runtime).add_defaults(user.workspace_id, space, suggested)
    return _out(space, settings, True)


@router.post("/identifiers", response_model=SettingsOut, status_code=201)
def add_identifier(
    space: str, body: IdentifierIn, runtime: RuntimeDep, user: UserDep
) -> SettingsOut:
    """Add (or replace) one identifier type."""
    require_owner(user)
    service = identity_of(runtime)
    rule = IdentifierRule.model_validate(body.model_dump(exclude={"priority"}))
    rules = insert_rule(list(_current(service, user, space).identifiers), rule, body.priority)
    saved = service.save(user.workspace_id, space, IdentitySettings(identifiers=rules))
    return _out(space, saved, True)


@router.patch("/identifiers/{id_type}", response_model=SettingsOut)
def update_identifier(
    space: str,
    id_type: str,
    body: IdentifierPatch,
    runtime: RuntimeDep,
    user: UserDep,
    collection: str = "users",
) -> SettingsOut:
    """Change one identifier's limit, window, blocked values, keys, state or priority."""
    require_owner(user)
    service = identity_of(runtime)
    current = _current(service, user, space)
    rule = current.rule(id_type, collection)
    if rule is None:
        raise NotFound(f"no identifier {id_type!r} in the {collection} rules of {space}")
    changes = body.model_dump(exclude_unset=True, exclude={"priority"})
    updated = IdentifierRule.model_validate({**rule.model_dump(), **changes})
    priority = body.priority or current.identifiers.index(rule) + 1
    rules = insert_rule(list(current.identifiers), updated, priority)
    saved = service.save(user.workspace_id, space, IdentitySettings(identifiers=rules))
    return _out(space, saved, True)


@router.delete("/identifiers/{id_type}", response_model=SettingsOut)
def remove_identifier(
    space: str, id_type: str, runtime: RuntimeDep, user: UserDep, collection: str = "users"
) -> SettingsOut:
    """Stop resolving on an identifier type (existing mappings stay: ids cannot be removed)."""
    require_owner(user)
    service = identity_of(runtime)
    current = _current(service, user, space)
    if current.rule(id_type, collection) is None:
        raise NotFound(f"no identifier {id_type!r} in the {collection} rules of {space}")
    rules = [
        r for r in current.identifiers if not (r.type == id_type and r.collection == collection)
    ]
    saved = service.save(user.workspace_id, space, IdentitySettings(identifiers=rules))
    return _out(space, saved, True)


@router.get("/suggested-blocked-values")
def suggested_blocked_values(space: str, runtime: RuntimeDep, user: UserDep) -> dict[str, Any]:
    """Segment's suggested blocked values."""
    identity_of(runtime).settings(user.workspace_id, space)
    return {"blocked": [b.model_dump() for b in SUGGESTED_BLOCKED]}


@router.post("/import", response_model=SettingsOut)
def import_rules(space: str, body: ImportIn, runtime: RuntimeDep, user: UserDep) -> SettingsOut:
    """Copy another space's identity rules into this one (dev → prod when publishing)."""
    require_owner(user)
    saved = identity_of(runtime).import_rules(user.workspace_id, body.from_space, space)
    return _out(space, saved, True)


@router.post("/replay")
async def replay_space(
    space: str, runtime: RuntimeDep, user: UserDep, body: ReplayIn | None = None
) -> dict[str, Any]:
    """Re-resolve stored events with the current rules: every event of the space, or
    (``profiles``) only the named user profiles' history and what shares identifiers
    with it (docs/identity.md, re-resolution)."""
    require_owner(user)
    service = identity_of(runtime)
    await asyncio.to_thread(service.settings, user.workspace_id, space)
    if body is None or body.profiles is None:
        result = await replay(service, user.workspace_id, space)
        return {"events": result.events, "profiles": result.profiles, "merges": result.merges}
    try:
        done = await replay_profiles(service, user.workspace_id, space, body.profiles)
    except ReplayRefused as exc:
        raise ApiError(400, exc.code, str(exc)) from None
    return {
        "events": done.events,
        "profiles": done.profiles,
        "merges": done.merges,
        "removed": done.removed,
        "resolved": done.resolved,
        "named": done.named,
    }


@router.get("/stats")
def stats(space: str, runtime: RuntimeDep, user: UserDep) -> dict[str, Any]:
    """Resolution counters of this server since start (all spaces)."""
    service = identity_of(runtime)
    service.settings(user.workspace_id, space)
    return dict(vars(service.stage.stats))
