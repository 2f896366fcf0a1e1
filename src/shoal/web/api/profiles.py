"""The Profile API, modeled on Segment's, under our Bearer auth and error envelope.

``GET /api/v1/spaces/{space}/collections/{users|accounts}/profiles/{id_type}:{value}/
{traits|events|external_ids|links|metadata|merges}``. ``{id_type}:{value}`` may also be a
profile id (``use_…`` / ``acc_…``). Errors: 404 ``{"code": "not_found", "message":
"Profile was not found."}``.

Each request reads what it answers in one reader call (``identity.profile_read``: usually
two DuckDB statements) and answers JSON encoded by msgspec, skipping FastAPI's
``jsonable_encoder`` walk of the answer.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

import msgspec
from fastapi import APIRouter, Query, Request, Response

from shoal.identity import IdentityService
from shoal.identity.duckdb_reads import EventsQuery
from shoal.identity.identifiers import profile_id, raw_identifiers
from shoal.identity.profile_read import ProfileRead, Want, read_profile
from shoal.identity.refs import BadRef, parse_ref
from shoal.identity.repo import check_space
from shoal.identity.stage import space_of
from shoal.spec.timestamps import format_ms, parse_ms
from shoal.web.api.deps import RuntimeDep, UserDep
from shoal.web.api.errors import ApiError
from shoal.web.api.identity import identity_of

router = APIRouter(
    prefix="/spaces/{space}/collections/{collection}/profiles/{external_id}", tags=["profiles"]
)
Collection = Literal["users", "accounts"]


def _not_found() -> ApiError:
    return ApiError(404, "not_found", "Profile was not found.")


async def _profile(
    service: IdentityService,
    workspace_id: str,
    space: str,
    collection: str,
    external_id: str,
    want: Want,
) -> tuple[str, ProfileRead]:
    """The profile a request names and what ``want`` asks for, in one store call."""
    try:
        check_space(space)
    except LookupError:
        raise ApiError(404, "not_found", "Space was not found.") from None
    try:
        ref = parse_ref(external_id, collection)
    except BadRef as exc:
        raise ApiError(400, "validation_error", str(exc)) from None
    scope = space_of(workspace_id, space)
    found = await read_profile(service.store, scope, collection, ref, want)
    if found is None:
        raise _not_found()
    return scope, found


_ENCODE = msgspec.json.Encoder().encode


def _json(body: dict[str, Any]) -> Response:
    return Response(_ENCODE(body), media_type="application/json")


def _iso(ms: int | None) -> str | None:
    return None if ms is None else format_ms(ms)


def _cursor(request: Request, has_more: bool, next_: str | None, limit: int) -> dict[str, Any]:
    return {"url": request.url.path, "has_more": has_more, "next": next_, "limit": limit}


def _split(value: str | None) -> list[str]:
    return [v.strip() for v in (value or "").split(",") if v.strip()]


@router.get("/traits")
async def traits(
    space: str,
    collection: Collection,
    external_id: str,
    request: Request,
    runtime: RuntimeDep,
    user: UserDep,
    limit: Annotated[int, Query(ge=1, le=200)] = 10,
    include: str | None = None,
    class_: Annotated[Literal["audience", "computed_trait"] | None, Query(alias="class")] = None,
    verbose: bool = False,
    next: str | None = None,
) -> Response:
    """Traits (last updated wins) and computed traits, by key; page with ``next``."""
    service = identity_of(runtime)
    want_computed = class_ in (None, "computed_trait")
    scope, found = await _profile(
        service, user.workspace_id, space, collection, external_id, Want(computed=want_computed)
    )
    profile, computed = found.profile, found.computed
    values: dict[str, tuple[Any, int]] = {}
    if class_ is None:
        values = {k: (v[0], v[1]) for k, v in profile.traits.items() if v[0] is not None}
    if want_computed:
        values.update(computed)
    if class_ == "audience" and runtime.audiences is not None:
        # Audience traits: true for each audience the profile is in (Segment's class).
        visible = {a.key for a in runtime.audiences.visible(user, space)}
        for member in await runtime.audiences.profile_audiences(scope, profile.pk):
            if member["key"] in visible:
                values[member["key"]] = (True, member["entered_at"])
    wanted = set(_split(include))
    keys = sorted(k for k in values if (not wanted or k in wanted) and (next is None or k > next))
    page = keys[:limit]
    out = {
        k: ({"value": values[k][0], "updated_at": _iso(values[k][1])} if verbose else values[k][0])
        for k in page
    }
    more = len(keys) > limit
    return _json(
        {"traits": out, "cursor": _cursor(request, more, page[-1] if more else None, limit)}
    )


@router.get("/external_ids")
async def external_ids(
    space: str,
    collection: Collection,
    external_id: str,
    request: Request,
    runtime: RuntimeDep,
    user: UserDep,
    limit: Annotated[int, Query(ge=1, le=100)] = 10,
    next: Annotated[int | None, Query(ge=0)] = None,
) -> Response:
    """Every identifier of the profile (merged profiles included), oldest first."""
    service = identity_of(runtime)
    _scope, found = await _profile(
        service, user.workspace_id, space, collection, external_id, Want(details=True)
    )
    profile = found.profile
    start = next or 0
    rows = profile.mappings[start : start + limit]
    data = [
        {
            "id": m.value,
            "type": m.type,
            "collection": m.collection,
            "source_id": m.source_id,
            "created_at": _iso(m.added_at),
            "encoding": "none",
            "first_message_id": m.message_id,
        }
        for m in rows
    ]
    more = start + limit < len(profile.mappings)
    return _json(
        {
            "data": data,
            "cursor": _cursor(request, more, str(start + limit) if more else None, limit),
        }
    )


@router.get("/events")
async def events(
    space: str,
    collection: Collection,
    external_id: str,
    request: Request,
    runtime: RuntimeDep,
    user: UserDep,
    limit: Annotated[int, Query(ge=1, le=100)] = 10,
    start: str | None = None,
    end: str | None = None,
    include: str | None = None,
    exclude: str | None = None,
    sort: Literal["asc", "desc"] = "desc",
    next: str | None = None,
) -> Response:
    """The profile's events, merged and anonymous history included; newest first by default."""
    service = identity_of(runtime)
    bounds: list[int | None] = []
    for name, raw in (("start", start), ("end", end)):
        value = parse_ms(raw) if raw else None
        if raw and value is None:
            raise ApiError(400, "validation_error", f"{name} must be an ISO-8601 timestamp")
        bounds.append(value)
    after = None
    if next:
        ts, _, seq = next.partition(".")
        if not (ts.lstrip("-").isdigit() and seq.isdigit()):
            raise ApiError(400, "validation_error", "next is the cursor of a previous answer")
        after = (int(ts), int(seq))
    query = EventsQuery(
        limit, bounds[0], bounds[1], tuple(_split(include)), tuple(_split(exclude)),
        sort == "asc", after,
    )  # fmt: skip
    _scope, found = await _profile(
        service, user.workspace_id, space, collection, external_id, Want(events=query)
    )
    profile, page = found.profile, found.page
    assert page is not None
    rules = service.rules_for(user.workspace_id, space)
    data = []
    for ev in page.events:
        msg = ev.message
        data.append(
            {
                "external_ids": [
                    {"collection": c, "type": t, "id": v} for c, t, v in raw_identifiers(msg, rules)
                ],
                "context": msg.get("context", {}),
                "type": ev.type,
                "message_id": ev.message_id,
                "source_id": ev.source_id,
                "timestamp": _iso(ev.timestamp),
                "properties": msg.get("properties", {}),
                "traits": msg.get("traits"),
                "event": ev.event,
                "related": {"users": [profile.id] if collection == "users" else []},
            }
        )
    nxt = f"{page.cursor[0]}.{page.cursor[1]}" if page.cursor else None
    return _json({"data": data, "cursor": _cursor(request, page.has_more, nxt, limit)})


@router.get("/metadata")
async def metadata(
    space: str, collection: Collection, external_id: str, runtime: RuntimeDep, user: UserDep
) -> Response:
    """When the profile was created and last updated, and its first and last message."""
    service = identity_of(runtime)
    _scope, found = await _profile(
        service, user.workspace_id, space, collection, external_id, Want(details=True)
    )
    p = found.profile
    return _json(
        {
            "metadata": {
                "id": p.id,
                "created_at": _iso(p.created_at),
                "updated_at": datetime.fromtimestamp(p.updated_at / 1000, UTC).isoformat(),
                "expires_at": None,
                "first_message_id": p.first_message_id,
                "first_source_id": p.first_source_id,
                "last_message_id": p.last_message_id,
                "last_source_id": p.last_source_id,
                "last_seen_at": _iso(p.last_seen),
                "merges": p.merges,
                "identities": len(p.mappings),
            }
        }
    )


@router.get("/links")
async def links(
    space: str,
    collection: Collection,
    external_id: str,
    request: Request,
    runtime: RuntimeDep,
    user: UserDep,
    limit: Annotated[int, Query(ge=1, le=20)] = 20,
) -> Response:
    """Accounts of a user (or users of an account) with their external ids."""
    service = identity_of(runtime)
    _scope, found = await _profile(
        service, user.workspace_id, space, collection, external_id, Want(links=limit)
    )
    other = "accounts" if collection == "users" else "users"
    data = []
    for linked in found.links:
        ids = [
            {
                "id": m.value,
                "type": m.type,
                "source_id": m.source_id,
                "created_at": _iso(m.added_at),
            }
            for m in linked.mappings
        ]
        data.append({"to_collection": other, "id": linked.id, "external_ids": ids})
    more = found.linked > limit
    return _json({"data": data, "cursor": _cursor(request, more, None, limit)})


@router.get("/merges")
async def merges(
    space: str, collection: Collection, external_id: str, runtime: RuntimeDep, user: UserDep
) -> Response:
    """How the profile came to be: every merge into it, with the message that caused it."""
    service = identity_of(runtime)
    _scope, found = await _profile(
        service, user.workspace_id, space, collection, external_id, Want(merges=True)
    )
    return _json(
        {
            "data": [
                {
                    "from": profile_id(r.collection, r.from_pk),
                    "into": profile_id(r.collection, r.into_pk),
                    "message_id": r.message_id,
                    "source_id": r.source_id,
                    "timestamp": _iso(r.timestamp),
                    "reason": r.reason,
                    "recorded_at": _iso(r.created_at),
                }
                for r in found.merges
            ]
        }
    )


@router.get("/audiences")
async def audiences(
    space: str, collection: Collection, external_id: str, runtime: RuntimeDep, user: UserDep
) -> dict[str, Any]:
    """The audiences the profile is currently in (as of each audience's last refresh), with
    when it entered, plus its static lists and tags."""
    service = identity_of(runtime)
    scope, found_profile = await _profile(
        service, user.workspace_id, space, collection, external_id, Want()
    )
    profile = found_profile.profile
    if runtime.audiences is None:
        return {"data": [], "lists": []}
    found = runtime.audiences
    visible = {a.key: a for a in found.visible(user, space)}
    memberships = await found.profile_audiences(scope, profile.pk)
    lists = await found.members.lists_of(scope, profile.pk)
    return {
        "data": [
            {
                "key": m["key"],
                "id": visible[m["key"]].id,
                "name": visible[m["key"]].name,
                "entered_at": _iso(m["entered_at"]),
            }
            for m in memberships
            if m["key"] in visible
        ],
        "lists": [{"kind": kind, "name": name} for kind, name in lists],
    }
