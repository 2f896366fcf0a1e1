"""Audiences: the list of a space's audiences and an audience's page.

The page shows the definition, the cached result (status, size, when computed), **Refresh
now** with what it changed, the members a page at a time (linking to the profiles
explorer), the membership changes, the size over time as a chart drawn on the server, and
every version with its diff. Everything goes through ``runtime.audiences``
(``AudienceService``), as ``/api/v1/audiences`` does: an audience hidden from the signed-in
member is not listed, and its pages answer 404. The builder lives in ``audiences_editor``.
"""

from __future__ import annotations

import asyncio
import logging
import math
from typing import Any

from fastapi import APIRouter
from starlette.responses import Response

from shoal.audiences import model
from shoal.audiences.engine import describe, now_ms
from shoal.audiences.repo import Audience, Conflict, NotFound
from shoal.audiences.service import AudienceService
from shoal.web.ui import audiences_editor
from shoal.web.ui.audiences_editor import service_of, unavailable
from shoal.web.ui.render import Ui, UiDep, missing, redirect
from shoal.web.ui.times import utc

router = APIRouter(prefix="/audiences", include_in_schema=False)
# The builder's routes first: "/new" must not be read as an audience id.
router.include_router(audiences_editor.router)
log = logging.getLogger("shoal.web")
MEMBERS_PAGE = 25
CHANGES_SHOWN = 50
CHART_W, CHART_H = 600, 100


def refresh_policy(audience: Audience) -> str:
    """ "Real time" or "Every 4 h", as the list and the page say it."""
    if audience.refresh == "realtime":
        return "Real time"
    hours = audience.interval_s / 3600
    return f"Every {hours:g} h" if hours >= 1 else f"Every {audience.interval_s // 60} min"


def size_chart(sizes: list[dict[str, Any]], now_ms: int) -> dict[str, Any] | None:
    """The size over time as a step line in a ``CHART_W`` by ``CHART_H`` box: each size holds
    until the next measurement, the last until now. ``None`` before the first measurement."""
    if not sizes:
        return None
    start = int(sizes[0]["at"])
    end = max(now_ms, int(sizes[-1]["at"]))
    span = max(end - start, 1)
    largest = max(int(s["size"]) for s in sizes)
    top = largest + max(1, math.ceil(largest / 10))  # headroom: the line never sits on the edge

    def x(at: int) -> float:
        return round((at - start) / span * CHART_W, 2)

    def y(size: int) -> float:
        return round(CHART_H - size / top * CHART_H, 2)

    points = [{"x": x(s["at"]), "y": y(s["size"]), **s} for s in sizes]
    steps = [f"M {points[0]['x']} {points[0]['y']}"]
    for point in points[1:]:
        steps.append(f"H {point['x']} V {point['y']}")
    steps.append(f"H {CHART_W}")
    area = " ".join(steps) + f" V {CHART_H} H {points[0]['x']} Z"
    return {
        "line": " ".join(steps),
        "area": area,
        "points": points,
        "top": top,
        "first": utc(start),
        "last": utc(end),
        "width": CHART_W,
        "height": CHART_H,
    }


def diff_lines(diff: str) -> list[tuple[str, str]]:
    """A unified diff as ``(kind, line)``: ``add``, ``remove``, ``head`` or ``same``."""
    out = []
    for line in diff.splitlines():
        if line.startswith(("+++", "---", "@@")):
            out.append(("head", line))
        elif line.startswith("+"):
            out.append(("add", line))
        elif line.startswith("-"):
            out.append(("remove", line))
        else:
            out.append(("same", line))
    return out


@router.get("")
async def list_audiences(ui: UiDep) -> Response:
    """The audiences of the space the Dev/Prod switch shows, that this member may see."""
    service = service_of(ui)
    if service is None:
        return unavailable(ui)
    found = await asyncio.to_thread(service.visible, ui.user, ui.env)
    return ui.page("audiences/list.html", audiences=found, policy=refresh_policy)


async def _result(
    ui: Ui, service: AudienceService, audience: Audience, after: int | None
) -> dict[str, Any]:
    """The parts of the page a refresh changes: status, size, chart, members, changes."""
    members = await service.member_page(ui.user, audience.id, MEMBERS_PAGE, after)
    history = await service.history(ui.user, audience.id, CHANGES_SHOWN)
    return {
        "audience": audience,
        "members": members["members"],
        "next_cursor": members["cursor"]["next"],
        "paged": after is not None,
        "changes": history["changes"],
        "chart": size_chart(history["sizes"], now_ms()),
        "linkable": audience.collection in (model.USERS, model.ACCOUNTS),
        "policy": refresh_policy,
    }


async def _page(
    ui: Ui, service: AudienceService, audience: Audience, after: int | None = None,
    status: int = 200, **extra: Any,
) -> Response:  # fmt: skip
    versions = await asyncio.to_thread(service.versions, ui.user, audience.id)
    users = await asyncio.to_thread(ui.runtime.control.list_users, ui.user.workspace_id)
    includes = [
        a.key
        for a in await asyncio.to_thread(service.visible, ui.user, audience.environment)
        if audience.key in model.references(model.from_json(a.definition))
    ]
    return ui.page(
        "audiences/detail.html",
        status,
        versions=list(reversed(versions)),
        diff_lines=diff_lines,
        hidden_names=[u.name or u.email for u in users if u.id in audience.hidden_from],
        included_by=includes,
        env_next="/audiences",
        **await _result(ui, service, audience, after),
        **extra,
    )


async def _audience(ui: Ui, service: AudienceService, audience_id: str) -> Audience | None:
    try:
        return await asyncio.to_thread(service.get, ui.user, audience_id)
    except NotFound:
        return None


@router.get("/{audience_id}")
async def audience_page(audience_id: str, ui: UiDep, after: str = "") -> Response:
    """One audience: definition, cached result, members, changes, size over time, versions."""
    service = service_of(ui)
    if service is None:
        return unavailable(ui)
    audience = await _audience(ui, service, audience_id)
    if audience is None:
        return missing(ui, "audience", audience_id)
    # A member cursor is a profile number (BIGINT); anything else is a garbled link.
    cursor = int(after) if after.isdigit() and len(after) <= 19 and int(after) < 2**63 else None
    if after and cursor is None:
        ui.flash("error:That page of members does not exist; showing the first page.")
    return await _page(ui, service, audience, cursor)


@router.post("/{audience_id}/refresh")
async def refresh_audience(audience_id: str, ui: UiDep) -> Response:
    """**Refresh now**: recompute, then show who entered and exited (htmx swaps the result
    in place; without htmx the page is shown again with a notice)."""
    await ui.form()
    service = service_of(ui)
    if service is None:
        return unavailable(ui)
    audience = await _audience(ui, service, audience_id)
    if audience is None:
        return missing(ui, "audience", audience_id)
    outcome: dict[str, Any] | None = None
    failure = None
    try:
        outcome = describe(await service.refresh(ui.user, audience.id))
    except Exception as exc:  # stored on the audience too (status error); shown here in words
        log.warning("refresh of audience %s failed: %s", audience.id, exc)
        failure = str(exc) or type(exc).__name__
    audience = await _audience(ui, service, audience_id) or audience
    if not ui.htmx:
        if outcome is not None:
            done = f"+{outcome['entered']} entered, −{outcome['exited']} exited"  # noqa: RUF001
            ui.flash(f"Refreshed: {done}.")
        else:
            ui.flash(f"error:The refresh failed: {failure}")
        return redirect(f"/audiences/{audience.id}")
    context = await _result(ui, service, audience, None)
    return ui.page("audiences/_result.html", outcome=outcome, failure=failure, **context)


@router.post("/{audience_id}/delete")
async def delete_audience(audience_id: str, ui: UiDep) -> Response:
    """Delete an audience, refused while another audience includes it."""
    await ui.form()
    service = service_of(ui)
    if service is None:
        return unavailable(ui)
    audience = await _audience(ui, service, audience_id)
    if audience is None:
        return missing(ui, "audience", audience_id)
    try:
        await service.delete(ui.user, audience.id)
    except Conflict as exc:
        return await _page(ui, service, audience, status=409, delete_error=str(exc))
    ui.flash(f"Deleted audience {audience.name!r}.")
    return redirect("/audiences")
