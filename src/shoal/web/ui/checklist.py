"""The Setup checklist (Dev and Prod tabs), connecting dev sources, publishing to prod,
and activating the data: default identifiers (Unify), an audience (Engage), republishing.

The checklist checks itself: per suggested event it shows what really arrived (from the
setup view's ``progress``) and refreshes that part every few seconds with htmx. Connecting
a source ends on the code to paste and a live "waiting for events..." that turns green
when the source's first event is stored. The Dev tab's **Add default identifiers** dialog
lists the default identifiers (priority, limit) with an **Add** button; its Engage card is
a form prefilled with the audience suggested for the use case (**Create audience**; a
refusal shows in the card, keeping what was typed) and lists the dev audiences with their
status and size. The Prod tab's **Import rules** and **Import audiences** lead to the
republish screen (the dev rules and audiences to import, prod's rules now, **Import**).
"""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter
from starlette.responses import Response

from shoal.control.repo import Conflict, NotFound
from shoal.onboarding import SetupError
from shoal.onboarding import capabilities as caps
from shoal.web.api.setup import snippets as setup_snippets
from shoal.web.ui.render import Ui, UiDep, redirect, text
from shoal.web.ui.setup import refused, step, view_of

router = APIRouter(prefix="/setup", include_in_schema=False)

LATER_STEPS = ("unify_identifiers", "engage_audience", "republish")


def _not_started(ui: Ui) -> Response:
    ui.flash("Start the guided setup by picking your business goal.")
    return redirect("/welcome")


async def _snippets_of(ui: Ui, source_id: str) -> list[dict[str, Any]]:
    """The setup's code to paste for one source: each suggested event, per SDK."""
    found = await setup_snippets(ui.request, ui.runtime, ui.user)
    return [item for item in found["items"] if item["source"]["id"] == source_id]


def _engage_values(view: dict[str, Any]) -> dict[str, str]:
    """What the Engage form starts with: the suggestion, without a name already taken."""
    suggestion = step(view, "engage_audience").get("suggestion")
    if not suggestion:
        return {"name": "", "definition": ""}
    name = "" if suggestion["exists"] else suggestion["name"]
    return {"name": name, "definition": suggestion["definition"]}


def _checklist_page(
    ui: Ui,
    view: dict[str, Any],
    *,
    status: int = 200,
    engage_error: str | None = None,
    engage_values: dict[str, str] | None = None,
) -> Response:
    steps = {s["id"]: s for s in view["steps"]}
    return ui.page(
        "setup/checklist.html",
        status,
        view=view,
        steps=steps,
        later=[steps[i] for i in LATER_STEPS],
        progress=view["progress"],
        engage_error=engage_error,
        engage_values=engage_values or _engage_values(view),
    )


@router.get("")
async def checklist(ui: UiDep) -> Response:
    """The Setup checklist, on the Dev or Prod environment tab."""
    view = await view_of(ui)
    if view["status"] == "not_started":
        return _not_started(ui)
    if view["use_case"] is None:
        return redirect("/setup/use-case")
    if step(view, "environments")["status"] != "done":
        return redirect("/setup/environments")
    return _checklist_page(ui, view)


@router.get("/progress")
async def progress(ui: UiDep) -> Response:
    """The per-event progress table of one environment (htmx refreshes it)."""
    view = await view_of(ui)
    return ui.page("setup/_progress.html", progress=view["progress"], view=view)


@router.get("/sources")
async def connect_sources(ui: UiDep) -> Response:
    """Connect dev sources: the recommended types, a new source, or an existing dev one."""
    view = await view_of(ui)
    if view["status"] == "not_started":
        return _not_started(ui)
    dev_step = step(view, "dev_sources")
    connected = {s["id"] for s in dev_step["sources"]}
    existing = await asyncio.to_thread(ui.runtime.control.list_sources, ui.user.workspace_id, "dev")
    return ui.page(
        "setup/sources.html",
        view=view,
        dev_step=dev_step,
        adoptable=[s for s in existing if s.id not in connected],
        extra_types=caps.EXTRA_SOURCE_TYPES,
        values={"type": "", "name": ""},
    )


@router.post("/sources")
async def connect_source(ui: UiDep) -> Response:
    """Create a dev source of the chosen type (or adopt one), then show its code."""
    form = await ui.form()
    source_id = text(form, "source_id") or None
    kind, name = text(form, "type"), text(form, "name")
    if source_id is None and (not kind or not name):
        return refused(ui, "Choose a source type and give the source a name.", "/setup/sources")
    try:
        _record, source = await asyncio.to_thread(
            ui.runtime.setup.connect_dev_source,
            ui.user,
            type=None if source_id else kind,
            name=None if source_id else name,
            source_id=source_id,
        )
    except SetupError as exc:
        return refused(ui, exc.message, "/setup/sources")
    except (Conflict, NotFound, ValueError) as exc:
        return refused(ui, str(exc), "/setup/sources")
    ui.flash(f"Connected dev source {source.name!r}.")
    return redirect(f"/setup/sources/{source.id}")


@router.get("/sources/{source_id}")
async def connected_source(source_id: str, ui: UiDep) -> Response:
    """A connected source: its write key, the code to paste, and live "waiting for events"."""
    view = await view_of(ui)
    every = [*step(view, "dev_sources")["sources"], *step(view, "publish")["prod_sources"]]
    source = next((s for s in every if s["id"] == source_id), None)
    if source is None:
        return ui.error(
            404,
            "Not a source of this setup",
            f"Source {source_id} is not connected to the guided setup. Connect it first.",
        )
    count = await ui.runtime.store.count(source_id)
    return ui.page(
        "setup/source_code.html",
        view=view,
        source=source,
        count=count,
        items=await _snippets_of(ui, source_id),
    )


@router.get("/publish")
async def publish_screen(ui: UiDep) -> Response:
    """Publish to prod: choose dev sources and destinations, then check prod events and
    mark complete."""
    view = await view_of(ui)
    if view["status"] == "not_started":
        return _not_started(ui)
    publish = step(view, "publish")
    published = {p["dev_source_id"] for p in publish["prod_sources"]}
    dev = step(view, "dev_sources")["sources"]
    counts = {
        p["id"]: await ui.runtime.store.count(p["id"], "accepted") for p in publish["prod_sources"]
    }
    delivered = {
        d["id"]: (await ui.runtime.destinations.metrics(ui.user, d["id"]))["delivered"]
        for d in publish["prod_destinations"]
    }
    waiting = set(publish["unpublished_destinations"])
    return ui.page(
        "setup/publish.html",
        view=view,
        publish=publish,
        unpublished=[s for s in dev if s["id"] not in published],
        unpublished_destinations=[
            d for d in step(view, "dev_destinations")["destinations"] if d["id"] in waiting
        ],
        counts=counts,
        delivered=delivered,
    )


@router.post("/publish")
async def publish(ui: UiDep) -> Response:
    """Create prod sources and destinations from the chosen dev ones."""
    form = await ui.form()
    chosen = [v for v in form.getlist("source_id") if isinstance(v, str) and v]
    destinations = [v for v in form.getlist("destination_id") if isinstance(v, str) and v]
    view = await view_of(ui)
    if not chosen and not destinations:
        return refused(ui, "Choose at least one dev source or destination.", "/setup/publish")
    # No source chosen: publish none (the ones already published stay as they are).
    chosen = chosen or [p["dev_source_id"] for p in step(view, "publish")["prod_sources"]]
    if not chosen:
        return refused(ui, "Choose at least one dev source to publish.", "/setup/publish")
    try:
        await ui.runtime.setup.publish(ui.user, chosen, destinations)
    except SetupError as exc:
        return refused(ui, exc.message, "/setup/publish")
    except (Conflict, NotFound, ValueError) as exc:
        return refused(ui, str(exc), "/setup/publish")
    ui.flash("Published to prod: send events with the prod write key, then check the debugger.")
    return redirect("/setup/publish?env=prod")


@router.post("/publish/complete")
async def complete(ui: UiDep) -> Response:
    """Mark publishing complete; refused until accepted events arrived from each prod source."""
    await ui.form()
    try:
        await ui.runtime.setup.complete_publish(ui.user)
    except SetupError as exc:
        return refused(ui, exc.message, "/setup/publish?env=prod")
    ui.flash("Your data is now in production: the setup is verified and complete.")
    return redirect("/setup?env=prod")


@router.post("/unify")
async def add_identifiers(ui: UiDep) -> Response:
    """The dialog's **Add**: add the default identifiers to dev; the step turns done."""
    await ui.form()
    try:
        await ui.runtime.setup.add_identifiers(ui.user)
    except SetupError as exc:
        return refused(ui, exc.message, "/setup?env=dev")
    view = await view_of(ui)
    count = len(step(view, "unify_identifiers")["identifiers"])
    ui.flash(f"Added the default identifiers: dev now resolves profiles with {count} identifiers.")
    return redirect("/setup?env=dev")


@router.post("/engage")
async def create_audience(ui: UiDep) -> Response:
    """**Create audience**: create the audience of the Engage form in dev. A refusal (a
    definition the parser rejects, a name taken, a step not ready) shows in the form, which
    keeps what was typed."""
    form = await ui.form()
    values = {"name": text(form, "name"), "definition": text(form, "definition")}
    try:
        # What was typed is passed as is: an emptied field is refused with why, rather
        # than quietly replaced by the suggestion.
        _record, audience = await ui.runtime.setup.create_audience(
            ui.user, ui.runtime.audiences, name=values["name"], definition=values["definition"]
        )
    except SetupError as exc:
        view = await view_of(ui)
        return _checklist_page(
            ui, view, status=exc.status, engage_error=exc.message, engage_values=values
        )
    ui.flash(
        f"Created audience {audience.name!r} in dev; it is being computed. Republish to "
        "import it into prod."
    )
    return redirect("/setup?env=dev")


@router.get("/republish")
async def republish_screen(ui: UiDep) -> Response:
    """Review the identity rules that will be imported from dev into prod."""
    view = await view_of(ui)
    if view["status"] == "not_started":
        ui.flash("Start the guided setup by picking your business goal.")
        return redirect("/welcome")
    republish = step(view, "republish")
    if not republish["available"]:
        return refused(ui, republish["message"], "/setup?env=prod")
    return ui.page(
        "setup/republish.html",
        view=view,
        republish=republish,
        unify=step(view, "unify_identifiers"),
        engage=step(view, "engage_audience"),
    )


def _republished_message(part: dict[str, Any]) -> str:
    """What republishing did with the audiences, in words."""
    if not part["available"]:
        reason: str = part["message"]
        return reason
    if not part["audiences"]:
        return "The dev space has no audiences to import."
    kept = part["already_in_prod"]
    left_alone = f", {kept} already in prod and left alone" if kept else ""
    return f"Prod has every dev audience ({part['imported']} imported by the setup{left_alone})."


@router.post("/republish")
async def republish(ui: UiDep) -> Response:
    """**Import**: copy the dev identity rules and audiences into prod, then back to the
    Prod tab."""
    await ui.form()
    try:
        await ui.runtime.setup.republish(ui.user, ui.runtime.audiences)
    except SetupError as exc:
        return refused(ui, exc.message, "/setup/republish")
    part = step(await view_of(ui), "republish")["audiences"]
    ui.flash(f"Imported the dev identity rules into prod. {_republished_message(part)}")
    return redirect("/setup?env=prod")
