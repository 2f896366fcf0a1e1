"""The profiles explorer: find a profile by any identifier and see everything Shoal knows.

Profiles live per space (the Dev/Prod switch). A search is ``type:value`` (``email:jane@
example.com``, ``user_id:u1``, ``anonymous_id:…``, ``group_id:…`` for accounts) or a
profile id (``use_…``, ``acc_…``). A profile's page shows traits, computed traits,
identities, merges, linked accounts or users and the event timeline, read from the identity
store exactly as the Profile API (``web/api/profiles.py``) reads it. Audience memberships
are listed with when the profile entered them.
"""

from __future__ import annotations

import asyncio
import json
from typing import Annotated, Any

from fastapi import APIRouter, Query
from starlette.responses import Response

from shoal.identity import IdentityService
from shoal.identity.graph import Profile
from shoal.identity.identifiers import PROFILE_PREFIX, parse_profile_id, profile_id
from shoal.identity.stage import space_of
from shoal.web.ui.render import Ui, UiDep, redirect

router = APIRouter(prefix="/profiles", include_in_schema=False)
COLLECTIONS = ("users", "accounts")
LIST_PAGE = 25
TIMELINE_PAGE = 25
EXAMPLES = "email:jane@example.com, user_id:u1 or anonymous_id:…"


class BadQuery(ValueError):
    """A search that is neither ``type:value`` nor a profile id; the message says why."""


def parse_query(query: str) -> tuple[str, int] | tuple[str, str]:
    """``(collection, pk)`` for a profile id, else ``(id_type, value)``.

    Raises:
        BadQuery: If the text is neither; the message shows how to write it.
    """
    parsed = parse_profile_id(query)
    if parsed is not None:
        return parsed
    id_type, sep, value = query.partition(":")
    id_type, value = id_type.strip().lower(), value.strip()
    if not sep or not id_type or not value:
        if query.startswith(tuple(PROFILE_PREFIX.values())):
            raise BadQuery(f"{query!r} is not a profile id: they look like use_0AbC… or acc_….")
        raise BadQuery(
            f"Write the identifier as type:value, e.g. {EXAMPLES}; or paste a profile id "
            "(use_… or acc_…)."
        )
    if " " in id_type:
        raise BadQuery(f"{id_type!r} is not an identifier type; types have no spaces.")
    return id_type, value


def shown(value: Any) -> str:
    """A trait value as the page shows it: text as is, anything else as JSON."""
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def _unavailable(ui: Ui) -> Response:
    return ui.error(
        503,
        "Profiles are not available",
        "Identity resolution keeps profiles in the DuckDB event store; this server uses "
        "another store, so it has no profiles to explore.",
    )


async def _listed(service: IdentityService, scope: str, collection: str, offset: int) -> Any:
    store = service.store
    found = await store.recent_profiles(scope, collection, LIST_PAGE + 1, offset)
    rows = []
    for profile in found[:LIST_PAGE]:
        full = await store.profile(scope, profile.pk, canonical=True) or profile
        rows.append(full)
    return rows, len(found) > LIST_PAGE


@router.get("")
async def explore(
    ui: UiDep,
    q: str = "",
    collection: str = "users",
    offset_: Annotated[str, Query(alias="offset")] = "0",
) -> Response:
    """Search by identifier, or browse the space's users or accounts, newest change first."""
    service = ui.runtime.identity
    if service is None:
        return _unavailable(ui)
    collection = collection if collection in COLLECTIONS else "users"
    scope = space_of(ui.user.workspace_id, ui.env)
    query = q.strip()[:500]
    context: dict[str, Any] = {"q": query, "collection": collection, "examples": EXAMPLES}
    if query:
        try:
            parsed = parse_query(query)
        except BadQuery as exc:
            return await _search_page(ui, service, scope, context, 422, error=str(exc))
        target = await _find(service, scope, parsed, collection)
        if target is not None:
            return redirect(f"/profiles/{target}")
        return await _search_page(ui, service, scope, context, 404, missing=query)
    offset = int(offset_) if offset_.isdigit() and len(offset_) < 10 else 0
    return await _search_page(ui, service, scope, {**context, "offset": offset}, 200)


async def _find(
    service: IdentityService,
    scope: str,
    parsed: tuple[str, int] | tuple[str, str],
    collection: str,
) -> str | None:
    """The public id of the profile a search names, in this space, or ``None``."""
    first, second = parsed
    if isinstance(second, int):
        found = await service.store.profile(scope, second, details=False)
        return found.id if found is not None and found.collection == first else None
    # The chosen collection first: group_id names accounts, most other types users.
    for name in sorted(COLLECTIONS, key=lambda c: c != collection):
        pk = await service.store.canonical(scope, name, first, second)
        if pk is not None:
            return profile_id(name, pk)
    return None


async def _search_page(
    ui: Ui,
    service: IdentityService,
    scope: str,
    context: dict[str, Any],
    status: int,
    **extra: Any,
) -> Response:
    context.setdefault("offset", 0)
    rows, more = await _listed(service, scope, context["collection"], context["offset"])
    counts = {c: await service.store.count_profiles(scope, c) for c in COLLECTIONS}
    return ui.page(
        "profiles/explore.html",
        status,
        rows=rows,
        more=more,
        counts=counts,
        page_size=LIST_PAGE,
        shown=shown,
        **context,
        **extra,
    )


def _cursor(raw: str) -> tuple[int, int] | None:
    """``(timestamp, seq)`` of a timeline page link, or ``None`` for anything else (numbers
    out of the database's range included)."""
    ts, _, seq = raw.partition(".")
    if not (ts.lstrip("-").isdigit() and seq.isdigit()):
        return None
    found = int(ts), int(seq)
    return found if all(-(2**63) < n < 2**63 for n in found) else None


@router.get("/{public_id}")
async def profile_page(public_id: str, ui: UiDep, before: str = "") -> Response:
    """One profile: traits, computed traits, identities, merges, links, events."""
    service = ui.runtime.identity
    if service is None:
        return _unavailable(ui)
    parsed = parse_profile_id(public_id)
    if parsed is None:
        return ui.error(
            404,
            "No such profile",
            f"{public_id!r} is not a profile id. Search profiles by an identifier instead.",
        )
    collection, pk = parsed
    scope = space_of(ui.user.workspace_id, ui.env)
    profile = await service.store.profile(scope, pk)
    if profile is None or profile.collection != collection:
        return ui.error(
            404,
            "No profile here",
            f"The {ui.env} space has no profile {public_id}. Profiles belong to one space: "
            "try the other environment, or search by an identifier.",
        )
    if profile.id != public_id:
        ui.flash(f"Profile {public_id} was merged into {profile.id}; this is the merged one.")
        return redirect(f"/profiles/{profile.id}")
    after = _cursor(before) if before else None
    if before and after is None:
        ui.flash("error:That page of events does not exist; showing the newest events.")
    return ui.page("profiles/detail.html", **await _details(ui, service, scope, profile, after))


async def _details(
    ui: Ui,
    service: IdentityService,
    scope: str,
    profile: Profile,
    after: tuple[int, int] | None,
) -> dict[str, Any]:
    store = service.store
    computed = await store.computed(scope, profile.pk)
    definitions = await asyncio.to_thread(service.traits, ui.user.workspace_id, ui.env)
    linked = []
    for pk in await store.links(scope, profile.collection, profile.pk):
        found = await store.profile(scope, pk)
        if found is not None:
            linked.append(found)
    page = await store.events(scope, profile.pk, limit=TIMELINE_PAGE, after=after)
    sources = await asyncio.to_thread(ui.runtime.control.list_sources, ui.user.workspace_id)
    audiences: list[dict[str, Any]] = []
    lists: list[tuple[str, str]] = []
    if ui.runtime.audiences is not None:
        engine = ui.runtime.audiences
        visible = {a.key: a for a in await asyncio.to_thread(engine.visible, ui.user, ui.env)}
        for member in await engine.profile_audiences(scope, profile.pk):
            audience = visible.get(member["key"])
            if audience is not None:
                audiences.append({"audience": audience, "entered_at": member["entered_at"]})
        lists = await engine.members.lists_of(scope, profile.pk)
    return {
        "audiences": audiences,
        "lists": lists,
        "profile": profile,
        "traits": sorted((k, v) for k, v in profile.traits.items() if v[0] is not None),
        "computed": computed,
        "definitions": definitions,
        "merges": await store.merges(scope, profile.pk),
        "linked": linked,
        "events": page.events,
        "older": f"{page.cursor[0]}.{page.cursor[1]}" if page.cursor else None,
        "paged": after is not None,
        "source_names": {s.id: s.name for s in sources},
        "profile_id": profile_id,
        "shown": shown,
        "pretty": lambda message: json.dumps(message, indent=2, ensure_ascii=False),
        "env_next": "/profiles",
        "examples": EXAMPLES,
    }
