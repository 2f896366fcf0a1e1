"""Destinations outside the guided setup: list per environment, add, configure, test.

Every change goes through ``runtime.destinations`` (``DestinationService``), the service the
Config API uses, so settings are validated, secrets sealed and unsafe URLs refused exactly
as ``/api/v1/destinations`` does. The settings form and the test answer are the ones the
guided setup shows (``destination_forms``). Deliveries, dead letters and replays are in
``deliveries``.
"""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter
from starlette.responses import Response

from shoal.control import Source
from shoal.control.repo import Conflict, NotFound
from shoal.destinations.base import DestinationFactory
from shoal.destinations.repo import Destination
from shoal.onboarding.destinations import describe
from shoal.web.ui.destination_forms import (
    answer_test,
    checked_name,
    chosen_sources,
    find_factory,
    form_values,
    read_changes,
    read_new,
    settings_form,
)
from shoal.web.ui.render import Ui, UiDep, missing, redirect, text

router = APIRouter(prefix="/destinations", include_in_schema=False)


async def find_destination(ui: Ui, destination_id: str) -> Destination | None:
    """The destination, or ``None`` when this workspace has no such destination."""
    try:
        return await ui.runtime.destinations.get(ui.user, destination_id)
    except NotFound:
        return None


def missing_page(ui: Ui, destination_id: str) -> Response:
    """The page for a destination that does not exist (any more)."""
    return missing(ui, "destination", destination_id)


def described(ui: Ui, destination: Destination) -> dict[str, Any]:
    """A destination as the pages show it: its configuration, never secret values."""
    service = ui.runtime.destinations
    secrets = sorted(service.box.open(destination.secrets))
    return describe(destination, service.types(), secrets)


async def sources_of(ui: Ui, environment: str) -> list[Source]:
    """The workspace's sources of one environment (those a destination there may get)."""
    return await asyncio.to_thread(
        ui.runtime.control.list_sources, ui.user.workspace_id, environment
    )


@router.get("")
async def list_destinations(ui: UiDep) -> Response:
    """The destinations of the current environment, with their delivery counts."""
    service = ui.runtime.destinations
    found = await service.list_destinations(ui.user, ui.env)
    rows = [(described(ui, d), await service.metrics(ui.user, d.id)) for d in found]
    return ui.page("destinations/list.html", rows=rows)


def _types_by_category(ui: Ui) -> dict[str, list[DestinationFactory]]:
    grouped: dict[str, list[DestinationFactory]] = {}
    for factory in sorted(ui.runtime.destinations.types(), key=lambda f: (f.category, f.title)):
        grouped.setdefault(factory.category, []).append(factory)
    return grouped


async def _new_page(
    ui: Ui,
    factory: DestinationFactory,
    values: dict[str, Any],
    error: str | None = None,
) -> Response:
    environment = values.get("environment") or ui.env
    return ui.page(
        "destinations/new.html",
        422 if error else 200,
        factory=factory,
        environment=environment,
        dest_name=values.get("name", ""),
        chosen_sources=values.get("source_ids"),
        sources=await sources_of(ui, environment),
        error=error,
        **settings_form(factory, values.get("settings", {})),
    )


@router.get("/new")
async def new_destination(ui: UiDep, type: str = "") -> Response:
    """Choose a destination type; with ``?type=``, its name, settings and sources."""
    if not type:
        return ui.page("destinations/choose.html", grouped=_types_by_category(ui))
    factory = find_factory(ui, type)
    if factory is None:
        return ui.page(
            "destinations/choose.html",
            422,
            grouped=_types_by_category(ui),
            error=f"Shoal has no destination type {type!r}. Choose one of the types below.",
        )
    return await _new_page(ui, factory, {})


@router.post("/new")
async def create_destination(ui: UiDep) -> Response:
    """Create the destination in the current environment, connected to the chosen sources."""
    form = await ui.form()
    factory = find_factory(ui, text(form, "type"))
    if factory is None:
        ui.flash("error:Choose a destination type, then fill in its settings.")
        return redirect("/destinations/new")
    values = {**form_values(form), "environment": ui.env}
    try:
        name, settings = read_new(factory, form)
        body = {"name": name, "type": factory.name, "environment": ui.env, "settings": settings}
        created = await ui.runtime.destinations.create(
            ui.user, {**body, "source_ids": chosen_sources(form)}
        )
    except (Conflict, NotFound, ValueError) as exc:
        return await _new_page(ui, factory, values, str(exc))
    ui.flash(f"Created {created.environment} destination {created.name!r}.")
    return redirect(f"/destinations/{created.id}")


async def detail_page(ui: Ui, destination: Destination, test: dict[str, Any] | None) -> Response:
    """A destination's overview: configuration, sources, metrics and the test button."""
    names = {s.id: s.name for s in await sources_of(ui, destination.environment)}
    return ui.page(
        "destinations/detail.html",
        destination=described(ui, destination),
        source_names=[names.get(i, i) for i in destination.source_ids],
        metrics=await ui.runtime.destinations.metrics(ui.user, destination.id),
        test=test,
        tab="overview",
    )


@router.get("/{destination_id}")
async def destination_detail(destination_id: str, ui: UiDep) -> Response:
    """A destination: its settings (secrets only as "set"), sources, delivery metrics."""
    destination = await find_destination(ui, destination_id)
    if destination is None:
        return missing_page(ui, destination_id)
    return await detail_page(ui, destination, None)


@router.post("/{destination_id}/test")
async def test_destination(destination_id: str, ui: UiDep) -> Response:
    """Send a sample event now and show each answer of the vendor on the page."""
    await ui.form()
    destination = await find_destination(ui, destination_id)
    if destination is None:
        return missing_page(ui, destination_id)
    return await answer_test(
        ui,
        destination_id,
        f"/destinations/{destination_id}/test",
        lambda test: detail_page(ui, destination, test),
    )


@router.post("/{destination_id}/enabled")
async def set_enabled(destination_id: str, ui: UiDep) -> Response:
    """Enable or disable delivery (htmx swaps the panel; without JS, a redirect)."""
    form = await ui.form()
    enabled = text(form, "enabled") == "true"
    try:
        destination = await ui.runtime.destinations.update(
            ui.user, destination_id, {"enabled": enabled}
        )
    except NotFound:
        return missing_page(ui, destination_id)
    message = (
        "Destination enabled: it receives events stored from now on."
        if enabled
        else "Destination disabled: nothing is delivered until you enable it."
    )
    if ui.htmx:
        return ui.page("destinations/_enabled.html", destination=destination, message=message)
    ui.flash(message)
    return redirect(f"/destinations/{destination_id}")


async def _settings_page(
    ui: Ui,
    destination: Destination,
    values: dict[str, Any] | None = None,
    error: str | None = None,
) -> Response:
    factory = ui.runtime.destinations.factory(destination.type)
    shown = described(ui, destination)
    values = values or {
        "name": destination.name,
        "settings": destination.settings,
        "source_ids": list(destination.source_ids),
    }
    return ui.page(
        "destinations/settings.html",
        422 if error else 200,
        destination=shown,
        factory=factory,
        dest_name=values["name"],
        environment=destination.environment,
        chosen_sources=values["source_ids"],
        sources=await sources_of(ui, destination.environment),
        error=error,
        tab="settings",
        **settings_form(factory, values["settings"], shown["secrets_set"], editing=True),
    )


@router.get("/{destination_id}/settings")
async def edit_settings(destination_id: str, ui: UiDep) -> Response:
    """The destination's name, settings and connected sources, to change."""
    destination = await find_destination(ui, destination_id)
    if destination is None:
        return missing_page(ui, destination_id)
    return await _settings_page(ui, destination)


@router.post("/{destination_id}/settings")
async def save_settings(destination_id: str, ui: UiDep) -> Response:
    """Save the settings (validated like the API), then connect and disconnect sources."""
    form = await ui.form()
    destination = await find_destination(ui, destination_id)
    if destination is None:
        return missing_page(ui, destination_id)
    service = ui.runtime.destinations
    factory = service.factory(destination.type)
    wanted = chosen_sources(form)
    try:
        name = checked_name(text(form, "name"))
        changes = {"name": name, "settings": read_changes(factory, form)}
        await service.update(ui.user, destination_id, changes)
        for source_id in set(wanted) - set(destination.source_ids):
            await service.connect(ui.user, destination_id, source_id)
        for source_id in set(destination.source_ids) - set(wanted):
            await service.disconnect(ui.user, destination_id, source_id)
    except (Conflict, NotFound, ValueError) as exc:
        current = await find_destination(ui, destination_id) or destination
        return await _settings_page(ui, current, form_values(form), str(exc))
    ui.flash("Settings saved; delivery continues with them.")
    return redirect(f"/destinations/{destination_id}")


@router.get("/{destination_id}/delete")
async def confirm_delete(destination_id: str, ui: UiDep) -> Response:
    """Ask before deleting."""
    destination = await find_destination(ui, destination_id)
    if destination is None:
        return missing_page(ui, destination_id)
    return ui.page("destinations/confirm_delete.html", destination=described(ui, destination))


@router.post("/{destination_id}/delete")
async def delete(destination_id: str, ui: UiDep) -> Response:
    """Delete the destination with its dead letters and delivery state."""
    await ui.form()
    destination = await find_destination(ui, destination_id)
    if destination is None:
        return missing_page(ui, destination_id)
    await ui.runtime.destinations.delete(ui.user, destination_id)
    ui.flash(f"Deleted destination {destination.name!r}.")
    return redirect(f"/destinations?env={destination.environment}")
