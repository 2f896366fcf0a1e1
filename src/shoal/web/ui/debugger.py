"""The live debugger of a source: its events newest first, arriving over server-sent events.

The page itself carries only the filters; ``static/debugger.js`` opens the Config API's
stream (``/api/v1/sources/{id}/events/stream``, authenticated by the session cookie) with
the newest events as a backlog, then adds each new event at the top as it is stored.
Filters are plain query parameters, so a filtered view is a link that can be shared.
"""

from __future__ import annotations

import asyncio
from urllib.parse import urlencode

from fastapi import APIRouter
from starlette.responses import Response

from shoal.web.ui.render import UiDep, redirect
from shoal.web.ui.sources import find_source, missing_page

router = APIRouter(prefix="/sources", include_in_schema=False)

TYPES = ("track", "page", "screen", "identify", "group", "alias")
STATUSES = ("accepted", "rejected")
BACKLOG = 100


async def event_names(ui: UiDep, source_id: str) -> list[str]:
    """Track event names this source has sent, for the filter's suggestions."""
    rows = await ui.runtime.store.query(
        "SELECT event FROM events WHERE source_id = ? AND event IS NOT NULL "
        "GROUP BY event ORDER BY count(*) DESC, event LIMIT 200",
        [source_id],
    )
    return [str(row[0]) for row in rows]


def stream_url(source_id: str, type_: str, event: str, status: str) -> str:
    """The Config API stream the page listens to, with the page's filters."""
    params: list[tuple[str, str | int]] = [("backlog", BACKLOG)]
    if type_:
        params.append(("type", type_))
    if event:
        params.append(("event", event))
    if status:
        params.append(("status", status))
    return f"/api/v1/sources/{source_id}/events/stream?{urlencode(params)}"


@router.get("/{source_id}/debugger")
async def debugger(
    source_id: str, ui: UiDep, type: str = "", event: str = "", status: str = ""
) -> Response:
    """Live events of one source, with filters by type, event name and status, and pause."""
    source = await find_source(ui, source_id)
    if source is None:
        return missing_page(ui, source_id)
    problems = []
    if type and type not in TYPES:
        problems.append(f"Unknown event type {type!r}; showing every type.")
        type = ""
    if status and status not in STATUSES:
        problems.append(f"Unknown status {status!r}; showing accepted and rejected events.")
        status = ""
    event = event.strip()[:200]
    return ui.page(
        "debugger.html",
        source=source,
        tab="debugger",
        types=TYPES,
        statuses=STATUSES,
        filters={"type": type, "event": event, "status": status},
        filtered=bool(type or event or status),
        names=await event_names(ui, source.id),
        stream=stream_url(source.id, type, event, status),
        problems=problems,
    )


picker = APIRouter(include_in_schema=False)


@picker.get("/debugger")
async def pick_source(ui: UiDep) -> Response:
    """The debugger entry: the sources of the current environment to pick from."""
    sources = await asyncio.to_thread(ui.runtime.control.list_sources, ui.user.workspace_id, ui.env)
    if len(sources) == 1:
        return redirect(f"/sources/{sources[0].id}/debugger")
    return ui.page("debugger_pick.html", sources=sources)
