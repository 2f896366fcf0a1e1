"""Connect dev destinations: choose a type, fill in its settings, test it with a real event.

As in Segment's "Choose a Destination": the use case's recommended types come first (each
with the adapters of that category; a type Shoal has no adapter for is shown disabled,
with why), then the other types. The settings form is built from the adapter's settings
model (secrets are password inputs). A connected destination's page sends a test event
through the destinations service and shows what the vendor answered.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from starlette.responses import Response

from shoal.control.repo import Conflict, NotFound
from shoal.destinations.base import DestinationFactory
from shoal.onboarding import SetupError
from shoal.web.ui.destination_forms import (
    answer_test,
    chosen_sources,
    find_factory,
    form_values,
    read_new,
    settings_form,
)
from shoal.web.ui.render import Ui, UiDep, redirect, text
from shoal.web.ui.setup import refused, step, view_of

router = APIRouter(prefix="/setup", include_in_schema=False)
BACK = "/setup/destinations"


@router.get("/destinations")
async def choose_type(ui: UiDep) -> Response:
    """Choose a destination: the recommended types first, then the others; or adopt one."""
    view = await view_of(ui)
    if view["status"] == "not_started":
        return redirect("/welcome")
    dest_step = step(view, "dev_destinations")
    connected = {d["id"] for d in dest_step["destinations"]}
    existing = await ui.runtime.destinations.list_destinations(ui.user, "dev")
    return ui.page(
        "setup/destinations.html",
        view=view,
        dest_step=dest_step,
        adoptable=[d for d in existing if d.id not in connected],
        sources=step(view, "dev_sources")["sources"],
    )


def _form_page(
    ui: Ui,
    view: dict[str, Any],
    factory: DestinationFactory,
    values: dict[str, Any],
    error: str | None = None,
) -> Response:
    return ui.page(
        "setup/destination_new.html",
        422 if error else 200,
        view=view,
        dest_step=step(view, "dev_destinations"),
        factory=factory,
        **settings_form(factory, values.get("settings", {})),
        dest_name=values.get("name", ""),
        chosen_sources=values.get("source_ids"),
        sources=step(view, "dev_sources")["sources"],
        error=error,
    )


@router.get("/destinations/new")
async def new_destination(ui: UiDep) -> Response:
    """Name the destination, fill in its settings and choose the dev sources to connect."""
    view = await view_of(ui)
    factory = find_factory(ui, ui.request.query_params.get("type", ""))
    if factory is None:
        return refused(ui, "Choose a destination type, then click Next.", BACK)
    return _form_page(ui, view, factory, {})


@router.post("/destinations")
async def create_destination(ui: UiDep) -> Response:
    """Create the dev destination (or adopt an existing one), connected to the sources."""
    form = await ui.form()
    source_ids = chosen_sources(form) or None
    adopt = text(form, "destination_id") or None
    factory = None if adopt else find_factory(ui, text(form, "type"))
    if adopt is None and factory is None:
        return refused(ui, "Choose a destination type, then click Next.", BACK)
    try:
        name, settings = read_new(factory, form) if factory else (None, None)
        _record, created = await ui.runtime.setup.connect_dev_destination(
            ui.user,
            type=factory.name if factory else None,
            name=name,
            settings=settings,
            destination_id=adopt,
            source_ids=source_ids,
        )
    except (SetupError, Conflict, NotFound, ValueError) as exc:
        message = exc.message if isinstance(exc, SetupError) else str(exc)
        if factory is None:
            return refused(ui, message, BACK)
        values = {**form_values(form), "source_ids": source_ids}
        return _form_page(ui, await view_of(ui), factory, values, message)
    ui.flash(f"Connected dev destination {created.name!r}.")
    return redirect(f"/setup/destinations/{created.id}")


async def _destination_page(
    ui: Ui, destination_id: str, test: dict[str, Any] | None = None
) -> Response:
    view = await view_of(ui)
    every = [
        *step(view, "dev_destinations")["destinations"],
        *step(view, "publish")["prod_destinations"],
    ]
    found = next((d for d in every if d["id"] == destination_id), None)
    if found is None:
        return ui.error(
            404,
            "Not a destination of this setup",
            f"Destination {destination_id} is not connected to the guided setup's sources.",
        )
    names = {s["id"]: s["name"] for s in step(view, "dev_sources")["sources"]}
    names.update({s["id"]: s["name"] for s in step(view, "publish")["prod_sources"]})
    metrics = await ui.runtime.destinations.metrics(ui.user, destination_id)
    return ui.page(
        "setup/destination.html",
        view=view,
        destination=found,
        source_names=[names.get(i, i) for i in found["source_ids"]],
        metrics=metrics,
        test=test,
    )


@router.get("/destinations/{destination_id}")
async def connected_destination(destination_id: str, ui: UiDep) -> Response:
    """A connected destination: its settings, sources, deliveries and a test button."""
    return await _destination_page(ui, destination_id)


@router.post("/destinations/{destination_id}/test")
async def test_destination(destination_id: str, ui: UiDep) -> Response:
    """Send a sample event now (mappings apply) and show each answer of the vendor."""
    await ui.form()
    return await answer_test(
        ui,
        destination_id,
        f"/setup/destinations/{destination_id}/test",
        lambda test: _destination_page(ui, destination_id, test),
    )
