"""Sources: list per environment, create, detail with write key and snippets, and changes."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter
from pydantic import ValidationError
from starlette.responses import Response

from shoal.catalog.snippets import Snippet, event_snippets
from shoal.control import Source
from shoal.control.repo import Conflict, NotFound
from shoal.web.api.sources import SourceIn
from shoal.web.ui.render import Ui, UiDep, missing, redirect, text

router = APIRouter(prefix="/sources", include_in_schema=False)

SOURCE_TYPES = {
    "website": "Website — analytics.js in the browser",
    "server": "Server — analytics-python, analytics-node and other server libraries",
    "mobile": "Mobile — analytics-swift (iOS) and analytics-kotlin (Android)",
    "http": "HTTP API — send JSON from anywhere with any HTTP client",
}


@dataclass(frozen=True, slots=True)
class _Property:
    name: str
    type: str | None


_EXAMPLE = (_Property("order_id", "string"), _Property("revenue", "number"))


def snippets_for(source: Source, base_url: str) -> list[Snippet]:
    """Code to paste for a source: an example track call per SDK that fits its type."""
    return event_snippets(
        "Order Completed",
        "track",
        _EXAMPLE,
        source_type=source.type,
        write_key=source.write_key,
        base_url=base_url,
    )


_FRIENDLY = {
    "name": "Give the source a name of 1 to 200 characters.",
    "type": "Choose what kind of source this is.",
    "environment": "Choose dev or prod.",
}


def form_errors(exc: ValidationError) -> dict[str, str]:
    """Validation errors by field name, in words a person reads."""
    found: dict[str, str] = {}
    for err in exc.errors():
        field = str(err["loc"][0]) if err["loc"] else "form"
        found.setdefault(field, _FRIENDLY.get(field, err["msg"].removeprefix("Value error, ")))
    return found


async def find_source(ui: Ui, source_id: str) -> Source | None:
    """The source, or ``None`` when this workspace has no such source."""
    try:
        return await asyncio.to_thread(
            ui.runtime.control.get_source, ui.user.workspace_id, source_id
        )
    except NotFound:
        return None


def missing_page(ui: Ui, source_id: str) -> Response:
    """The page for a source that does not exist (any more)."""
    return missing(ui, "source", source_id)


@router.get("")
async def list_sources(ui: UiDep) -> Response:
    """The sources of the current environment, with how many events each has received."""
    env = ui.env
    sources = await asyncio.to_thread(ui.runtime.control.list_sources, ui.user.workspace_id, env)
    counts = [await ui.runtime.store.count(s.id) for s in sources]
    return ui.page("sources/list.html", rows=list(zip(sources, counts, strict=True)))


@router.get("/new")
async def new_source(ui: UiDep, type: str = "") -> Response:
    """The form for a new source; the environment defaults to the one shown."""
    values = {"name": "", "type": type if type in SOURCE_TYPES else "", "environment": ui.env}
    return ui.page("sources/new.html", types=SOURCE_TYPES, values=values, errors={})


@router.post("/new")
async def create_source(ui: UiDep) -> Response:
    """Create the source and open it, or show the form again with what to fix."""
    form = await ui.form()
    values = {k: text(form, k) for k in ("name", "type", "environment")}
    errors: dict[str, str] = {}
    try:
        body = SourceIn.model_validate(values)
    except ValidationError as exc:
        errors = form_errors(exc)
    else:
        try:
            source = await asyncio.to_thread(
                ui.runtime.control.create_source,
                ui.user.workspace_id,
                body.name,
                body.type,
                body.environment,
            )
        except Conflict as exc:
            errors = {"name": str(exc)}
        else:
            ui.flash(f"Created {source.environment} source {source.name!r}.")
            return redirect(f"/sources/{source.id}?env={source.environment}")
    return ui.page("sources/new.html", 422, types=SOURCE_TYPES, values=values, errors=errors)


@router.get("/{source_id}")
async def source_detail(source_id: str, ui: UiDep) -> Response:
    """A source: its write key, the code to paste, its settings."""
    source = await find_source(ui, source_id)
    if source is None:
        return missing_page(ui, source_id)
    count = await ui.runtime.store.count(source.id)
    rejected = await ui.runtime.store.count(source.id, "rejected")
    return ui.page(
        "sources/detail.html",
        source=source,
        count=count,
        rejected=rejected,
        snippets=snippets_for(source, ui.base_url),
        base_url=ui.base_url,
        tab="overview",
    )


@router.post("/{source_id}/enabled")
async def set_enabled(source_id: str, ui: UiDep) -> Response:
    """Enable or disable a source (htmx swaps the status panel; without JS, a redirect)."""
    form = await ui.form()
    enabled = text(form, "enabled") == "true"
    try:
        source = await asyncio.to_thread(
            ui.runtime.control.update_source,
            ui.user.workspace_id,
            source_id,
            enabled=enabled,
        )
    except NotFound:
        return missing_page(ui, source_id)
    message = (
        "Source enabled: it accepts events again."
        if enabled
        else ("Source disabled: its write key is refused until you enable it.")
    )
    if ui.htmx:
        return ui.page("sources/_enabled.html", source=source, message=message)
    ui.flash(message)
    return redirect(f"/sources/{source.id}")


def _confirm(ui: Ui, source: Source, action: str) -> Response:
    texts: dict[str, Any] = {
        "rotate": {
            "title": f"Rotate the write key of {source.name}?",
            "body": "A new write key is issued and the current one is refused from now on. "
            "Update every app that sends with it.",
            "button": "Rotate write key",
            "danger": False,
        },
        "delete": {
            "title": f"Delete {source.name}?",
            "body": "Its write key stops working at once. Events it already sent stay "
            "stored. This cannot be undone.",
            "button": "Delete source",
            "danger": True,
        },
    }
    return ui.page("sources/confirm.html", source=source, action=action, **texts[action])


@router.get("/{source_id}/rotate")
async def confirm_rotate(source_id: str, ui: UiDep) -> Response:
    """Ask before rotating the write key."""
    source = await find_source(ui, source_id)
    return missing_page(ui, source_id) if source is None else _confirm(ui, source, "rotate")


@router.post("/{source_id}/rotate")
async def rotate(source_id: str, ui: UiDep) -> Response:
    """Issue a new write key."""
    await ui.form()
    try:
        await asyncio.to_thread(
            ui.runtime.control.rotate_write_key, ui.user.workspace_id, source_id
        )
    except NotFound:
        return missing_page(ui, source_id)
    ui.flash("New write key issued; the old one is refused from now on.")
    return redirect(f"/sources/{source_id}")


@router.get("/{source_id}/delete")
async def confirm_delete(source_id: str, ui: UiDep) -> Response:
    """Ask before deleting."""
    source = await find_source(ui, source_id)
    return missing_page(ui, source_id) if source is None else _confirm(ui, source, "delete")


@router.post("/{source_id}/delete")
async def delete(source_id: str, ui: UiDep) -> Response:
    """Delete the source."""
    await ui.form()
    source = await find_source(ui, source_id)
    if source is None:
        return missing_page(ui, source_id)
    await asyncio.to_thread(ui.runtime.control.delete_source, ui.user.workspace_id, source_id)
    ui.flash(f"Deleted source {source.name!r}.")
    return redirect(f"/sources?env={source.environment}")
